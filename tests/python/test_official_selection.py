"""Cross-implementation check: the kept sets written by `tsa run --save` equal the ones the official
method computes with PyTorch operations (softmax over causal window rows, avg_pool1d with zero padding
counted, per-head and layer normalisation, ascending sort + cumsum budget with n + 1, top-k + window,
sorted), on the real stories260K capture and on the bundled synthetic sample.

The torch side is tools/tsa_torch.py, the selection tools/tsa_eval.py runs inside real models (spec
section 3 restated in torch ops); it shares no code with the C++ core. A perturbed parameter on the torch
side must make the comparison fail, so that the check is known to be able to fail.
Skips cleanly without torch, without the `tsa` binary (TSA_BIN) or without the data.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest

from test_support import SAMPLE, STORIES_CAPTURE as STORIES, read_safetensors, tsa_binary  # noqa: E402

try:
    import numpy as np
    import torch
    import tsa_torch
except ImportError:  # pragma: no cover - exercised on machines without torch
    torch = None



def official_selection(q, k, tau, window, kernel, min_tokens):
    """(kept index sets [Hq, capacity + W], head_norm [Hq, P]) per tools/tsa_torch.py, the torch restatement
    that tools/tsa_eval.py runs inside the model; None when the layer stays dense."""
    q = torch.from_numpy(np.array(q, dtype=np.float32))
    k = torch.from_numpy(np.array(k, dtype=np.float32))
    if tsa_torch.is_dense(q.shape[1], tau, window, min_tokens):
        return None
    head_norm, layer_norm = tsa_torch.score_layer(q, k, window, kernel)
    capacity = tsa_torch.layer_capacity(layer_norm, tau, min_tokens)
    if capacity is None:
        return None
    return tsa_torch.select(head_norm, capacity, window).numpy(), head_norm.numpy()


@unittest.skipIf(torch is None, "torch is not installed")
class OfficialSelection(unittest.TestCase):
    def mismatches(self, capture, tau, window, kernel, min_tokens, torch_side=None):
        """Differences between `tsa run --save` with the given parameters and tsa_torch with the same
        parameters overridden by `torch_side`: a list of (layer, what) for every layer that disagrees in its
        dense/sparse decision, capacity, kept sets (beyond exact ties at the cut) or scores."""
        tsa = tsa_binary(self)
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
        params = {"tau": tau, "window": window, "kernel": kernel, "min_tokens": min_tokens, **(torch_side or {})}
        layers = sorted({int(name.split(".")[1]) for name in data if name.startswith("layers.")})
        problems, sparse_layers = [], 0
        for layer in layers:
            ref = official_selection(data[f"layers.{layer}.q"], data[f"layers.{layer}.k"], **params)
            if ref is None:
                if summary["layers"][str(layer)]["sparse"]:
                    problems.append((layer, "sparse in tsa, dense in torch"))
                continue
            sparse_layers += 1
            indices, head_norm = ref
            got = ours.get(f"layers.{layer}.indices")
            if got is None or got.shape != indices.shape:
                problems.append((layer, f"kept shape {None if got is None else got.shape} vs {indices.shape}"))
                continue
            for h in range(indices.shape[0]):
                if np.array_equal(got[h], indices[h]):
                    continue
                # Only exact ties (or fp rounding at the capacity boundary) may differ.
                boundary = np.sort(head_norm[h][indices[h][indices[h] < head_norm.shape[1]]])[0]
                for j in np.setxor1d(got[h], indices[h]):
                    if j >= head_norm.shape[1] or abs(head_norm[h][j] - boundary) > 1e-6 * boundary + 1e-12:
                        problems.append((layer, f"head {h}: token {j} kept by one side only"))
            scores = ours[f"layers.{layer}.scores"]
            if scores.shape != head_norm.shape or not np.allclose(scores, head_norm, rtol=2e-4, atol=1e-9):
                problems.append((layer, "scores differ"))
        self.assertGreater(sparse_layers + len(problems), 0, "no layer went sparse: the case tests nothing")
        return problems

    def test_stories260k_real_attention(self):
        self.assertEqual(self.mismatches(STORIES, tau=0.05, window=32, kernel=7, min_tokens=64), [])

    def test_stories260k_small_tau(self):
        self.assertEqual(self.mismatches(STORIES, tau=0.005, window=16, kernel=5, min_tokens=32), [])

    def test_bundled_sample_official_defaults(self):
        self.assertEqual(self.mismatches(SAMPLE, tau=0.005, window=128, kernel=7, min_tokens=1024), [])

    def test_perturbed_parameter_is_detected(self):
        """The check can fail: one knob changed on the torch side only makes it report differences."""
        for perturbed in ({"kernel": 5}, {"tau": 0.04}, {"window": 31}):
            with self.subTest(**perturbed):
                self.assertNotEqual(self.mismatches(STORIES, tau=0.05, window=32, kernel=7, min_tokens=64,
                                                    torch_side=perturbed), [])


if __name__ == "__main__":
    unittest.main()
