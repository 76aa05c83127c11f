"""Runs cases through the real Gymnasium and prints what happened, for the Rust reference tests.

Reads one JSON object from stdin:
    {"cases": [{"env": "CartPole-v1", "state": [...], "actions": [...], "stop_on_done": true}, ...]}
For each case it makes the environment as `gymnasium.make` does (TimeLimit included), resets it,
assigns `env.unwrapped.state`, applies the actions and records every step. Prints one JSON object:
    {"gymnasium": "1.4.0", "results": [[{"obs", "reward", "terminated", "truncated", "state"}, ...]]}
where "state" holds the internal float64 state after the step as big-endian hex bit patterns, so
the caller can read it back exactly.
"""

import json
import logging
import struct
import sys
import warnings

import gymnasium as gym
import numpy as np

EXPECTED_VERSION = "1.4.0"


def bits(x):
    return struct.pack(">d", float(x)).hex()


def to_action(env, a):
    if isinstance(env.action_space, gym.spaces.Discrete):
        return int(a)
    # Gymnasium's continuous action spaces are float32; the dynamics depend on that.
    return np.array([a], dtype=np.float32)


def run_case(env, case):
    env.reset(seed=0)
    env.unwrapped.state = np.array(case["state"], dtype=np.float64)
    steps = []
    for a in case["actions"]:
        obs, reward, terminated, truncated, _ = env.step(to_action(env, a))
        steps.append(
            {
                "obs": [float(v) for v in obs],
                "reward": float(reward),
                "terminated": bool(terminated),
                "truncated": bool(truncated),
                "state": [bits(v) for v in env.unwrapped.state],
            }
        )
        if case.get("stop_on_done", True) and (terminated or truncated):
            break
    return steps


def main():
    if gym.__version__ != EXPECTED_VERSION:
        sys.exit(f"gymnasium {gym.__version__} found, the reference is {EXPECTED_VERSION}")
    # Out-of-bounds states and stepping past termination are deliberate here.
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    gym.logger.min_level = 50
    request = json.load(sys.stdin)
    envs = {}
    results = []
    for case in request["cases"]:
        name = case["env"]
        if name not in envs:
            envs[name] = gym.make(name)
        results.append(run_case(envs[name], case))
    json.dump({"gymnasium": gym.__version__, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
