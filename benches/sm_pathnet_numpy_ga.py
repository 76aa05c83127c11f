#!/usr/bin/env python3
"""A deep GA (Such et al. 2017) over the same network as a safe-mutation PathNet pathway, in
numpy, for the evaluations/s comparison in BENCHMARKS.md.

The network is one pathway of the super-network in benches/sm_pathnet_fashion_bench.toml:
3 layers of 3 active modules, each Linear(-> 16) + ReLU, the layer's output the sum of its
modules', then a linear head with 2 outputs. Fitness is the accuracy on a fixed, seeded
evaluation batch of 256 training examples of Fashion-MNIST's Sandal (5) vs Sneaker (7), as the
Rust kind measures it. Selection: truncation (the best `top` are parents), one elite, Gaussian
mutation of every weight. Single-threaded BLAS, as the Rust executors run.

    python3 benches/sm_pathnet_numpy_ga.py [EVALUATIONS] [DATA_DIR]

Prints evaluations, seconds, evaluations/s, best accuracy and the bytes one genome's weights
take (what a weight-sending GA would put on the wire per evaluation).
"""
import gzip
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402

LAYERS, ACTIVE, UNITS, CLASSES, POP, TOP, SIGMA, EVAL = 3, 3, 16, (5, 7), 16, 4, 0.1, 256


def idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(directory):
    def find(stem):
        for name in (stem, stem + ".gz"):
            if os.path.exists(os.path.join(directory, name)):
                return os.path.join(directory, name)
        raise SystemExit(f"{stem} not found in {directory}")

    images = idx(find("train-images-idx3-ubyte")).reshape(-1, 784).astype(np.float32) / 255
    labels = idx(find("train-labels-idx1-ubyte"))
    keep = (labels == CLASSES[0]) | (labels == CLASSES[1])
    return images[keep], (labels[keep] == CLASSES[1]).astype(np.int64)


def init(rng):
    params, inputs = [], 784
    for _ in range(LAYERS):
        bound = np.sqrt(6.0 / inputs)  # He-uniform, as the Rust modules
        params.append([(rng.uniform(-bound, bound, (inputs, UNITS)).astype(np.float32),
                        np.zeros(UNITS, np.float32)) for _ in range(ACTIVE)])
        inputs = UNITS
    bound = np.sqrt(6.0 / (UNITS + 2))
    params.append([(rng.uniform(-bound, bound, (UNITS, 2)).astype(np.float32), np.zeros(2, np.float32))])
    return params


def forward(params, x):
    for layer in params[:-1]:
        x = sum(np.maximum(x @ w + b, 0.0) for w, b in layer)
    w, b = params[-1][0]
    return x @ w + b


def mutate(params, rng):
    return [[(w + SIGMA * rng.standard_normal(w.shape, np.float32),
              b + SIGMA * rng.standard_normal(b.shape, np.float32)) for w, b in layer]
            for layer in params]


def main():
    evaluations = int(sys.argv[1]) if len(sys.argv) > 1 else 900
    directory = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
    x, y = load(directory)
    rng = np.random.default_rng(1)
    pick = rng.choice(len(y), EVAL, replace=False)
    x, y = x[pick], y[pick]
    start = time.perf_counter()
    population = [init(rng) for _ in range(POP)]
    fitness = [float((forward(p, x).argmax(1) == y).mean()) for p in population]
    done = POP
    while done < evaluations:
        order = np.argsort(fitness)[::-1]
        parents = [population[i] for i in order[:TOP]]
        children, scores = [parents[0]], [fitness[order[0]]]
        while len(children) < POP and done < evaluations:
            child = mutate(parents[rng.integers(TOP)], rng)
            children.append(child)
            scores.append(float((forward(child, x).argmax(1) == y).mean()))
            done += 1
        population, fitness = children, scores
    seconds = time.perf_counter() - start
    weights = sum(w.size + b.size for layer in population[0] for w, b in layer)
    print(f"{done}\t{seconds:.2f}\t{done / seconds:.1f}\t{max(fitness):.3f}\t{4 * weights}")


if __name__ == "__main__":
    main()
