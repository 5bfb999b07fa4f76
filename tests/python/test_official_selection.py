"""Cross-implementation check: the kept sets written by `tsa run --save` equal the ones the official
method computes with PyTorch operations (softmax over causal window rows, avg_pool1d with zero padding
counted, per-head and layer normalisation, ascending sort + cumsum budget with n + 1, top-k + window,
sorted), on the real stories260K capture and on the bundled synthetic sample.

This restates the official algorithm in torch ops (spec section 3); it shares no code with the C++ core.
Skips cleanly without torch, without the `tsa` binary (TSA_BIN) or without the data.
"""
import json
import math
import os
import struct
import subprocess
import tempfile
import unittest

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - exercised on machines without torch
    torch = None

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
STORIES = os.path.join(SOURCE, "..", "shared", "data", "stories260k", "qkv_512.safetensors")
SAMPLE = os.path.join(SOURCE, "sample_data", "sample.safetensors")


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        data = raw[8 + n + a:8 + n + b]
        if info["dtype"] == "F32":
            arr = np.frombuffer(data, dtype="<f4")
        elif info["dtype"] == "I32":
            arr = np.frombuffer(data, dtype="<i4")
        elif info["dtype"] == "BF16":
            arr = (np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif info["dtype"] == "F16":
            arr = np.frombuffer(data, dtype="<f2").astype(np.float32)
        else:
            continue
        tensors[name] = arr.reshape(info["shape"])
    return tensors, meta


def official_selection(q, k, tau, window, kernel, min_tokens):
    """Kept index sets [Hq, capacity + W] per the official method, or None when the layer stays dense."""
    q = torch.from_numpy(np.array(q, dtype=np.float32))
    k = torch.from_numpy(np.array(k, dtype=np.float32))
    hq, length, dim = q.shape
    k = k.repeat_interleave(hq // k.shape[0], dim=0)
    if length <= min_tokens + window or tau == 0.0:
        return None
    prefix = length - window
    logits = (q[:, prefix:, :] @ k.transpose(1, 2)) / math.sqrt(dim)  # [H, W, L]
    rows = torch.arange(prefix, length).unsqueeze(1)
    cols = torch.arange(length).unsqueeze(0)
    logits = logits.masked_fill(cols > rows, float("-inf"))
    probs = torch.softmax(logits.double(), dim=-1)
    raw = probs[:, :, :prefix].mean(dim=1)  # [H, P]
    smoothed = F.avg_pool1d(raw.unsqueeze(0), kernel_size=kernel, padding=kernel // 2, stride=1)[0]
    layer = smoothed.mean(dim=0)
    layer_norm = layer / (layer.sum() + 1e-8)
    head_norm = smoothed / (smoothed.sum(dim=-1, keepdim=True) + 1e-8)
    cumulative = torch.cumsum(torch.sort(layer_norm).values, dim=-1)
    n = int((cumulative < tau).sum().item())
    if n == 0:
        return None
    capacity = max(min_tokens, prefix - (n + 1))
    top = head_norm.topk(capacity, dim=-1).indices
    window_idx = torch.arange(prefix, length).unsqueeze(0).expand(hq, -1)
    return torch.cat([top, window_idx], dim=-1).sort(dim=-1).values.numpy(), head_norm.numpy()


@unittest.skipIf(torch is None, "torch is not installed")
class OfficialSelection(unittest.TestCase):
    def run_case(self, capture, tau, window, kernel, min_tokens):
        tsa = os.environ.get("TSA_BIN")
        if not tsa or not os.path.exists(tsa):
            self.skipTest("TSA_BIN does not point at the tsa binary")
        if not os.path.exists(capture):
            self.skipTest(capture + " is absent")
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "run.safetensors")
            subprocess.run([tsa, "run", capture, "--sparse-layers", "all", "--tau", str(tau), "--window",
                            str(window), "--pool-kernel", str(kernel), "--min-tokens", str(min_tokens),
                            "--no-error", "--quiet", "--save", out], check=True, stdout=subprocess.DEVNULL)
            ours, meta = read_safetensors(out)
        summary = json.loads(meta["tsa"])
        data, _ = read_safetensors(capture)
        layers = sorted({int(name.split(".")[1]) for name in data if name.startswith("layers.")})
        sparse_layers = 0
        for layer in layers:
            ref = official_selection(data[f"layers.{layer}.q"], data[f"layers.{layer}.k"], tau, window, kernel,
                                     min_tokens)
            with self.subTest(layer=layer):
                if ref is None:
                    self.assertFalse(summary["layers"][str(layer)]["sparse"])
                    continue
                sparse_layers += 1
                indices, head_norm = ref
                got = ours[f"layers.{layer}.indices"]
                self.assertEqual(got.shape, indices.shape)
                for h in range(indices.shape[0]):
                    if np.array_equal(got[h], indices[h]):
                        continue
                    # Only exact ties (or fp rounding at the capacity boundary) may differ.
                    diff = np.setxor1d(got[h], indices[h])
                    boundary = np.sort(head_norm[h][indices[h][indices[h] < head_norm.shape[1]]])[0]
                    for j in diff:
                        self.assertAlmostEqual(float(head_norm[h][j]), float(boundary),
                                               delta=1e-6 * float(boundary) + 1e-12)
                np.testing.assert_allclose(ours[f"layers.{layer}.scores"], head_norm, rtol=2e-4, atol=1e-9)
        self.assertGreater(sparse_layers, 0)

    def test_stories260k_real_attention(self):
        self.run_case(STORIES, tau=0.05, window=32, kernel=7, min_tokens=64)

    def test_stories260k_small_tau(self):
        self.run_case(STORIES, tau=0.005, window=16, kernel=5, min_tokens=32)

    def test_bundled_sample_official_defaults(self):
        self.run_case(SAMPLE, tau=0.005, window=128, kernel=7, min_tokens=1024)


if __name__ == "__main__":
    unittest.main()
