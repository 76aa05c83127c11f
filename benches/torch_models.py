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


class PathNet(nn.Module):
    """Shaped as the super-network of `pathnet_nn::pathnet::build::linear` (its initialisation
    does not matter for timing): `layers` layers of `modules` Linear(->units) + ReLU modules,
    then one Linear(units->classes) head per task."""

    def __init__(self, layers, modules, units, inputs, head_classes):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList(nn.Linear(inputs if layer == 0 else units, units) for _ in range(modules))
            for layer in range(layers)
        )
        self.heads = nn.ModuleList(nn.Linear(units, c) for c in head_classes)


class Pathway(nn.Module):
    """One pathway of a PathNet: each layer sums the ReLU outputs of its active modules. It
    holds only the active modules and the task's head (shared with the super-network), so
    `parameters()` are exactly what a training step computes gradients for."""

    def __init__(self, net, active, task):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList(net.layers[layer][m] for m in indices)
            for layer, indices in enumerate(active)
        )
        self.head = net.heads[task]

    def forward(self, x):
        for layer in self.layers:
            x = sum(torch.relu(m(x)) for m in layer)
        return self.head(x)


def parse_pathway(text):
    """`0,3,7/1,2,5/9,4,8` -> [[0, 3, 7], [1, 2, 5], [9, 4, 8]]"""
    return [[int(i) for i in layer.split(",")] for layer in text.split("/")]


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


def pathnet_pathway(active):
    """L=3 layers of M=10 20-unit modules on 784 inputs, a 2-class head, and the pathway
    `active` (the active module indices of each layer) through them."""
    net = PathNet(layers=3, modules=10, units=20, inputs=784, head_classes=[2])
    return Pathway(net, active, task=0), torch.rand(16, 784), 2


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
    parser.add_argument(
        "--pathway",
        type=parse_pathway,
        default="0,1,2/0,1,2/0,1,2",
        help="active modules per layer, as model_bench passes them: 0,3,7/1,2,5/9,4,8",
    )
    args = parser.parse_args()
    if len(args.pathway) != 3 or any(
        len(set(layer)) != len(layer) or not all(0 <= i < 10 for i in layer) or not layer
        for layer in args.pathway
    ):
        parser.error(f"--pathway needs 3 layers of distinct indices in 0..10, got {args.pathway}")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    models = {}
    builds = [("a3c_conv", a3c_conv), ("pathnet_pathway", lambda: pathnet_pathway(args.pathway))]
    for name, build in builds:
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
