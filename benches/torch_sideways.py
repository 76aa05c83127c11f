"""PyTorch (CPU, float32) reference for bench/src/bin/sideways_bench.rs: the same per-frame
video network (conv 1->8 5x5 | conv 8->16 3x3/2 | conv 16->32 3x3/2 | fc 2048->128->10, ReLU)
trained by per-frame backprop with an SGD step per frame, on one thread. Prints frames/s as
JSON (a frame of each video in the batch counts once)."""

import argparse
import json
import time

import torch
from torch import nn


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 8, 5, padding=2), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(2048, 128), nn.ReLU(), nn.Linear(128, 10),
    )
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    labels = torch.arange(args.batch) % 10

    def clip():
        for _ in range(args.frames):
            x = torch.rand(args.batch, 1, 32, 32)
            opt.zero_grad(set_to_none=True)
            loss_fn(net(x), labels).backward()
            opt.step()

    clip()
    start = time.perf_counter()
    for _ in range(args.clips):
        clip()
    elapsed = time.perf_counter() - start
    print(json.dumps({
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "frames_per_s": args.clips * args.frames * args.batch / elapsed,
    }))


if __name__ == "__main__":
    main()
