"""Reads a safetensors file with Python's `safetensors` package (the numpy loader users'
tools use) and prints every tensor as JSON: {name: [shape, values as float64]}."""

import json
import sys

import numpy as np
from safetensors.numpy import load_file

tensors = load_file(sys.argv[1])
out = {}
for name, array in tensors.items():
    assert array.dtype == np.float32, (name, array.dtype)
    out[name] = [list(array.shape), array.astype(np.float64).ravel().tolist()]
json.dump(out, sys.stdout)
