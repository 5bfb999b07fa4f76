"""Tests for tools/capture_qkv.py. They need neither transformers nor a GPU.

Run:  /usr/bin/python3 -m pytest tests/python      or      /usr/bin/python3 -m unittest discover tests/python
Torch-dependent tests skip when torch is absent; the stories260K test skips when ../shared/data is absent.
"""

import contextlib
import copy
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import unittest

from test_support import HAVE_TORCH, HERE, SOURCE as ROOT, STORIES_DIR as STORIES, needs_torch  # noqa: E402

import capture_qkv as cq  # noqa: E402

try:
    import numpy as np
    import torch
    import fake_llama as fl
except ImportError:  # pragma: no cover - exercised on machines without torch (HAVE_TORCH is False)
    pass


def read_safetensors(path):
    """Minimal independent reader: returns (header dict without metadata, metadata, raw bytes of data area).
    Also checks the structural rules: 8-byte length, 8-aligned header, contiguous offsets covering the file."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    assert (8 + n) % 8 == 0, "data area must start 8-byte aligned"
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = blob[8 + n:]
    spans = sorted(tuple(v["data_offsets"]) for v in header.values())
    pos = 0
    for a, b in spans:
        assert a == pos, f"offsets not contiguous at {a} (expected {pos})"
        pos = b
    assert pos == len(data), "offsets do not cover the data area exactly"
    sizes = {"F32": 4, "F16": 2, "BF16": 2, "I32": 4}
    for name, v in header.items():
        count = 1
        for s in v["shape"]:
            count *= s
        assert count * sizes[v["dtype"]] == v["data_offsets"][1] - v["data_offsets"][0], name
    return header, meta, data


def tensor_from(header, data, name):
    """A float32 (or int32) numpy array decoded from the raw bytes, independent of torch's bf16 support."""
    v = header[name]
    raw = data[v["data_offsets"][0]:v["data_offsets"][1]]
    if v["dtype"] == "BF16":
        arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    else:
        arr = np.frombuffer(raw, dtype={"F32": "<f4", "F16": "<f2", "I32": "<i4"}[v["dtype"]])
    return arr.reshape(v["shape"])


class TestPureWriter(unittest.TestCase):
    def test_output_parses(self):
        floats = [1.0, -2.5, 3.25, 0.0, 7.0, 8.5]
        entries = [("tokens", "I32", [3], struct.pack("<3i", 1, 2, 3)),
                   ("layers.0.q", "F32", [1, 2, 3], struct.pack("<6f", *floats)),
                   ("layers.0.k", "BF16", [1], b"\x80\x3f"),  # 1.0 in bf16
                   ("odd", "F16", [3], b"\x00\x3c" * 3)]       # makes the data area 2 bytes short of 8n
        meta = {"format": "tsa-qkv/1", "token_strings": json.dumps(["a", "\u00e9\"", "\n"])}
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "t.safetensors")
            cq.write_safetensors_pure(path, entries, meta)
            header, got_meta, data = read_safetensors(path)
        self.assertEqual(got_meta, meta)
        self.assertEqual(json.loads(got_meta["token_strings"]), ["a", "\u00e9\"", "\n"])
        self.assertEqual(list(header), ["tokens", "layers.0.q", "layers.0.k", "odd"])  # file order kept
        self.assertEqual(header["layers.0.q"], {"dtype": "F32", "shape": [1, 2, 3], "data_offsets": [12, 36]})
        q = data[12:36]
        self.assertEqual(list(struct.unpack("<6f", q)), floats)

    def test_header_is_padded_to_eight(self):
        for name in ("a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh"):
            head = cq.safetensors_header([(name, "F32", [1], 4)], {})
            self.assertEqual(len(head) % 8, 0)
            (n,) = struct.unpack("<Q", head[:8])
            self.assertEqual(n, len(head) - 8)
            json.loads(head[8:].decode())  # trailing spaces are valid JSON whitespace

    def test_size_mismatch_is_rejected(self):
        with self.assertRaises(ValueError):
            cq.safetensors_header([("x", "F32", [2, 2], 12)], {})


class TestInputs(unittest.TestCase):
    def test_parse_layers(self):
        self.assertEqual(cq.parse_layers("all", 4), [0, 1, 2, 3])
        self.assertEqual(cq.parse_layers("3, 0,3", 4), [0, 3])
        for bad in ("4", "-1", "x", "", "1;2"):
            with self.assertRaises(cq.CaptureError):
                cq.parse_layers(bad, 4)

    @needs_torch
    def test_needle_haystack_exact_and_deterministic(self):
        for length in (64, 100, 257, 1000):
            ids, info = cq.build_needle_haystack(fl.FakeTokenizer(), length, depth=0.3, seed=5)
            self.assertEqual(len(ids), length)
            self.assertEqual(ids[0], 1)  # the tokenizer's BOS
            again, info2 = cq.build_needle_haystack(fl.FakeTokenizer(), length, depth=0.3, seed=5)
            self.assertEqual(ids, again)
            self.assertEqual(info, info2)
            tok = fl.FakeTokenizer()
            needle = tok.encode(" " + info["needle"], add_special_tokens=False)
            ids3, _ = cq.build_needle_haystack(tok, length, depth=0.3, seed=5)
            self.assertEqual(ids3[info["needle_token_start"]:info["needle_token_end"]], needle)
            if length >= 257:  # room for several sentences: the needle sits near 30 % of the haystack
                self.assertLess(abs(info["needle_token_start"] / length - 0.3), 0.12)
        _, other = cq.build_needle_haystack(fl.FakeTokenizer(), 257, seed=6)
        self.assertNotEqual(other["needle"], info["needle"])
        with self.assertRaises(cq.CaptureError):
            cq.build_needle_haystack(fl.FakeTokenizer(), 10)

    @needs_torch
    def test_token_strings(self):
        tok = fl.FakeTokenizer()
        ids = tok.encode("hello big world", add_special_tokens=True)
        self.assertEqual(cq.token_strings(tok, ids), ["<s>", " hello", " big", " world"])
        self.assertEqual(cq.token_strings(None, [5, 7]), ["[5]", "[7]"])


class TestCommandLine(unittest.TestCase):
    def test_help_runs_without_torch_imports(self):
        r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "capture_qkv.py"), "--help"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        for flag in ("--model", "--needle-haystack", "--length", "--layers", "--dtype", "--out", "--device",
                     "--max-tokens", "--tokens-npy", "--prompt-file"):
            self.assertIn(flag, r.stdout)

    def test_missing_source_is_a_usage_error(self):
        r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "capture_qkv.py"), "--model", "m",
                            "--out", "x.safetensors"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("one of the arguments", r.stderr)


def reference_forward(model, ids):
    """Independent float64 re-implementation of the stand-in model: per layer post-RoPE q [Hq,L,D],
    k and v [Hkv,L,D] and drift [L]. RoPE here is a complex rotation of (x_i, x_{i+D/2}) pairs."""
    m = copy.deepcopy(model).double()
    cfg = m.config
    D, Hq, Hkv = cfg.head_dim, cfg.num_attention_heads, cfg.num_key_value_heads
    L = ids.shape[-1]
    sd = {k: v.detach() for k, v in m.state_dict().items()}

    def rms(x, w):
        return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + cfg.rms_norm_eps) * w

    def lin(x, name):
        y = x @ sd[name + ".weight"].T
        return y + sd[name + ".bias"] if name + ".bias" in sd else y

    inv = cfg.rope_theta ** (-torch.arange(0, D, 2, dtype=torch.float64) / D)
    ang = torch.arange(L, dtype=torch.float64)[:, None] * inv[None, :]
    rot = torch.polar(torch.ones_like(ang), ang)  # e^{i * pos * theta_j}

    def rope(x):  # x [H, L, D]
        z = torch.complex(x[..., : D // 2], x[..., D // 2:]) * rot
        return torch.cat((z.real, z.imag), dim=-1)

    h = sd["model.embed_tokens.weight"][ids[0]]
    out = {}
    for l in range(cfg.num_hidden_layers):
        p = f"model.layers.{l}."
        x = rms(h, sd[p + "input_layernorm.weight"])
        q = lin(x, p + "self_attn.q_proj").view(L, Hq, D)
        k = lin(x, p + "self_attn.k_proj").view(L, Hkv, D)
        v = lin(x, p + "self_attn.v_proj").view(L, Hkv, D).transpose(0, 1)
        if cfg.qk_norm:
            q, k = rms(q, sd[p + "self_attn.q_norm.weight"]), rms(k, sd[p + "self_attn.k_norm.weight"])
        q, k = rope(q.transpose(0, 1)), rope(k.transpose(0, 1))
        g = torch.arange(Hq) // (Hq // Hkv)
        s = q @ k[g].transpose(1, 2) / D ** 0.5
        s = s.masked_fill(torch.ones(L, L, dtype=torch.bool).triu(1), float("-inf"))
        o = (torch.softmax(s, -1) @ v[g]).transpose(0, 1).reshape(L, Hq * D)
        h2 = h + lin(o, p + "self_attn.o_proj")
        y = rms(h2, sd[p + "post_attention_layernorm.weight"])
        h3 = h2 + lin(torch.nn.functional.silu(lin(y, p + "mlp.gate_proj")) * lin(y, p + "mlp.up_proj"),
                      p + "mlp.down_proj")
        out[l] = {"q": q, "k": k, "v": v, "drift": (h3 - h).norm(dim=-1) / (h.norm(dim=-1) + 1e-8)}
        h = h3
    return out


def make_model(seed=0, **cfg):
    torch.manual_seed(seed)
    model = fl.FakeForCausalLM(fl.make_config(**cfg)).eval()
    with torch.no_grad():  # non-trivial norms and biases, so that a wrong capture point shows
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.3 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.copy_(0.5 * torch.randn_like(p))
    return model


@needs_torch
class TestCapture(unittest.TestCase):
    L = 24

    def ids(self, vocab=64, seed=1):
        g = torch.Generator().manual_seed(seed)
        return torch.randint(0, vocab, (1, self.L), generator=g)

    def check_against_reference(self, model, layers=None):
        ids = self.ids(model.config.vocab_size)
        layers = layers or list(range(model.config.num_hidden_layers))
        rec = cq.capture_qkv(model, ids, layers, torch.float32, verbose=False)
        ref = reference_forward(model, ids)
        cfg = model.config
        self.assertEqual(sorted(rec), layers)
        for l in layers:
            self.assertEqual(tuple(rec[l]["q"].shape), (cfg.num_attention_heads, self.L, cfg.head_dim))
            self.assertEqual(tuple(rec[l]["k"].shape), (cfg.num_key_value_heads, self.L, cfg.head_dim))
            self.assertEqual(tuple(rec[l]["v"].shape), (cfg.num_key_value_heads, self.L, cfg.head_dim))
            self.assertEqual(tuple(rec[l]["drift"].shape), (self.L,))
            self.assertEqual(rec[l]["drift"].dtype, torch.float32)
            for name in ("q", "k", "v", "drift"):
                got, want = rec[l][name].double(), ref[l][name]
                err = (got - want).abs().max().item()
                self.assertLess(err, 2e-5 * max(1.0, want.abs().max().item()), f"layer {l} {name}: {err}")
        return rec

    def test_llama_gqa(self):
        self.check_against_reference(make_model())

    def test_mha(self):
        self.check_against_reference(make_model(num_key_value_heads=4))

    def test_qwen2_bias(self):
        self.check_against_reference(make_model(attention_bias=True))

    def test_qwen3_qk_norm(self):
        self.check_against_reference(make_model(qk_norm=True, num_attention_heads=8, num_key_value_heads=2))

    def test_legacy_transformers_4x_style(self):
        self.check_against_reference(make_model(style="legacy"))

    def test_layer_subset(self):
        rec = self.check_against_reference(make_model(num_hidden_layers=4), layers=[1, 3])
        self.assertEqual(sorted(rec), [1, 3])

    def test_model_is_restored(self):
        model = make_model()
        ids = self.ids()
        before = model(ids).logits
        cq.capture_qkv(model, ids, [0, 2], torch.float32, verbose=False)
        self.assertEqual(fl.apply_rotary_pos_emb.__name__, "apply_rotary_pos_emb")
        self.assertFalse(getattr(fl.apply_rotary_pos_emb, "__wrapped_by_capture_qkv__", False))
        for layer in model.model.layers:
            self.assertNotIn("forward", layer.__dict__)
            self.assertEqual(len(layer.self_attn._forward_hooks) + len(layer.self_attn._forward_pre_hooks), 0)
            self.assertEqual(len(layer.self_attn.v_proj._forward_hooks), 0)
        self.assertTrue(torch.equal(before, model(ids).logits))

    def test_storage_dtypes(self):
        model = make_model()
        ids = self.ids()
        f32 = cq.capture_qkv(model, ids, [1], torch.float32, verbose=False)[1]
        for dt in (torch.bfloat16, torch.float16):
            got = cq.capture_qkv(model, ids, [1], dt, verbose=False)[1]
            for name in ("q", "k", "v"):
                self.assertEqual(got[name].dtype, dt)
                self.assertTrue(torch.equal(got[name], f32[name].to(dt)))
            self.assertEqual(got["drift"].dtype, torch.float32)

    def test_bf16_compute(self):
        model = make_model().to(torch.bfloat16)
        rec = cq.capture_qkv(model, self.ids(), [0], torch.bfloat16, verbose=False)[0]
        ref = reference_forward(make_model(), self.ids())[0]
        self.assertLess((rec["q"].double() - ref["q"]).abs().max().item(), 0.1 * ref["q"].abs().max().item())

    def test_unsupported_attention_is_reported(self):
        model = make_model()

        def no_rope_forward(self, hidden_states, **kwargs):  # never calls apply_rotary_pos_emb
            return self.o_proj(hidden_states.new_zeros(*hidden_states.shape[:2], self.o_proj.in_features)), None

        attn = model.model.layers[0].self_attn
        attn.forward = no_rope_forward.__get__(attn)
        with self.assertRaises(cq.CaptureError) as ctx:
            cq.capture_qkv(model, self.ids(), [0], torch.float32, verbose=False)
        self.assertIn("not supported", str(ctx.exception))
        self.assertEqual(len(attn._forward_pre_hooks), 0)


@needs_torch
class TestMainEndToEnd(unittest.TestCase):
    """main() with the model loader swapped for the stand-in model and tokenizer."""

    def run_main(self, argv, model, tokenizer):
        saved = cq.load_model, cq.load_tokenizer
        cq.load_model = lambda path, device, dtype: model.to(dtype)
        cq.load_tokenizer = lambda path: tokenizer
        try:
            return cq.main(argv)
        finally:
            cq.load_model, cq.load_tokenizer = saved

    def test_tokens_npy_all_writers(self):
        model = make_model(num_hidden_layers=3)
        ids = np.array([1, 5, 9, 2, 33, 7, 7, 12, 60, 3], dtype=np.int32)
        ref = reference_forward(model, torch.tensor(ids[None].astype(np.int64)))
        writers = ["pure"]
        try:
            import safetensors  # noqa: F401
            writers.append("safetensors")
        except ImportError:
            pass
        for writer in writers:
            for dtype, tol in (("f32", 2e-5), ("bf16", 2e-2), ("f16", 2e-3)):
                with tempfile.TemporaryDirectory() as d:
                    np.save(os.path.join(d, "t.npy"), ids)
                    out = os.path.join(d, "o.safetensors")
                    rc = self.run_main(["--model", "fake", "--tokens-npy", os.path.join(d, "t.npy"), "--layers",
                                        "0,2", "--dtype", dtype, "--device", "cpu", "--out", out,
                                        "--writer", writer, "--compute-dtype", "f32"], model, None)
                    self.assertEqual(rc, 0)
                    header, meta, data = read_safetensors(out)
                    self.assertEqual(sorted(os.listdir(d)), ["o.safetensors", "t.npy"])  # no temporary left
                st = cq.ST_DTYPES[dtype]
                self.assertEqual(set(header), {"tokens"} | {f"layers.{l}.{n}" for l in (0, 2)
                                                            for n in ("q", "k", "v", "drift")})
                self.assertEqual(header["tokens"]["dtype"], "I32")
                self.assertEqual(tensor_from(header, data, "tokens").tolist(), ids.tolist())
                for l in (0, 2):
                    self.assertEqual(header[f"layers.{l}.q"]["shape"], [4, 10, 8])
                    self.assertEqual(header[f"layers.{l}.q"]["dtype"], st)
                    self.assertEqual(header[f"layers.{l}.k"]["shape"], [2, 10, 8])
                    self.assertEqual(header[f"layers.{l}.v"]["shape"], [2, 10, 8])
                    self.assertEqual(header[f"layers.{l}.k"]["dtype"], st)
                    self.assertEqual(header[f"layers.{l}.drift"]["dtype"], "F32")
                    self.assertEqual(header[f"layers.{l}.drift"]["shape"], [10])
                    for n in ("q", "k", "v", "drift"):
                        got = tensor_from(header, data, f"layers.{l}.{n}").astype(np.float64)
                        want = ref[l][n].numpy()
                        tl = 2e-5 if n == "drift" else tol
                        self.assertLess(np.abs(got - want).max(), tl * max(1.0, np.abs(want).max()), (writer, dtype, n))
                self.assertEqual(meta["format"], "tsa-qkv/1")
                self.assertEqual(meta["layout"], "HLD")
                self.assertEqual(meta["model"], "fake")
                self.assertEqual(meta["num_layers"], "3")
                self.assertEqual(json.loads(meta["captured_layers"]), [0, 2])
                self.assertEqual(meta["source"], "capture_qkv.py")
                self.assertEqual(meta["prompt_kind"], "tokens-npy")
                self.assertIn("transformers_version", meta)
                self.assertEqual(json.loads(meta["token_strings"]), [f"[{i}]" for i in ids])

    def test_needle_haystack(self):
        model = make_model(vocab_size=512, num_hidden_layers=2)
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "hay.safetensors")
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                rc = self.run_main(["--model", "fake", "--needle-haystack", "--length", "300", "--device", "cpu",
                                    "--out", out, "--writer", "pure"], model, fl.FakeTokenizer())
            self.assertEqual(rc, 0)
            # the stand-in loader casts the whole model (inv_freq too) to bf16, which the tool warns about
            self.assertIn("inv_freq buffers are torch.bfloat16", err.getvalue())
            self.assertIn("layer 1: q [4, 300, 8]", err.getvalue())  # progress on stderr
            header, meta, data = read_safetensors(out)
        self.assertEqual(header["layers.1.q"]["dtype"], "BF16")  # the default
        self.assertEqual(header["layers.1.q"]["shape"], [4, 300, 8])
        self.assertEqual(meta["prompt_kind"], "needle-haystack")
        strings = json.loads(meta["token_strings"])
        self.assertEqual(len(strings), 300)
        info = json.loads(meta["prompt_info"])
        needle = "".join(strings[info["needle_token_start"]:info["needle_token_end"]]).strip()
        self.assertEqual(needle, info["needle"])

    def test_errors_are_messages(self):
        model = make_model()
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "x.safetensors")
            self.assertEqual(self.run_main(["--model", "m", "--needle-haystack", "--out", out, "--device", "cpu"],
                                           model, fl.FakeTokenizer()), 1)  # no --length
            self.assertEqual(self.run_main(["--model", "m", "--needle-haystack", "--length", "50", "--out", out,
                                            "--device", "cpu"], model, None), 1)  # no tokenizer
            np.save(os.path.join(d, "t.npy"), np.array([1, 2, 999]))
            self.assertEqual(self.run_main(["--model", "m", "--tokens-npy", os.path.join(d, "t.npy"), "--out",
                                            out, "--device", "cpu"], model, None), 1)  # id out of vocabulary
            self.assertEqual(self.run_main(["--model", "m", "--tokens-npy", os.path.join(d, "t.npy"), "--layers",
                                            "7", "--out", out, "--device", "cpu"], model, None), 1)
            self.assertFalse(os.path.exists(out))


class TestFindExplorer(unittest.TestCase):
    """--open's search for tsa-explorer: $TSA_EXPLORER, a build next to tools/, PATH, else a clear error."""

    def make_exe(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n")
        os.chmod(path, 0o755)
        return path

    def test_search_order_and_message(self):
        with tempfile.TemporaryDirectory() as d:
            here = os.path.join(d, "src", "tools")
            os.makedirs(here)
            bindir = os.path.join(d, "bin")
            os.makedirs(bindir)
            with self.assertRaises(cq.CaptureError) as ctx:
                cq.find_explorer({"PATH": bindir}, here)
            self.assertIn("tsa-explorer not found", str(ctx.exception))
            self.assertIn("TSA_EXPLORER", str(ctx.exception))
            on_path = self.make_exe(os.path.join(bindir, "tsa-explorer"))
            self.assertEqual(cq.find_explorer({"PATH": bindir}, here), on_path)
            built = self.make_exe(os.path.join(d, "src", "build", "release", "app", "tsa-explorer"))
            self.assertEqual(cq.find_explorer({"PATH": bindir}, here), built)  # the build tree wins over PATH
            explicit = self.make_exe(os.path.join(d, "elsewhere", "tsa-explorer"))
            self.assertEqual(cq.find_explorer({"PATH": bindir, "TSA_EXPLORER": explicit}, here), explicit)
            with self.assertRaises(cq.CaptureError) as ctx:
                cq.find_explorer({"TSA_EXPLORER": os.path.join(d, "missing")}, here)
            self.assertIn("is not an executable file", str(ctx.exception))


@needs_torch
class TestOpenInExplorer(unittest.TestCase):
    """capture_qkv.py --open on the stand-in model: fails before loading the model when no explorer is found,
    and otherwise starts the real tsa-explorer (TSA_EXPLORER_BIN, offscreen) on the file it wrote."""

    def run_main(self, argv, environ):
        loaded = []
        saved = cq.load_model, cq.load_tokenizer, dict(os.environ)
        cq.load_model = lambda path, device, dtype: loaded.append(path) or make_model(num_hidden_layers=2).to(dtype)
        cq.load_tokenizer = lambda path: None
        os.environ.update(environ)
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                rc = cq.main(argv)
        finally:
            cq.load_model, cq.load_tokenizer = saved[0], saved[1]
            os.environ.clear()
            os.environ.update(saved[2])
        return rc, err.getvalue(), loaded

    def test_no_explorer_fails_before_the_capture(self):
        with tempfile.TemporaryDirectory() as d:
            np.save(os.path.join(d, "t.npy"), np.arange(1, 40, dtype=np.int32))
            out = os.path.join(d, "o.safetensors")
            rc, err, loaded = self.run_main(["--model", "fake", "--tokens-npy", os.path.join(d, "t.npy"), "--device",
                                             "cpu", "--out", out, "--open"],
                                            {"TSA_EXPLORER": os.path.join(d, "no-such-explorer")})
            self.assertEqual(rc, 1)
            self.assertIn("--open: TSA_EXPLORER=", err)
            self.assertEqual(loaded, [])  # the model was never loaded
            self.assertFalse(os.path.exists(out))

    def test_opens_the_written_capture(self):
        explorer = os.environ.get("TSA_EXPLORER_BIN")
        if not explorer or not os.path.exists(explorer):
            self.skipTest("TSA_EXPLORER_BIN does not point at the tsa-explorer binary")
        with tempfile.TemporaryDirectory() as d:
            np.save(os.path.join(d, "t.npy"), np.arange(1, 200, dtype=np.int32) % 60)
            out = os.path.join(d, "o.safetensors")
            env = {"TSA_EXPLORER": explorer, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": d}
            rc, err, loaded = self.run_main(["--model", "fake", "--tokens-npy", os.path.join(d, "t.npy"), "--device",
                                             "cpu", "--dtype", "f32", "--out", out, "--open"], env)
            self.assertEqual(rc, 0, err)
            self.assertEqual(loaded, ["fake"])
            match = __import__("re").search(r"opened .* in (.*) \(pid (\d+)\)", err)
            self.assertIsNotNone(match, err)
            self.assertEqual(match.group(1), explorer)
            pid = int(match.group(2))
            try:
                import time
                # The script returns once exec has begun; the new argv shows in /proc a moment later.
                argv = []
                for _ in range(100):
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        argv = f.read().split(b"\0")
                    if len(argv) > 1:
                        break
                    time.sleep(0.05)
                self.assertEqual([a.decode() for a in argv[:2]], [explorer, os.path.abspath(out)])
                # Still running once it has had time to open the file: it started and did not crash on it.
                time.sleep(3)
                self.assertEqual(os.waitpid(pid, os.WNOHANG), (0, 0))
            finally:
                try:
                    os.kill(pid, 15)
                    os.waitpid(pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass


@needs_torch
@unittest.skipUnless(os.path.isdir(os.path.join(STORIES, "hf")), "shared stories260K data not present")
class TestStories260K(unittest.TestCase):
    """The real trained model through the Llama-equivalent stand-in: compare with the project's reference
    capture qkv_512.safetensors and hf/reference_logits.npy."""

    def test_matches_reference_capture(self):
        cfg_json = json.load(open(os.path.join(STORIES, "hf", "config.json")))
        cfg = fl.make_config(**{k: cfg_json[k] for k in (
            "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
            "num_key_value_heads", "head_dim", "rope_theta", "rms_norm_eps", "tie_word_embeddings")})
        model = fl.FakeForCausalLM(cfg).eval()
        header, _, data = read_safetensors(os.path.join(STORIES, "hf", "model.safetensors"))
        state = {k: torch.from_numpy(tensor_from(header, data, k).copy()) for k in header}
        missing, unexpected = model.load_state_dict(state, strict=False)
        self.assertEqual(unexpected, [])
        self.assertEqual(missing, ["lm_head.weight"])  # tied to the embedding
        ids = torch.from_numpy(np.load(os.path.join(STORIES, "hf", "tokens.npy")).astype(np.int64))[None]

        logits = model(ids).logits[0].detach().numpy()
        ref_logits = np.load(os.path.join(STORIES, "hf", "reference_logits.npy"))
        self.assertLess(np.abs(logits - ref_logits).max(), 1e-3)

        rec = cq.capture_qkv(model, ids, list(range(cfg.num_hidden_layers)), torch.float32, verbose=False)
        rh, _, rdata = read_safetensors(os.path.join(STORIES, "qkv_512.safetensors"))
        self.assertEqual(tensor_from(rh, rdata, "tokens").tolist(), ids[0].tolist())
        # qkv_512 keeps llama2.c's interleaved RoPE pairs (2i, 2i+1) in the head dimension; the HF folder's q/k
        # rows are permuted to rotate-half pairs (i, i + D/2). Same dot products, so compare after undoing it.
        D = cfg.head_dim
        to_interleaved = [(j % 2) * (D // 2) + j // 2 for j in range(D)]
        for l in range(cfg.num_hidden_layers):
            for n in ("q", "k", "v", "drift"):
                want = tensor_from(rh, rdata, f"layers.{l}.{n}")
                got = rec[l][n].numpy()
                if n in ("q", "k"):
                    got = got[..., to_interleaved]
                self.assertEqual(got.shape, want.shape)
                self.assertLess(np.abs(got - want).max(), 1e-5 * max(1.0, np.abs(want).max()), f"layer {l} {n}")


if __name__ == "__main__":
    unittest.main()
