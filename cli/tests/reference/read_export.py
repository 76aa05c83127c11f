"""Reads an exported safetensors file the way a user's tool would (Python's `safetensors`
with numpy) and prints it as JSON: {"metadata": {...}, "tensors": {name: [shape, values]}}."""

import json
import sys

import numpy as np
from safetensors import safe_open

out = {"tensors": {}}
with safe_open(sys.argv[1], framework="numpy") as f:
    out["metadata"] = f.metadata()
    for name in f.keys():
        array = f.get_tensor(name)
        assert array.dtype == np.float32, (name, array.dtype)
        out["tensors"][name] = [list(array.shape), array.astype(np.float64).ravel().tolist()]
json.dump(out, sys.stdout)
