"""PyTorch (CPU, float32) reference timings for bench/src/bin/model_bench.rs.

Builds the same networks as the Rust benchmark and times one training step each (forward,
cross-entropy loss, backward) after a warm-up, printing the medians as JSON on stdout. The
input does not require a gradient, as in training, so autograd skips the first layer's input
gradient exactly as the Rust side does.
"""

import argparse
import json
import statistics
import time

import torch
from torch import nn


class SumOfModules(nn.Module):
    """A PathNet layer: the sum of several Linear + ReLU modules on the same input."""

    def __init__(self, inputs, width, count):
        super().__init__()
        self.mods = nn.ModuleList(
            nn.Sequential(nn.Linear(inputs, width), nn.ReLU()) for _ in range(count)
        )

    def forward(self, x):
        return sum(m(x) for m in self.mods)


def a3c_conv():
    net = nn.Sequential(
        nn.Conv2d(4, 16, 8, stride=4),
        nn.ReLU(),
        nn.Conv2d(16, 32, 4, stride=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 9 * 9, 256),
        nn.ReLU(),
        nn.Linear(256, 6),
    )
    return net, torch.rand(32, 4, 84, 84), 6


def pathway_mlp():
    net = nn.Sequential(
        SumOfModules(784, 20, 3),
        SumOfModules(20, 20, 3),
        SumOfModules(20, 20, 3),
        nn.Linear(20, 2),
    )
    return net, torch.rand(16, 784), 2


def time_step(net, x, classes, warmup, runs, gen):
    targets = torch.randint(0, classes, (x.shape[0],), generator=gen)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        for p in net.parameters():
            p.grad = None
        loss_fn(net(x), targets).backward()

    for _ in range(warmup):
        step()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        samples.append((time.perf_counter() - start) * 1e3)
    return {
        "median_ms": statistics.median(samples),
        "min_ms": min(samples),
        "max_ms": max(samples),
        "runs": runs,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    models = {}
    for name, build in [("a3c_conv", a3c_conv), ("pathway_mlp", pathway_mlp)]:
        net, x, classes = build()
        models[name] = time_step(net, x, classes, args.warmup, args.runs, gen)
    print(
        json.dumps(
            {
                "torch_version": torch.__version__,
                "threads": torch.get_num_threads(),
                "mkldnn": torch.backends.mkldnn.is_available(),
                "models": models,
            }
        )
    )


if __name__ == "__main__":
    main()
