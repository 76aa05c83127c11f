"""Python Gymnasium reference timings for bench/src/bin/env_bench.rs.

Steps CartPole-v1 as `gymnasium.make` returns it (TimeLimit and the other default wrappers),
and its bare environment, with the same scheme as the Rust side: a pre-drawn sequence of random
actions, resetting whenever an episode ends. Prints the median steps per second as JSON.
"""

import argparse
import json
import platform
import statistics
import time

import gymnasium
import numpy as np


def time_env(env, actions, warmup, runs):
    def one_run():
        env.reset(seed=0)
        start = time.perf_counter()
        for a in actions:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()
        return time.perf_counter() - start

    for _ in range(warmup):
        one_run()
    seconds = [one_run() for _ in range(runs)]
    median = statistics.median(seconds)
    return {
        "median_s": median,
        "min_s": min(seconds),
        "max_s": max(seconds),
        "runs": runs,
        "steps_per_s": len(actions) / median,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    # Plain Python ints, as an agent would pass them.
    actions = np.random.default_rng(args.seed).integers(0, 2, args.steps).tolist()
    made = gymnasium.make("CartPole-v1")
    bare = gymnasium.make("CartPole-v1").unwrapped
    result = {
        "gymnasium": gymnasium.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "steps": args.steps,
        "make": time_env(made, actions, args.warmup, args.runs),
        "unwrapped": time_env(bare, actions, args.warmup, args.runs),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
