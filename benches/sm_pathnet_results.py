#!/usr/bin/env python3
"""Safe-mutation PathNet results over seeds: SM-G operators against the Gaussian control on
pathway weights, and transfer against scratch, with two-sided Mann-Whitney rank tests.

Runs the release binary on a spec (default examples/sm_pathnet_fashion.toml) once per seed
and operator, in this process (`--agents 0`, so each run is a pure function of its seed), and
prints a markdown table of each arm's best fitness (median, mean, per seed) and the tests.

    cargo build --release -p pathnet
    python3 benches/sm_pathnet_results.py [SEEDS] [SPEC] [OPERATORS] [SIGMA]

e.g. `python3 benches/sm_pathnet_results.py 10 examples/sm_pathnet_fashion.toml control,sm_g_sum`.
SIGMA replaces the spec's `sigma` for every operator. Each arm gets its median with the
distribution-free 95% interval (order statistics; at 10 seeds the 2nd and 9th values, 97.9%
coverage), and, where the summary has it, the best genome's held-out test accuracy.
With SM_PATHNET_JSON=FILE the per-seed numbers are also written to FILE (gzipped if it ends
in .gz). Standard library only: the U test uses the normal approximation with tie correction.
"""
import gzip
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


def median_ci(values, level=0.95):
    """Median and the order-statistic interval [x_(k), x_(n+1-k)] with the largest k whose
    coverage 1 - 2 P(Bin(n, 1/2) < k) is at least `level`; (median, None, None) if none."""
    v = sorted(values)
    n = len(v)
    alpha = (1 - level) / 2
    k_best = None
    for k in range(1, (n + 1) // 2 + 1):
        if sum(math.comb(n, i) for i in range(k)) / 2**n <= alpha:
            k_best = k
        else:
            break
    if k_best is None:
        return statistics.median(v), None, None
    return statistics.median(v), v[k_best - 1], v[n - k_best]


def run(spec_text, seed, operator, sigma=None):
    text = re.sub(r"(?m)^seed = .*$", f"seed = {seed}", spec_text)
    text = re.sub(r'(?m)^operator = .*$', f'operator = "{operator}"', text)
    if sigma is not None:
        text = re.sub(r"(?m)^sigma = .*$", f"sigma = {sigma}", text)
    with tempfile.TemporaryDirectory() as d:
        spec, out = os.path.join(d, "spec.toml"), os.path.join(d, "s.json")
        open(spec, "w").write(text)
        subprocess.run([BIN, "run", spec, "--summary-json", out], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return {t["label"]: {"best": t["best_fitness"], "test": t.get("test_accuracy")}
                for t in json.load(open(out))["tasks"]}


def fmt_ci(values):
    m, lo, hi = median_ci(values)
    return f"{m:.3f} [{lo:.3f}, {hi:.3f}]" if lo is not None else f"{m:.3f}"


def fmt_p(p):
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def main():
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    spec_text = open(sys.argv[2] if len(sys.argv) > 2 else "examples/sm_pathnet_fashion.toml").read()
    operators = (sys.argv[3] if len(sys.argv) > 3 else "control,sm_g_sum").split(",")
    sigma = float(sys.argv[4]) if len(sys.argv) > 4 else None
    results = {op: [run(spec_text, s, op, sigma) for s in range(1, seeds + 1)] for op in operators}
    labels = list(results[operators[0]][0])
    measures = [("best", "best fitness (evaluation batch)")]
    if all(r[l]["test"] is not None for op in operators for r in results[op] for l in labels):
        measures.append(("test", "held-out test accuracy of the best genome"))
    if os.environ.get("SM_PATHNET_JSON"):
        path = os.environ["SM_PATHNET_JSON"]
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "wt") as f:
            json.dump({"seeds": list(range(1, seeds + 1)), "sigma": sigma,
                       "results": results}, f)
    print(f"{seeds} seeds (1..{seeds}); sigma {sigma if sigma is not None else 'as in the spec'}")
    for key, title in measures:
        print(f"\n{title}: median [95% CI], mean, per seed\n")
        print("| operator | arm | median [95% CI] | mean | per seed |")
        print("|---|---|---|---|---|")
        for op in operators:
            for label in labels:
                v = [r[label][key] for r in results[op]]
                print(f"| {op} | {label} | {fmt_ci(v)} | {statistics.mean(v):.3f} | "
                      + ", ".join(f"{x:.3f}" for x in v) + " |")
        print(f"\n{title}: two-sided Mann-Whitney\n")
        print("| comparison | arm | U | p (two-sided) |")
        print("|---|---|---|---|")
        base = operators[0]
        for op in operators[1:]:
            for label in labels:
                a = [r[label][key] for r in results[op]]
                b = [r[label][key] for r in results[base]]
                u, p = mann_whitney(a, b)
                print(f"| {op} vs {base} | {label} | {u:.1f} | {fmt_p(p)} |")
        transfer = [l for l in labels if l.endswith("/transfer")]
        for op in operators:
            for t in transfer:
                sc = t[: -len("/transfer")] + "/scratch"
                if sc in labels:
                    a = [r[t][key] for r in results[op]]
                    b = [r[sc][key] for r in results[op]]
                    u, p = mann_whitney(a, b)
                    print(f"| transfer vs scratch ({op}) | {t[: -len('/transfer')]} | "
                          f"{u:.1f} | {fmt_p(p)} |")


if __name__ == "__main__":
    main()
