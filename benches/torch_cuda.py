"""PyTorch (CUDA, float32) reference for bench/src/bin/gpu_bench.rs.

Times, on one CUDA device, the same models as the Rust benchmark and prints JSON lines:

- the A3C conv net's training step (forward, cross-entropy, backward; the input needs no
  gradient) at each --batch, input already on the device, synchronised after every step;
- PathNet pathway evaluations per second: L=3 layers of M=10 Linear(->20)+ReLU modules, N=3
  active (summed), 784 inputs, a 2-class head; an evaluation trains the pathway on T=50
  minibatches of 16 with plain SGD (only its modules and head move) and counts the
  misclassified examples, reading the count back after every minibatch as the Rust side does.

Run once with cuDNN/cuBLAS in strict float32 (--tf32 off, the precision of the Rust side) and,
for reference, with PyTorch's default for convolutions (TF32 on tensor cores).
"""

import argparse
import json
import statistics
import time

import torch
from torch import nn


def a3c_conv():
    return nn.Sequential(
        nn.Conv2d(4, 16, 8, stride=4),
        nn.ReLU(),
        nn.Conv2d(16, 32, 4, stride=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 9 * 9, 256),
        nn.ReLU(),
        nn.Linear(256, 6),
    )


def time_conv(batch, warmup, runs, device, gen):
    net = a3c_conv().to(device)
    x = torch.rand(batch, 4, 84, 84, generator=gen).to(device)
    y = torch.randint(0, 6, (batch,), generator=gen).to(device)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        for p in net.parameters():
            p.grad = None
        loss = loss_fn(net(x), y)
        loss.backward()
        loss.item()
        torch.cuda.synchronize(device)

    for _ in range(warmup):
        step()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        samples.append((time.perf_counter() - start) * 1e3)
    return {"median_ms": statistics.median(samples), "min_ms": min(samples), "max_ms": max(samples), "runs": runs}


class PathNet(nn.Module):
    def __init__(self, layers=3, modules=10, units=20, inputs=784, classes=2):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList(nn.Linear(inputs if layer == 0 else units, units) for _ in range(modules))
            for layer in range(layers)
        )
        self.head = nn.Linear(units, classes)

    def forward(self, pathway, x):
        for layer, active in zip(self.layers, pathway):
            x = sum(torch.relu(layer[m](x)) for m in active)
        return self.head(x)


def pathway_evaluations(evaluations, device, gen, seed):
    net = PathNet().to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.0)
    xs = [torch.rand(16, 784, generator=gen).to(device) for _ in range(50)]
    ys = [torch.randint(0, 2, (16,), generator=gen).to(device) for _ in range(50)]
    rng = torch.Generator().manual_seed(seed)
    pathways = [[torch.randperm(10, generator=rng)[:3].tolist() for _ in range(3)] for _ in range(evaluations)]

    def evaluate(pathway):
        wrong = 0
        for x, y in zip(xs, ys):
            optimizer.zero_grad(set_to_none=True)
            logits = net(pathway, x)
            wrong += int((logits.argmax(dim=1) != y).sum())
            nn.functional.cross_entropy(logits, y).backward()
            optimizer.step()
        return wrong

    evaluate(pathways[0])
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    for p in pathways:
        evaluate(p)
    torch.cuda.synchronize(device)
    return evaluations / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--batch", default="32,1024")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--evaluations", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    print(json.dumps({"torch_version": torch.__version__, "device": torch.cuda.get_device_name(device),
                      "cudnn": torch.backends.cudnn.version()}))
    for tf32 in (False, True):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        gen = torch.Generator().manual_seed(args.seed)
        for batch in (int(b) for b in args.batch.split(",")):
            timing = time_conv(batch, args.warmup, args.runs, device, gen)
            print(json.dumps({"model": "a3c_conv", "batch": batch, "side": "torch", "tf32": tf32, "timing": timing}))
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    gen = torch.Generator().manual_seed(args.seed)
    per_s = pathway_evaluations(args.evaluations, device, gen, args.seed)
    print(json.dumps({"model": "pathnet_pathway_evaluation", "side": "torch", "evaluations_per_s": per_s}))


if __name__ == "__main__":
    main()
