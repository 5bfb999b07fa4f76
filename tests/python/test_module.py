"""Tests of the tsa_explorer Python module (python/): the same numbers as `tsa run` and `tsa export` on the
bundled sample, errors with the command line's messages, which calls copy, GIL release, the capture writer.

CTest runs this with PYTHONPATH at the built module, TSA_BIN / TSA_EXPLORER_BIN at the binaries and
TSA_REQUIRE_MODULE=1 (a module that fails to import is then an error, not a skip).
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import xml.etree.ElementTree as ET

import numpy as np

try:
    import tsa_explorer as tsa
except ImportError:
    if os.environ.get("TSA_REQUIRE_MODULE"):
        raise
    tsa = None

from test_support import SAMPLE, SOURCE, read_safetensors  # noqa: E402
TSA_BIN = os.environ.get("TSA_BIN")
THREADS = 2


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def reference_attention(q, k, v):
    """Plain fp64 causal attention with grouped-query heads, and the logsumexp of the scaled logits."""
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    hq, length, dim = q.shape
    group = hq // k.shape[0]
    out = np.zeros_like(q)
    lse = np.zeros((hq, length))
    mask = np.triu(np.ones((length, length), dtype=bool), 1)
    for h in range(hq):
        logits = q[h] @ k[h // group].T / np.sqrt(dim)
        logits[mask] = -np.inf
        m = logits.max(axis=1, keepdims=True)
        p = np.exp(logits - m)
        s = p.sum(axis=1, keepdims=True)
        out[h] = (p / s) @ v[h // group]
        lse[h] = (np.log(s) + m)[:, 0]
    return out, lse


def cli(*args):
    return subprocess.run([TSA_BIN, *args], capture_output=True, text=True,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})


@unittest.skipIf(tsa is None, "tsa_explorer is not built (or not on PYTHONPATH)")
class Capture(unittest.TestCase):
    def test_sample_header_and_lazy_layers(self):
        c = tsa.open_capture(SAMPLE)
        self.assertEqual((c.layers, c.q_heads, c.kv_heads, c.tokens, c.head_dim), (8, 4, 2, 1920, 32))
        self.assertEqual(c.layer_ids, list(range(8)))
        self.assertEqual(c.dtype, "BF16")
        self.assertEqual(c.model, "synthetic:sample")
        self.assertEqual(c.token_ids.dtype, np.int32)
        self.assertEqual(c.token_ids.shape, (1920,))
        self.assertEqual(len(c.token_strings), 1920)
        self.assertTrue(c.has_drift)
        self.assertEqual(c.drift(3).shape, (1920,))
        q, k, v = c.layer(3)
        self.assertEqual((q.shape, k.shape, v.shape), ((4, 1920, 32), (2, 1920, 32), (2, 1920, 32)))
        self.assertEqual(q.dtype, np.float32)
        np.testing.assert_array_equal(c.layer(-5)[0], q)  # negative positions count from the end
        with self.assertRaisesRegex(IndexError, "layer 8 is out of range"):
            c.layer(8)

    def test_layer_views_share_the_cached_layer(self):
        c = tsa.open_capture(SAMPLE)
        q1, k1, _ = c.layer(2)
        q2, _, _ = c.layer(2)
        self.assertTrue(np.shares_memory(q1, q2))  # no copy: both view the capture's converted layer
        self.assertFalse(q1.flags.writeable)
        with self.assertRaises(ValueError):
            q1[0, 0, 0] = 1.0
        del c  # the arrays keep the layer alive
        self.assertTrue(np.isfinite(k1).all())


@unittest.skipIf(tsa is None, "tsa_explorer is not built (or not on PYTHONPATH)")
@unittest.skipUnless(TSA_BIN and os.path.exists(TSA_BIN or ""), "TSA_BIN does not point at the tsa binary")
class SameNumbersAsTheCommandLine(unittest.TestCase):
    """run_layer / score_layer / select_tokens on the sample equal `tsa run --save --save-output --json`,
    bit for bit: the same core code behind both."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        out = os.path.join(cls.tmp.name, "run.safetensors")
        # An explicit thread count on both sides: attention tiles follow it, so outputs agree bit for bit only
        # at equal counts (selections at any count), and importing torch changes the OpenMP default.
        r = cli("run", SAMPLE, "--sparse-layers", "all", "--save", out, "--save-output", "--json", "--quiet",
                "--threads", str(THREADS))
        assert r.returncode == 0, r.stderr
        cls.summary = json.loads(r.stdout)
        cls.saved, _ = read_safetensors(out)
        cls.capture = tsa.open_capture(SAMPLE)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_kept_sets_outputs_and_metrics(self):
        sparse_layers = 0
        for layer in range(self.capture.layers):
            with self.subTest(layer=layer):
                want = self.summary["layers"][str(layer)]
                q, k, v = self.capture.layer(layer)
                output, selection, metrics = tsa.run_layer(q, k, v, threads=THREADS)  # official defaults
                self.assertEqual(selection.sparse, want["sparse"])
                self.assertEqual(selection.kept, want["kept"])
                self.assertEqual(selection.capacity, want["capacity"])
                self.assertEqual(selection.kept_fraction, want["kept_fraction"])
                self.assertEqual(selection.budget_count + 1 if selection.sparse else 0, want["budget_dropped"])
                np.testing.assert_array_equal(output, self.saved[f"layers.{layer}.output"])
                m = metrics.layer
                self.assertEqual(selection.tokens - selection.kept, want["dropped_rows"])  # per head
                self.assertEqual(m["dropped_rows"], 4 * want["dropped_rows"])  # over the 4 heads
                self.assertEqual(m["row_error"], want["error"]["row_error"])
                self.assertEqual(m["retained_mass"], want["error"]["retained_mass"])
                self.assertEqual(m["last_window_error"], want["error"]["last_window_error"])
                if not selection.sparse:
                    continue
                sparse_layers += 1
                np.testing.assert_array_equal(selection.indices, self.saved[f"layers.{layer}.indices"])
                # Scoring and selection called separately give the same kept sets and the saved scores.
                scores = tsa.score_layer(q, k, window=128, pool_kernel=7)
                np.testing.assert_array_equal(scores.head_norm, self.saved[f"layers.{layer}.scores"])
                again = tsa.select_tokens(scores, tau=0.005, min_tokens=1024)
                np.testing.assert_array_equal(again.indices, selection.indices)
                curve = tsa.coverage_curve(scores, tau=0.005)
                self.assertEqual(curve.budget_dropped, selection.budget_count + 1)
        self.assertEqual(sparse_layers, 8)  # every layer of the sample is long enough to be sparse

    def test_other_parameters(self):
        # A second setting through the CLI and the module: W 64, k 5, min_tokens 512, tau 0.02, layer 6.
        out = os.path.join(self.tmp.name, "run2.safetensors")
        r = cli("run", SAMPLE, "--layers", "6", "--sparse-layers", "all", "--tau", "0.02", "--window", "64",
                "--pool-kernel", "5", "--min-tokens", "512", "--no-error", "--quiet", "--save", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        saved, _ = read_safetensors(out)
        q, k, v = self.capture.layer(6)
        _, selection, metrics = tsa.run_layer(q, k, v, tau=0.02, window=64, pool_kernel=5, min_tokens=512,
                                              metrics=False)
        self.assertIsNone(metrics)
        np.testing.assert_array_equal(selection.indices, saved["layers.6.indices"])
        self.assertEqual(selection.indices.shape[1], selection.capacity + 64)


@unittest.skipIf(tsa is None, "tsa_explorer is not built (or not on PYTHONPATH)")
class Kernels(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(7)
        self.q = rng.standard_normal((4, 300, 16)).astype(np.float32)
        self.k = rng.standard_normal((2, 300, 16)).astype(np.float32)
        self.v = rng.standard_normal((2, 300, 16)).astype(np.float32)

    def test_causal_attention_against_fp64(self):
        out, lse = tsa.causal_attention(self.q, self.k, self.v, return_lse=True)
        ref, ref_lse = reference_attention(self.q, self.k, self.v)
        self.assertEqual(out.shape, (4, 300, 16))
        np.testing.assert_allclose(out, ref, atol=2e-5)
        np.testing.assert_allclose(lse, ref_lse, atol=2e-5)

    def test_dense_layer_is_dense_attention(self):
        out, selection, metrics = tsa.run_layer(self.q, self.k, self.v, window=32, min_tokens=64,
                                                sparse_layer=False)
        self.assertFalse(selection.sparse)
        self.assertEqual(selection.dense_reason, "not a sparse layer")
        self.assertEqual(selection.indices.shape, (4, 0))
        np.testing.assert_array_equal(out, tsa.causal_attention(self.q, self.k, self.v))
        self.assertEqual(metrics.layer["row_error"]["max"], 0.0)

    def test_sparse_rows_are_attention_over_the_kept_keys(self):
        out, selection, metrics = tsa.run_layer(self.q, self.k, self.v, tau=0.2, window=32, min_tokens=16)
        self.assertTrue(selection.sparse)
        group = 2
        for h in range(4):
            idx = selection.indices[h]
            ref, _ = reference_attention(self.q[h:h + 1, idx], self.k[h // group:h // group + 1, idx],
                                         self.v[h // group:h // group + 1, idx])
            np.testing.assert_allclose(out[h, idx], ref[0], atol=2e-5)
            dropped = np.setdiff1d(np.arange(300), idx)
            self.assertFalse(out[h, dropped].any())  # dropped rows are zero
            self.assertTrue(np.isnan(metrics.row_error[h, dropped]).all())

    def test_input_conversions_give_the_same_result(self):
        base = tsa.causal_attention(self.q, self.k, self.v)
        # float64 and non-contiguous inputs are converted to float32 first (a copy): same values.
        np.testing.assert_array_equal(tsa.causal_attention(self.q.astype(np.float64), self.k, self.v), base)
        strided_q = np.ascontiguousarray(self.q.transpose(1, 0, 2)).transpose(1, 0, 2)
        self.assertFalse(strided_q.flags.c_contiguous)
        np.testing.assert_array_equal(tsa.causal_attention(strided_q, self.k, self.v), base)
        # uint16 is read as bfloat16 bits: the bf16-rounded values.
        def bf16(x):
            bits = x.view(np.uint32)
            return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
        def widen(b):
            return (b.astype(np.uint32) << 16).view(np.float32)
        qb, kb, vb = bf16(self.q), bf16(self.k), bf16(self.v)
        np.testing.assert_array_equal(tsa.causal_attention(qb, kb, vb),
                                      tsa.causal_attention(widen(qb), widen(kb), widen(vb)))

    def test_float32_inputs_are_not_copied(self):
        # numpy reports its buffers to tracemalloc, so a converted input shows up as a new allocation of the
        # input's size; a borrowed one does not (core's own buffers are not Python allocations).
        import tracemalloc

        def traced_peak(fn):
            tracemalloc.start()
            try:
                base = tracemalloc.get_traced_memory()[0]
                fn()
                return tracemalloc.get_traced_memory()[1] - base
            finally:
                tracemalloc.stop()

        q, k, v = self.q, self.k, self.v
        for name, call in (("causal_attention", lambda: tsa.causal_attention(q, k, v)),
                           ("score_layer", lambda: tsa.score_layer(q, k, window=32)),
                           ("run_layer", lambda: tsa.run_layer(q, k, v, tau=0.2, window=32, min_tokens=16))):
            self.assertLess(traced_peak(call), q.nbytes // 4, name)
        q64 = q.astype(np.float64)
        self.assertGreaterEqual(traced_peak(lambda: tsa.causal_attention(q64, k, v)), q.nbytes)  # converted

    def test_outputs_are_adopted_and_views_are_read_only(self):
        out, selection, metrics = tsa.run_layer(self.q, self.k, self.v, tau=0.2, window=32, min_tokens=16)
        # The output owns the core's buffer through a capsule: numpy did not copy it.
        self.assertFalse(out.flags.owndata)
        self.assertEqual(type(out.base).__name__, "PyCapsule")
        self.assertTrue(out.flags.writeable)
        scores = tsa.score_layer(self.q, self.k, window=32)
        for array, owner in ((scores.head_norm, scores), (scores.raw, scores), (selection.indices, selection),
                             (metrics.row_error, metrics)):
            self.assertIs(array.base, owner)  # a view of the object's own memory
            self.assertFalse(array.flags.writeable)
        self.assertEqual(scores.head_norm.shape, (4, 300 - 32))
        np.testing.assert_allclose(scores.head_norm.sum(axis=1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(scores.layer_norm.sum(), 1.0, rtol=1e-5)

    def test_gil_is_released_while_computing(self):
        rng = np.random.default_rng(1)
        q = rng.standard_normal((8, 2048, 64)).astype(np.float32)
        k = rng.standard_normal((8, 2048, 64)).astype(np.float32)
        start = time.perf_counter()
        tsa.causal_attention(q, k, k, threads=1)
        alone = time.perf_counter() - start
        done = threading.Event()
        worker = threading.Thread(target=lambda: (tsa.causal_attention(q, k, k, threads=1), done.set()))
        ticks = []
        worker.start()
        while not done.is_set():  # this thread keeps running Python while the other one computes
            ticks.append(time.perf_counter())
            time.sleep(0.001)
        worker.join()
        # With the GIL held, the loop would stall for the whole computation (one gap of about `alone`).
        gaps = np.diff(ticks) if len(ticks) > 1 else np.array([alone])
        self.assertGreater(len(ticks), 5, f"compute took {alone:.3f} s alone")
        self.assertLess(gaps.max(), max(0.5 * alone, 0.05), f"compute took {alone:.3f} s alone")


@unittest.skipIf(tsa is None, "tsa_explorer is not built (or not on PYTHONPATH)")
class Errors(unittest.TestCase):
    def cli_message(self, *args):
        if not (TSA_BIN and os.path.exists(TSA_BIN)):
            self.skipTest("TSA_BIN does not point at the tsa binary")
        r = cli(*args)
        self.assertEqual(r.returncode, 2, r.stderr)
        return r.stderr.splitlines()[0].split(": ", 1)[1]  # without the "tsa run: " prefix

    def test_missing_and_malformed_files_have_the_cli_messages(self):
        with tempfile.TemporaryDirectory() as d:
            missing = os.path.join(d, "missing.safetensors")
            with self.assertRaises(OSError) as ctx:
                tsa.open_capture(missing)
            self.assertEqual(str(ctx.exception), self.cli_message("run", missing))
            bad = os.path.join(d, "bad.safetensors")
            with open(bad, "wb") as f:
                f.write(b"not a safetensors file")
            with self.assertRaises(ValueError) as ctx:
                tsa.open_capture(bad)
            self.assertIn("bad.safetensors", str(ctx.exception))
            self.assertEqual(str(ctx.exception), self.cli_message("run", bad))

    def test_bad_values_and_shapes(self):
        q = np.zeros((4, 200, 8), np.float32)
        k = np.zeros((2, 200, 8), np.float32)
        with self.assertRaisesRegex(ValueError, "^pool kernel k must be a positive odd number"):
            tsa.score_layer(q, k, pool_kernel=4)
        with self.assertRaisesRegex(ValueError, r"^tau 2 is above 0\.5"):
            tsa.run_layer(q, k, k, tau=2)
        with self.assertRaisesRegex(ValueError, "q and k differ in tokens or head dim"):
            tsa.run_layer(q, k[:, :100], k[:, :100])
        with self.assertRaisesRegex(ValueError, "query heads 4 are not a multiple of kv heads 3"):
            tsa.score_layer(q, np.zeros((3, 200, 8), np.float32))
        with self.assertRaisesRegex(ValueError, r"q must be a 3-D \[heads, tokens, dim\] array, got shape \(200, 8\)"):
            tsa.causal_attention(q[0], k, k)
        with self.assertRaisesRegex(TypeError, "must hold float32"):
            tsa.causal_attention(q.astype(np.int32), k, k)
        with self.assertRaisesRegex(ValueError, "not more than the window 128"):
            tsa.score_layer(q[:, :100], k[:, :100])
        with self.assertRaisesRegex(IndexError, r"head 7 does not exist \(4 query heads\)"):
            tsa.coverage_curve(tsa.score_layer(q, k, window=16), head=7)

    def test_render_errors_are_the_export_messages(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "x.png")
            for kwargs, args in (({}, ["--view", "nope"]),
                                 ({"tau": 0.9}, ["--view", "overview", "--tau", "0.9"]),
                                 ({"pool_kernel": 4}, ["--view", "overview", "--pool-kernel", "4"]),
                                 ({"sparse_layers": "some"}, ["--view", "overview", "--sparse-layers", "some"])):
                view = "nope" if "nope" in args else "overview"
                with self.subTest(kwargs=kwargs):
                    with self.assertRaises(ValueError) as ctx:
                        tsa.render(view, SAMPLE, out, **kwargs)
                    self.assertEqual(str(ctx.exception), self.cli_message("export", SAMPLE, "--out", out, *args))
            with self.assertRaisesRegex(ValueError, "the extension must be"):
                tsa.render("overview", SAMPLE, os.path.join(d, "x.bmp"))
            with self.assertRaisesRegex(TypeError, "unexpected keyword argument 'colour'"):
                tsa.render("overview", SAMPLE, out, colour="red")
            self.assertEqual(os.listdir(d), [])  # nothing written on failure


@unittest.skipIf(tsa is None, "tsa_explorer is not built (or not on PYTHONPATH)")
class WriteCapture(unittest.TestCase):
    def layers(self, n=2, hq=4, hkv=2, length=300, dim=16):
        rng = np.random.default_rng(3)
        return [tuple(rng.standard_normal((h, length, dim)).astype(np.float32) for h in (hq, hkv, hkv))
                for _ in range(n)]

    def test_round_trip(self):
        layers = self.layers()
        drift = [np.linspace(0, 1, 300, dtype=np.float32), None]
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "c.safetensors")
            tsa.write_capture(path, {3: layers[0], 7: layers[1]}, tokens=np.arange(300),
                              token_strings=[f"t{i}" for i in range(300)], drift=drift, model="unit test",
                              num_layers=8)
            self.assertEqual(os.listdir(d), ["c.safetensors"])  # no temporary left behind
            with self.assertWarnsRegex(RuntimeWarning, "only 1 of 2 layers have drift"):  # core warnings pass through
                c = tsa.open_capture(path)
            self.assertEqual((c.layer_ids, c.model_layers, c.model, c.dtype), ([3, 7], 8, "unit test", "F32"))
            np.testing.assert_array_equal(c.token_ids, np.arange(300))
            self.assertEqual(c.token_strings[299], "t299")
            for i in range(2):
                for got, want in zip(c.layer(i), layers[i]):
                    np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(c.drift(0), drift[0])
            self.assertIsNone(c.drift(1))
            # bfloat16: from float32 (rounded by the writer) or from uint16 bits (stored as they are).
            tsa.write_capture(path, layers, dtype="bfloat16")
            bf = tsa.open_capture(path)
            self.assertEqual(bf.dtype, "BF16")
            q16 = bf.layer(0)[0]
            np.testing.assert_allclose(q16, layers[0][0], rtol=2 ** -8)
            bits = (q16.view(np.uint32) >> 16).astype(np.uint16)
            tsa.write_capture(path, [(bits, *layers[0][1:])])
            with self.assertWarnsRegex(RuntimeWarning, "q/k/v tensors mix dtypes"):
                mixed = tsa.open_capture(path)
            np.testing.assert_array_equal(mixed.layer(0)[0], q16)

    def test_bad_input_writes_nothing_and_keeps_the_old_file(self):
        layers = self.layers()
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "c.safetensors")
            tsa.write_capture(path, layers[:1])
            before = read_bytes(path)
            q, k, v = layers[1]
            with self.assertRaisesRegex(ValueError, r"layers\.1\.k: shape \[2, 299, 16\] does not match"):
                tsa.write_capture(path, [layers[0], (q, k[:, :299], v)])
            with self.assertRaisesRegex(ValueError, "token_strings: 2 strings for 300 tokens"):
                tsa.write_capture(path, layers, token_strings=["a", "b"])
            with self.assertRaisesRegex(ValueError, "query heads 4 are not a multiple of kv heads 3"):
                tsa.write_capture(path, [(q, q[:3], q[:3])])
            self.assertEqual(read_bytes(path), before)
            self.assertEqual(os.listdir(d), ["c.safetensors"])


@unittest.skipIf(tsa is None, "tsa_explorer is not built (or not on PYTHONPATH)")
class Render(unittest.TestCase):
    """render() writes what `tsa export` writes, through the same function."""

    def test_png_svg_csv_match_tsa_export(self):
        if not (TSA_BIN and os.path.exists(TSA_BIN)):
            self.skipTest("TSA_BIN does not point at the tsa binary")
        capture = tsa.open_capture(SAMPLE)
        with tempfile.TemporaryDirectory() as d:
            # Views of scores and selections: those do not depend on the thread count (error metrics do,
            # in the last digits, and this process may run another OpenMP default than tsa).
            for view, ext in (("selection", "png"), ("coverage", "svg"), ("depth", "csv")):
                with self.subTest(view=view):
                    ours = os.path.join(d, f"py.{ext}")
                    theirs = os.path.join(d, f"cli.{ext}")
                    summary = tsa.render(view, capture, ours, layer=5, head=1, tau=0.01, width=640, height=400)
                    self.assertIn(f"{view} view of layer 5, head 1", summary)
                    r = cli("export", SAMPLE, "--view", view, "--out", theirs, "--layer", "5", "--head", "1",
                            "--tau", "0.01", "--width", "640", "--height", "400")
                    self.assertEqual(r.returncode, 0, r.stderr)
                    data = read_bytes(ours)
                    if ext == "png":
                        self.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n")
                        self.assertEqual(struct.unpack(">II", data[16:24]), (640, 400))
                    elif ext == "svg":
                        self.assertTrue(ET.fromstring(data).tag.endswith("svg"))
                    else:
                        rows = data.decode().splitlines()
                        self.assertGreater(len(rows), 8)  # a header and rows per layer
                    self.assertEqual(data, read_bytes(theirs))

    def test_pdf_goes_through_the_same_writer(self):
        if not (TSA_BIN and os.path.exists(TSA_BIN)):
            self.skipTest("TSA_BIN does not point at the tsa binary")
        with tempfile.TemporaryDirectory() as d:
            ours, theirs = os.path.join(d, "py.pdf"), os.path.join(d, "cli.pdf")
            tsa.render("coverage", SAMPLE, ours, layer=5, width=900, height=600)
            r = cli("export", SAMPLE, "--view", "coverage", "--out", theirs, "--layer", "5", "--width", "900",
                    "--height", "600")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(read_bytes(ours)[:5], b"%PDF-")
            if shutil.which("pdftotext") is None:
                self.skipTest("poppler-utils (pdftotext, pdfinfo) not installed")
            info = subprocess.run(["pdfinfo", ours], capture_output=True, text=True, check=True).stdout
            self.assertRegex(info, r"Pages:\s+1\n")
            self.assertRegex(info, r"Page size:\s+900 x 600 pts")
            text = [subprocess.run(["pdftotext", p, "-"], capture_output=True, text=True, check=True).stdout
                    for p in (ours, theirs)]
            self.assertIn("Coverage: layer 5", text[0])  # vector text, not a picture of it
            self.assertEqual(text[0], text[1])

    def test_effect_file(self):
        if not (TSA_BIN and os.path.exists(TSA_BIN)):
            self.skipTest("TSA_BIN does not point at the tsa binary")
        effect = os.path.join(SOURCE, "sample_data", "stories260k_effect.safetensors")
        with tempfile.TemporaryDirectory() as d:
            ours, theirs = os.path.join(d, "py.csv"), os.path.join(d, "cli.csv")
            self.assertEqual(tsa.render("effect", effect, ours, effect_x="kept"), f"{ours}: effect view, tau 0.005")
            r = cli("export", effect, "--view", "effect", "--out", theirs, "--effect-x", "kept")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(read_bytes(ours), read_bytes(theirs))
            with self.assertRaises(ValueError) as ctx:
                tsa.render("effect", effect, ours, needle_score="fuzzy")
            r = cli("export", effect, "--view", "effect", "--out", theirs, "--needle-score", "fuzzy")
            self.assertEqual(r.returncode, 2)
            self.assertEqual(f"tsa export: {ctx.exception}", r.stderr.splitlines()[0])

    def test_text_view_html(self):
        if not (TSA_BIN and os.path.exists(TSA_BIN)):
            self.skipTest("TSA_BIN does not point at the tsa binary")
        with tempfile.TemporaryDirectory() as d:
            ours, theirs = os.path.join(d, "py.html"), os.path.join(d, "cli.html")
            tsa.render("text", SAMPLE, ours, layer=5, text_measure="n_h")
            r = cli("export", SAMPLE, "--view", "text", "--out", theirs, "--layer", "5", "--text-measure", "n_h")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(b"<html", read_bytes(ours)[:200].lower())
            self.assertEqual(read_bytes(ours), read_bytes(theirs))
            with self.assertRaises(ValueError) as ctx:
                tsa.render("overview", SAMPLE, os.path.join(d, "o.png"), text_measure="n_h")
            self.assertEqual(str(ctx.exception), "--text-measure is for the text view (--view text)")
            with self.assertRaisesRegex(ValueError, "HTML export is for the text view only"):
                tsa.render("overview", SAMPLE, ours)

    def test_session_file_and_overrides(self):
        with tempfile.TemporaryDirectory() as d:
            session = os.path.join(d, "s.session.json")
            with open(session, "w") as f:
                json.dump({"format": "tsa-explorer-session", "version": 1, "file": SAMPLE,
                           "params": {"tau": 0.02, "window": 64, "min_tokens": 256, "sparse_layers": "all",
                                      "layer": 2, "head": 3}}, f)
            out = os.path.join(d, "depth.csv")
            summary = tsa.render("depth", session, out)
            self.assertIn("layer 2, head 3, tau 0.02", summary)
            summary = tsa.render("depth", session, out, tau=0.05, layer=6, head=0)
            self.assertIn("layer 6, head 0, tau 0.05", summary)
            self.assertTrue(read_bytes(out).decode().strip())


if __name__ == "__main__":
    unittest.main()
