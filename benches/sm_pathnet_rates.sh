#!/usr/bin/env bash
# Evaluations/s and bytes per evaluation of a safe-mutation PathNet run in process and over 1
# and 2 agents on loopback, configurations alternating within each round.
#
#   cargo build --release -p pathnet
#   benches/sm_pathnet_rates.sh [ROUNDS] [SPEC]
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
    python3 - "$out/s.json" "$round" "$agents" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print("\t".join(str(x) for x in [sys.argv[2], sys.argv[3], s["evaluations"], round(s["seconds"], 2),
      round(s["evaluations_per_second"], 1), round(s["genome_bytes_mean"], 1),
      round(s["payload_bytes_mean"], 1), s["pathway_weight_bytes"]]))
PY
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
