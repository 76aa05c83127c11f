"""PyTorch (CPU, float32) reference for bench/src/bin/runtime_bench.rs.

Runs the same supervised PathNet as `pathnet run` in one process and reports pathway
evaluations per second as JSON on stdout. Same algorithm and sizes: L layers of M modules
(`Linear(->units) + ReLU`, He-uniform weights, zero biases), a pathway sums its N active
modules per layer, one `Linear(units->2)` head per task (Xavier-uniform); an evaluation
trains the pathway for T minibatches of plain SGD on cross-entropy, touching only its active
modules and its head, and scores it by minus the fraction of those minibatches' examples it
misclassified before each update. Evolution is the paper's binary tournament: the winner's
genotype overwrites the loser's, each index mutated with probability 1/(N*L) by an offset
uniform in [-2, 2] (wrapping, redrawn when it lands on a module already active in the layer).

Being one process, it trains the shared parameters in place: none of the coordinator's
bookkeeping (deltas, versions, leases) that the Rust runs pay for. Only the evolution loop is
timed; loading the data and building the network are reported apart.
"""

import argparse
import gzip
import json
import random
import struct
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn


def read_idx(path):
    """An IDX file (optionally gzipped) as a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    _, dtype, ndim = struct.unpack(">HBB", data[:4])
    if dtype != 0x08:
        raise ValueError(f"{path}: element type {dtype:#x}, expected unsigned bytes (0x08)")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def find(data_dir, stem):
    for name in (stem, stem + ".gz"):
        if (data_dir / name).exists():
            return data_dir / name
    raise FileNotFoundError(f"{stem}[.gz] not found in {data_dir}")


def load_pair(data_dir, classes):
    """The training examples of two classes; the first class becomes label 0."""
    images = read_idx(find(data_dir, "train-images-idx3-ubyte"))
    labels = read_idx(find(data_dir, "train-labels-idx1-ubyte"))
    keep = (labels == classes[0]) | (labels == classes[1])
    inputs = torch.from_numpy(images[keep].reshape(int(keep.sum()), -1).astype(np.float32) / 255.0)
    targets = torch.from_numpy((labels[keep] == classes[1]).astype(np.int64))
    return inputs, targets


class PathNet(nn.Module):
    def __init__(self, layers, modules, units, inputs, head_classes):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList(nn.Linear(inputs if layer == 0 else units, units) for _ in range(modules))
            for layer in range(layers)
        )
        self.heads = nn.ModuleList(nn.Linear(units, c) for c in head_classes)
        with torch.no_grad():
            for layer in self.layers:
                for module in layer:
                    nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")
                    module.bias.zero_()
            for head in self.heads:
                nn.init.xavier_uniform_(head.weight)
                head.bias.zero_()

    def forward(self, pathway, task, x):
        for layer, active in zip(self.layers, pathway):
            x = sum(torch.relu(layer[m](x)) for m in active)
        return self.heads[task](x)


def evaluate(net, optimizer, pathway, task, inputs, targets, args, gen):
    """Trains `pathway` for T minibatches; returns its fitness."""
    n = args.minibatches * args.batch
    # T batches drawn without replacement from a fresh permutation, as the Rust sampler does.
    order = torch.randperm(len(targets), generator=gen)[:n]
    xs = inputs[order].view(args.minibatches, args.batch, -1)
    ys = targets[order].view(args.minibatches, args.batch)
    wrong = 0
    for x, y in zip(xs, ys):
        # Gradients set to None are skipped by SGD: only the pathway and its head move.
        optimizer.zero_grad(set_to_none=True)
        logits = net(pathway, task, x)
        wrong += int((logits.argmax(dim=1) != y).sum())
        nn.functional.cross_entropy(logits, y).backward()
        optimizer.step()
    return -wrong / n


def mutate(pathway, modules, rate, rng):
    child = [list(layer) for layer in pathway]
    for layer in child:
        for position, index in enumerate(layer):
            if rng.random() >= rate:
                continue
            while True:
                to = (index + rng.randint(-2, 2)) % modules
                if all(other == position or layer[other] != to for other in range(len(layer))):
                    break
            layer[position] = to
    return child


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--classes", type=int, nargs=2, default=[0, 6])
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--modules", type=int, default=10)
    parser.add_argument("--active", type=int, default=3)
    parser.add_argument("--units", type=int, default=20)
    parser.add_argument("--population", type=int, default=64)
    parser.add_argument("--minibatches", type=int, default=50)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--threshold", type=float, default=1.0)
    parser.add_argument("--generations", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.population < 2 or args.generations < 1 or args.active > args.modules:
        parser.error("need --population >= 2, --generations >= 1 and --active <= --modules")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    rng = random.Random(args.seed)

    start = time.perf_counter()
    inputs, targets = load_pair(args.data_dir, args.classes)
    net = PathNet(args.layers, args.modules, args.units, inputs.shape[1], [2])
    optimizer = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.0)
    population = [
        [rng.sample(range(args.modules), args.active) for _ in range(args.layers)]
        for _ in range(args.population)
    ]
    setup_seconds = time.perf_counter() - start

    rate = 1.0 / (args.active * args.layers)
    evaluations, generations, best, reached = 0, 0, -1.0, False
    start = time.perf_counter()
    while generations < args.generations and not reached:
        a, b = rng.sample(range(args.population), 2)
        fa = evaluate(net, optimizer, population[a], 0, inputs, targets, args, gen)
        fb = evaluate(net, optimizer, population[b], 0, inputs, targets, args, gen)
        evaluations += 2
        generations += 1
        # Ties go to the first contestant, as in the Rust tournament.
        winner, loser, fitness = (a, b, fa) if fa >= fb else (b, a, fb)
        population[loser] = mutate(population[winner], args.modules, rate, rng)
        best = max(best, fitness)
        reached = 1.0 + fitness >= args.threshold
    seconds = time.perf_counter() - start

    print(
        json.dumps(
            {
                "torch_version": torch.__version__,
                "threads": torch.get_num_threads(),
                "examples": len(targets),
                "setup_seconds": setup_seconds,
                "generations": generations,
                "evaluations": evaluations,
                "reached_threshold": reached,
                "best_train_accuracy": 1.0 + best,
                "seconds": seconds,
                "evaluations_per_s": evaluations / seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
