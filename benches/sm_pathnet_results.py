#!/usr/bin/env python3
"""Safe-mutation PathNet results over seeds: SM-G operators against the Gaussian control on
pathway weights, and transfer against scratch, with two-sided Mann-Whitney rank tests.

Runs the release binary on a spec (default examples/sm_pathnet_fashion.toml) once per seed
and operator, in this process (`--agents 0`, so each run is a pure function of its seed), and
prints a markdown table of each arm's best fitness (median, mean, per seed) and the tests.

    cargo build --release -p pathnet
    python3 benches/sm_pathnet_results.py [SEEDS] [SPEC] [OPERATORS]

e.g. `python3 benches/sm_pathnet_results.py 10 examples/sm_pathnet_fashion.toml control,sm_g_sum`.
Standard library only: the U test uses the normal approximation with tie correction.
"""
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile

BIN = os.environ.get("PATHNET_BIN", "target/release/pathnet")


def mann_whitney(a, b):
    """Two-sided Mann-Whitney U test: (U of a, p), normal approximation, tie-corrected."""
    values = sorted((v, i) for i, v in enumerate(a + b))
    ranks = [0.0] * len(values)
    ties = 0.0
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1][0] == values[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[values[k][1]] = (i + j) / 2 + 1
        t = j - i + 1
        ties += t**3 - t
        i = j + 1
    n1, n2 = len(a), len(b)
    u = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    n = n1 + n2
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:
        return u, 1.0
    z = (abs(u - n1 * n2 / 2) - 0.5) / math.sqrt(var)
    return u, min(1.0, math.erfc(max(z, 0) / math.sqrt(2)))


def run(spec_text, seed, operator):
    text = re.sub(r"(?m)^seed = .*$", f"seed = {seed}", spec_text)
    text = re.sub(r'(?m)^operator = .*$', f'operator = "{operator}"', text)
    with tempfile.TemporaryDirectory() as d:
        spec, out = os.path.join(d, "spec.toml"), os.path.join(d, "s.json")
        open(spec, "w").write(text)
        subprocess.run([BIN, "run", spec, "--summary-json", out], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return {t["label"]: t["best_fitness"] for t in json.load(open(out))["tasks"]}


def main():
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    spec_text = open(sys.argv[2] if len(sys.argv) > 2 else "examples/sm_pathnet_fashion.toml").read()
    operators = (sys.argv[3] if len(sys.argv) > 3 else "control,sm_g_sum").split(",")
    results = {op: [run(spec_text, s, op) for s in range(1, seeds + 1)] for op in operators}
    labels = list(results[operators[0]][0])
    print(f"{seeds} seeds (1..{seeds}); best fitness per task and arm\n")
    print("| operator | arm | median | mean | per seed |")
    print("|---|---|---|---|---|")
    for op in operators:
        for label in labels:
            v = [r[label] for r in results[op]]
            print(f"| {op} | {label} | {statistics.median(v):.3f} | {statistics.mean(v):.3f} | "
                  + ", ".join(f"{x:.3f}" for x in v) + " |")
    print("\n| comparison | arm | U | p (two-sided) |")
    print("|---|---|---|---|")
    base = operators[0]
    for op in operators[1:]:
        for label in labels:
            a = [r[label] for r in results[op]]
            b = [r[label] for r in results[base]]
            u, p = mann_whitney(a, b)
            print(f"| {op} vs {base} | {label} | {u:.1f} | {p:.3f} |")
    transfer = [l for l in labels if l.endswith("/transfer")]
    for op in operators:
        for t in transfer:
            s = t[: -len("/transfer")] + "/scratch"
            if s in labels:
                a = [r[t] for r in results[op]]
                b = [r[s] for r in results[op]]
                u, p = mann_whitney(a, b)
                print(f"| transfer vs scratch ({op}) | {t[: -len('/transfer')]} | {u:.1f} | {p:.3f} |")


if __name__ == "__main__":
    main()
