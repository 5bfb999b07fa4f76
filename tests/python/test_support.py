"""What the Python tests share: where the source tree, tools/ and the data are, whether torch is here, the
`tsa` binary CTest points at, and one independent safetensors reader (standard library + numpy, no code of
ours), so a test checks our files against the format itself rather than against our own loader.

pytest puts this folder on sys.path (no __init__.py, default import mode), as does running a test directly.
"""
import json
import os
import struct
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
TOOLS = os.path.join(SOURCE, "tools")
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

# The real tiny model's folder (its capture, its Hugging Face conversion); TSA_STORIES260K_DIR overrides.
STORIES_DIR = os.environ.get("TSA_STORIES260K_DIR", os.path.join(SOURCE, "..", "shared", "data", "stories260k"))
STORIES_CAPTURE = os.path.join(STORIES_DIR, "qkv_512.safetensors")
SAMPLE = os.path.join(SOURCE, "sample_data", "sample.safetensors")

try:
    import numpy  # noqa: F401
    import torch  # noqa: F401
    HAVE_TORCH = True
except ImportError:  # pragma: no cover - exercised on machines without torch
    HAVE_TORCH = False

needs_torch = unittest.skipUnless(HAVE_TORCH, "PyTorch (and numpy) not installed")


def tsa_binary(test):
    """The `tsa` binary CTest names in TSA_BIN; skips the test when it is absent."""
    tsa = os.environ.get("TSA_BIN")
    if not tsa or not os.path.exists(tsa):
        test.skipTest("TSA_BIN does not point at the tsa binary")
    return tsa


def read_safetensors(path):
    """({name: numpy array}, metadata) of a safetensors file. F32, I32 and U8 as stored; BF16 and F16 widened
    to float32; other dtypes are left out."""
    import numpy as np

    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        data = raw[8 + n + a:8 + n + b]
        dtype = info["dtype"]
        if dtype in ("F32", "I32", "U8"):
            arr = np.frombuffer(data, dtype={"F32": "<f4", "I32": "<i4", "U8": "u1"}[dtype])
        elif dtype == "BF16":
            arr = (np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif dtype == "F16":
            arr = np.frombuffer(data, dtype="<f2").astype(np.float32)
        else:
            continue
        tensors[name] = arr.reshape(info["shape"])
    return tensors, meta
