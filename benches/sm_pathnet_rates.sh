#!/usr/bin/env bash
# Evaluations/s and bytes per evaluation of a safe-mutation PathNet run in process and over 1
# and 2 agents on loopback, configurations alternating within each round.
#
#   cargo build --release -p pathnet
#   benches/sm_pathnet_rates.sh [ROUNDS] [SPEC]
#   NUMPY_PYTHON=python3 benches/sm_pathnet_rates.sh 3 benches/sm_pathnet_fashion_bench.toml
#
# With NUMPY_PYTHON set (a python with numpy), each round also runs the numpy deep GA of
# benches/sm_pathnet_numpy_ga.py over the same network and task (agents "numpy"; its bytes are
# one genome's weights). Medians over the rounds close the table.
#
# Prints one line per run: round, agents, evaluations, seconds, evaluations/s, mean genome
# bytes, mean payload bytes, pathway weight bytes. Seconds run from the experiment's start
# to its last result, so a distributed run includes its agents' start and connection.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
spec=${2:-benches/sm_pathnet_bench.toml}
bin=${PATHNET_BIN:-target/release/pathnet}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' round agents evaluations seconds eval_per_s genome_bytes payload_bytes weight_bytes
for round in $(seq 1 "$rounds"); do
  for agents in 0 1 2; do
    "$bin" run "$spec" --agents "$agents" --summary-json "$out/s.json" >/dev/null 2>&1
    python3 - "$out/s.json" "$round" "$agents" <<'PY' | tee -a "$out/rows"
import json, sys
s = json.load(open(sys.argv[1]))
print("\t".join(str(x) for x in [sys.argv[2], sys.argv[3], s["evaluations"], round(s["seconds"], 2),
      round(s["evaluations_per_second"], 1), round(s["genome_bytes_mean"], 1),
      round(s["payload_bytes_mean"], 1), s["pathway_weight_bytes"]]))
PY
  done
  if [ -n "${NUMPY_PYTHON:-}" ]; then
    "$NUMPY_PYTHON" benches/sm_pathnet_numpy_ga.py 900 | awk -v r="$round" -F'\t' \
      '{ printf "%s\tnumpy\t%s\t%s\t%s\t%s\t%s\t%s\n", r, $1, $2, $3, $5, $5, $5 }' | tee -a "$out/rows"
  fi
done
python3 - "$out/rows" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
for who in dict.fromkeys(r[1] for r in rows):
    rates = [float(r[4]) for r in rows if r[1] == who]
    print(f"median\t{who}\t{len(rates)} rounds\t{statistics.median(rates):.1f} evaluations/s")
PY
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
