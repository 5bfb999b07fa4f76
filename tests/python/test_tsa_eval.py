"""Tests for tools/tsa_eval.py and tools/tsa_torch.py. They need neither transformers nor a GPU: the model is
the stand-in of fake_llama.py, whose attention dispatches through a registry with transformers' call signature.

Run:  /usr/bin/python3 -m pytest tests/python/test_tsa_eval.py
The cross-check against `tsa run --save` needs TSA_BIN (ctest sets it) and ../shared/data/stories260k; those
tests skip cleanly without them. The check against real transformers on a GPU is device_verify_effect.py.
"""

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest

from test_support import HAVE_TORCH, HERE, SOURCE as ROOT, STORIES_DIR as STORIES, needs_torch  # noqa: E402

import capture_qkv as cq  # noqa: E402
import tsa_eval as te  # noqa: E402

try:
    import numpy as np
    import torch
    import fake_llama as fl
    import tsa_torch
    from test_capture_qkv import read_safetensors, tensor_from
except ImportError:  # pragma: no cover - exercised on machines without torch (HAVE_TORCH is False)
    pass


# --------------------------------------------------------------------------------------------------
# an independent checker of the tsa-effect/1 format (docs/effect.md)
# --------------------------------------------------------------------------------------------------

class FormatError(AssertionError):
    pass


def validate_effect(path):
    """Check every rule of docs/effect.md on a file; returns (effect dict, {name: numpy array}, metadata)."""
    header, meta, data = read_safetensors(path)  # also checks the container's structure
    if meta.get("format") != "tsa-effect/1":
        raise FormatError(f"metadata format is {meta.get('format')!r}")
    eff = json.loads(meta["effect"])
    tensors = {name: tensor_from(header, data, name) for name in header}
    if eff.get("format") != "tsa-effect/1":
        raise FormatError("effect.format")
    for key in ("model", "model_type", "num_layers", "q_heads", "kv_heads", "head_dim", "device", "dtype",
                "transformers", "torch", "params", "workload", "taus", "dense", "runs"):
        if key not in eff:
            raise FormatError(f"effect has no {key!r}")
    for key in ("window", "pool_kernel", "min_tokens", "sparse_layers", "delta", "layers"):
        if key not in eff["params"]:
            raise FormatError(f"params has no {key!r}")
    if eff["params"]["sparse_layers"] not in ("all", "half", "drift", "list"):
        raise FormatError("params.sparse_layers")
    work = eff["workload"]
    if work["kind"] not in ("text", "prompt", "needle") or "selection_case" not in work or "last_n" not in work:
        raise FormatError("workload")
    if header["tokens"]["dtype"] != "I32" or len(header["tokens"]["shape"]) != 1:
        raise FormatError("tokens must be I32 [L]")
    length = header["tokens"]["shape"][0]
    if work["selection_case"]["length"] != length:
        raise FormatError("selection_case.length != len(tokens)")
    if "token_strings" in meta and len(json.loads(meta["token_strings"])) != length:
        raise FormatError("token_strings length")
    nl, hq, window = eff["num_layers"], eff["q_heads"], eff["params"]["window"]
    sparse = set(eff["params"]["layers"])
    if not sparse <= set(range(nl)):
        raise FormatError("params.layers out of range")
    if {"ppl", "prefill_ms", "answers"} - set(eff["dense"]):
        raise FormatError("dense")
    if len(eff["runs"]) != len(eff["taus"]):
        raise FormatError("one run per tau")
    expected_names = {"tokens"}
    for t, (tau, run) in enumerate(zip(eff["taus"], eff["runs"])):
        if run["tau"] != tau:
            raise FormatError(f"runs[{t}].tau")
        for key in ("kl_last", "kl_mean", "top1_agreement", "ppl", "mean_kept_fraction", "layer_kept_fraction",
                    "jaccard_vs_dense", "prefill_ms", "needle"):
            if key not in run:
                raise FormatError(f"runs[{t}] has no {key!r}")
        if len(run["layer_kept_fraction"]) != nl or len(run["jaccard_vs_dense"]) != nl:
            raise FormatError(f"runs[{t}]: per-layer lists need {nl} entries")
        if not 0.0 <= run["top1_agreement"] <= 1.0 or run["kl_last"] < -1e-12 or run["kl_mean"] < -1e-12:
            raise FormatError(f"runs[{t}]: metric out of range")
        if work["kind"] == "text" and run["ppl"] is None:
            raise FormatError(f"runs[{t}]: text workload without ppl")
        if work["kind"] == "needle":
            for rec in run["needle"]:
                if {"length", "depth", "answer", "expected", "exact", "overlap"} - set(rec):
                    raise FormatError(f"runs[{t}].needle entry")
        elif run["needle"] != []:
            raise FormatError(f"runs[{t}].needle must be [] for {work['kind']}")
        fracs = []
        for l in range(nl):
            if l not in sparse:
                if run["jaccard_vs_dense"][l] is not None or run["layer_kept_fraction"][l] != 1.0:
                    raise FormatError(f"runs[{t}] layer {l}: a dense layer has jaccard null and fraction 1")
                continue
            if tau == 0:
                continue
            names = (f"runs.{t}.layers.{l}.kept", f"runs.{t}.layers.{l}.kept_dense")
            expected_names.update(names)
            kept, kept_dense = (tensors.get(n) for n in names)
            if kept is None or kept_dense is None:
                raise FormatError(f"{names[0]} / kept_dense missing")
            for n in names:
                if header[n]["dtype"] != "I32":
                    raise FormatError(f"{n} must be I32")
            if kept.shape != kept_dense.shape or kept.ndim != 2 or kept.shape[0] != hq:
                raise FormatError(f"{names[0]}: shapes {kept.shape} / {kept_dense.shape}, expected [{hq}, n]")
            for arr, n in ((kept, names[0]), (kept_dense, names[1])):
                if arr.min() < 0 or arr.max() >= length:
                    raise FormatError(f"{n}: index out of [0, {length})")
                if not (np.diff(arr, axis=1) > 0).all():
                    raise FormatError(f"{n}: rows must be sorted and unique")
                if not np.isin(np.arange(length - window, length), arr).all():
                    raise FormatError(f"{n}: the last W tokens must be kept")
            frac = kept.shape[1] / length
            if abs(run["layer_kept_fraction"][l] - frac) > 1e-12:
                raise FormatError(f"runs[{t}] layer {l}: layer_kept_fraction != n / L")
            jac = np.mean([len(set(a) & set(b)) / len(set(a) | set(b)) for a, b in zip(kept, kept_dense)])
            if abs(run["jaccard_vs_dense"][l] - jac) > 1e-9:
                raise FormatError(f"runs[{t}] layer {l}: jaccard_vs_dense does not match the tensors")
            fracs.append(frac)
        if tau > 0 and fracs and abs(run["mean_kept_fraction"] - np.mean(fracs)) > 1e-9:
            raise FormatError(f"runs[{t}]: mean_kept_fraction")
    if set(header) != expected_names:
        raise FormatError(f"tensors {sorted(set(header) ^ expected_names)} unexpected or missing")
    return eff, tensors, meta


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------

def make_model(seed=0, dtype=None, **cfg):
    torch.manual_seed(seed)
    model = fl.FakeForCausalLM(fl.make_config(**cfg)).eval()
    with torch.no_grad():  # non-trivial norms and biases, as in test_capture_qkv
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.3 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.copy_(0.5 * torch.randn_like(p))
    return model.to(dtype) if dtype is not None else model


def stories_model():
    cfg_json = json.load(open(os.path.join(STORIES, "hf", "config.json")))
    cfg = fl.make_config(**{k: cfg_json[k] for k in (
        "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "head_dim", "rope_theta", "rms_norm_eps", "tie_word_embeddings")})
    model = fl.FakeForCausalLM(cfg).eval()
    header, _, data = read_safetensors(os.path.join(STORIES, "hf", "model.safetensors"))
    model.load_state_dict({k: torch.from_numpy(tensor_from(header, data, k).copy()) for k in header}, strict=False)
    return model


def parse(argv):
    return te.build_parser().parse_args(argv)


@contextlib.contextmanager
def tsa_on(model, window, kernel, min_tokens, registry=None):
    """The model's attention switched to a fresh TsaAttention in the stand-in's registry."""
    registry = registry if registry is not None else fl.ALL_ATTENTION_FUNCTIONS
    att = te.TsaAttention(registry["sdpa"], window, kernel, min_tokens, torch.float64)
    te.register(att, registry)
    model.config._attn_implementation = te.NAME
    try:
        yield att
    finally:
        model.config._attn_implementation = "sdpa"


def logits_of(model, ids):
    with torch.no_grad():
        return model(ids).logits[0]


# --------------------------------------------------------------------------------------------------
# tsa_torch
# --------------------------------------------------------------------------------------------------

@needs_torch
class TestTsaTorch(unittest.TestCase):
    def reference_sparse(self, q, k, v, sets, scale):
        """fp64, one row at a time: row i of head h attends to keys j in S_h with j <= i; rows off S_h are 0."""
        hq, length, dim = q.shape
        g = hq // k.shape[0]
        out = torch.zeros(hq, length, dim, dtype=torch.float64)
        for h in range(hq):
            s = sorted(sets[h])
            for i in s:
                keys = [j for j in s if j <= i]
                w = torch.softmax(torch.stack([q[h, i].double() @ k[h // g, j].double() for j in keys]) * scale, 0)
                out[h, i] = sum(w[n] * v[h // g, j].double() for n, j in enumerate(keys))
        return out

    def test_sparse_attention_matches_fp64_reference(self):
        gen = torch.Generator().manual_seed(3)
        q, k, v = (torch.randn(h, 40, 8, generator=gen) for h in (4, 2, 2))
        sets = []
        for h in range(4):
            prefix = torch.randperm(35, generator=gen)[:20].tolist()
            sets.append(sorted(prefix + list(range(35, 40))))
        idx = torch.tensor(sets)
        got = tsa_torch.sparse_attention(q, k, v, idx, 8 ** -0.5)
        want = self.reference_sparse(q, k, v, sets, 8 ** -0.5)
        self.assertLess((got.double() - want).abs().max().item(), 1e-5)
        off = torch.ones(4, 40, dtype=torch.bool)
        off.scatter_(1, idx, False)
        self.assertTrue(torch.equal(got[off], torch.zeros_like(got[off])))  # dropped rows are exactly zero

    def test_all_kept_is_dense_causal_attention(self):
        gen = torch.Generator().manual_seed(4)
        q, k, v = (torch.randn(h, 30, 8, generator=gen) for h in (6, 3, 3))
        idx = torch.arange(30).expand(6, -1)
        got = tsa_torch.sparse_attention(q, k, v, idx, 0.3)
        want = self.reference_sparse(q, k, v, [list(range(30))] * 6, 0.3)
        self.assertLess((got.double() - want).abs().max().item(), 1e-5)

    def test_explicit_mask_is_gathered_per_head(self):
        gen = torch.Generator().manual_seed(5)
        q, k, v = (torch.randn(2, 20, 4, generator=gen) for _ in range(3))
        idx = torch.tensor([list(range(5, 20)), list(range(0, 10)) + list(range(15, 20))])
        causal = torch.ones(20, 20, dtype=torch.bool).tril()
        with_mask = tsa_torch.sparse_attention(q, k, v, idx, 0.5, causal)
        self.assertLess((with_mask - tsa_torch.sparse_attention(q, k, v, idx, 0.5)).abs().max().item(), 1e-6)

    def test_capacity_rule(self):
        # sorted G: 0.001, 0.002, 0.003, ... -> running sums 0.001, 0.003, 0.006
        g = torch.tensor([0.3, 0.002, 0.194, 0.001, 0.2, 0.003, 0.1, 0.1, 0.05, 0.05], dtype=torch.float64)
        self.assertEqual(tsa_torch.layer_capacity(g, 0.0035, 2), 10 - (2 + 1))  # n = 2 -> drop n + 1
        self.assertEqual(tsa_torch.layer_capacity(g, 0.0035, 8), 8)  # min_tokens wins
        self.assertEqual(tsa_torch.layer_capacity(g, 0.0061, 2), 10 - (3 + 1))
        self.assertIsNone(tsa_torch.layer_capacity(g, 0.001, 2))  # n == 0: dense (strict <)
        self.assertIsNone(tsa_torch.layer_capacity(g, 0.0, 2))

    def test_select_keeps_window_and_breaks_ties_low(self):
        hn = torch.tensor([[0.2, 0.1, 0.1, 0.1, 0.5], [0.0, 0.0, 0.0, 0.9, 0.1]], dtype=torch.float64)
        got = tsa_torch.select(hn, 3, 2).tolist()
        self.assertEqual(got, [[0, 1, 4, 5, 6], [0, 3, 4, 5, 6]])

    def test_score_layer_against_a_plain_loop(self):
        gen = torch.Generator().manual_seed(6)
        q, k = torch.randn(4, 24, 8, generator=gen), torch.randn(2, 24, 8, generator=gen)
        W, kern = 6, 5
        P = 24 - W
        raw = torch.zeros(4, P, dtype=torch.float64)
        for h in range(4):
            for i in range(P, 24):
                s = torch.softmax(torch.stack([q[h, i].double() @ k[h // 2, j].double() for j in range(i + 1)])
                                  / 8 ** 0.5, 0)
                raw[h] += s[:P] / W
        sm = torch.zeros_like(raw)
        for j in range(P):  # zero padding counted: always divide by the kernel width
            for t in range(-(kern // 2), kern // 2 + 1):
                if 0 <= j + t < P:
                    sm[:, j] += raw[:, j + t] / kern
        head_norm, layer_norm = tsa_torch.score_layer(q, k, W, kern)
        self.assertLess((head_norm - sm / (sm.sum(-1, keepdim=True) + 1e-8)).abs().max().item(), 1e-12)
        g = sm.mean(0)
        self.assertLess((layer_norm - g / (g.sum() + 1e-8)).abs().max().item(), 1e-12)

    def test_sparse_layer_choices(self):
        self.assertEqual(tsa_torch.half_layers(5), [2, 3, 4])
        drift = [1.0, 3.0, 2.0, 4.0, 2.5]
        d = np.array(drift) / sum(drift)
        for delta in (0.25, 0.5, 0.8):
            want = [i for i in range(5) if d[i] <= np.quantile(d, delta)]
            self.assertEqual(tsa_torch.drift_layers(drift, delta), want)
        self.assertEqual(te.choose_sparse_layers("3,1", 5, None, 0.5), ("list", [1, 3]))
        self.assertEqual(te.choose_sparse_layers("all", 3, None, 0.5), ("all", [0, 1, 2]))
        with self.assertRaises(te.EvalError):
            te.choose_sparse_layers("5", 5, None, 0.5)


# --------------------------------------------------------------------------------------------------
# the model path
# --------------------------------------------------------------------------------------------------

def masked_tsa_reference(selections):
    """A registry function that applies TSA by masking instead of compressing: fp64 softmax over keys j in S_h
    with j <= i for rows i in S_h, zero rows elsewhere; the selection is tsa_torch.selection on the layer's
    own (interleaved) Q/K. Records the sets in `selections` per layer."""
    def attend(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
        if module.layer_idx not in attend.sparse_layers:  # dense layers: the model's own kernel
            selections[module.layer_idx] = None
            return fl.ALL_ATTENTION_FUNCTIONS["sdpa"](module, query, key, value, attention_mask, dropout, scaling)
        q, k, v = query[0].double(), key[0].double(), value[0].double()
        hq, length, _ = q.shape
        rep = hq // k.shape[0]
        k, v = k.repeat_interleave(rep, 0), v.repeat_interleave(rep, 0)
        idx = tsa_torch.selection(query[0], key[0], attend.tau, attend.window, attend.kernel, attend.min_tokens)
        selections[module.layer_idx] = idx
        keep = torch.ones(hq, length, dtype=torch.bool)
        if idx is not None:
            keep = torch.zeros(hq, length, dtype=torch.bool).scatter_(1, idx, True)
        allowed = keep[:, :, None] & keep[:, None, :] & torch.ones(length, length, dtype=torch.bool).tril()
        s = (q @ k.transpose(1, 2)) * scaling
        p = torch.softmax(s.masked_fill(~allowed, float("-inf")), -1).nan_to_num(0.0)  # empty rows -> 0
        out = (p @ v) * keep[:, :, None]
        return out.to(query.dtype).transpose(0, 1)[None].contiguous(), None
    return attend


@needs_torch
class TestModelPath(unittest.TestCase):
    L = 120

    def ids(self, vocab=64, seed=1, length=None):
        g = torch.Generator().manual_seed(seed)
        return torch.randint(0, vocab, (1, length or self.L), generator=g)

    def test_tau0_reproduces_dense_logits(self):
        for cfg in ({}, {"attention_bias": True}, {"qk_norm": True, "num_attention_heads": 8}):
            model = make_model(**cfg)
            ids = self.ids()
            dense = logits_of(model, ids)
            with tsa_on(model, 16, 7, 32) as att:
                att.sparse_layers, att.mode, att.tau = {0, 1, 2}, "sparse", 0.0
                self.assertTrue(torch.equal(logits_of(model, ids), dense))  # tau 0 is the dense kernel itself
                self.assertEqual(att.kept, {0: None, 1: None, 2: None})
                # the compress / attend / scatter path with every token kept: dense logits to rounding
                saved = tsa_torch.select
                tsa_torch.select = lambda hn, cap, w: torch.arange(hn.shape[1] + w).expand(hn.shape[0], -1)
                try:
                    att.tau = 0.5
                    allkept = logits_of(model, ids)
                finally:
                    tsa_torch.select = saved
                self.assertEqual({l: tuple(i.shape) for l, i in att.kept.items()},
                                 {l: (model.config.num_attention_heads, self.L) for l in range(3)})
            err = (allkept - dense).abs().max().item()
            self.assertLess(err, 1e-5 * max(1.0, dense.abs().max().item()), cfg)

    def test_interleaved_run_matches_masked_reference(self):
        """Compression + scatter inside the model equals TSA applied by masks, layer after layer, in fp64;
        the kept sets recorded by tsa_eval equal those the reference selects on its own interleaved Q/K."""
        for cfg, sparse in (({}, {0, 1, 2}), ({"qk_norm": True, "num_attention_heads": 8}, {1, 2}),
                            ({"attention_bias": True, "num_key_value_heads": 4}, {0, 2})):
            model = make_model(dtype=torch.float64, **cfg)
            ids = self.ids()
            selections = {}
            ref_fn = masked_tsa_reference(selections)
            ref_fn.sparse_layers, ref_fn.tau, ref_fn.window, ref_fn.kernel, ref_fn.min_tokens = sparse, 0.05, 16, 5, 24
            fl.ALL_ATTENTION_FUNCTIONS["masked_ref"] = ref_fn
            model.config._attn_implementation = "masked_ref"
            try:
                want = logits_of(model, ids)
            finally:
                model.config._attn_implementation = "sdpa"
                del fl.ALL_ATTENTION_FUNCTIONS["masked_ref"]
            with tsa_on(model, 16, 5, 24) as att:
                att.sparse_layers, att.mode, att.tau = sparse, "sparse", 0.05
                got = logits_of(model, ids)
            self.assertLess((got - want).abs().max().item(), 1e-9, cfg)
            self.assertFalse(torch.allclose(got, logits_of(model, ids)), "TSA changed nothing: the case is empty")
            for l in range(3):
                if l not in sparse:
                    self.assertNotIn(l, att.kept)
                    continue
                self.assertIsNotNone(att.kept[l])
                self.assertTrue(torch.equal(att.kept[l], selections[l]), (cfg, l))

    def test_kv_cache_keeps_full_keys_and_decoding_is_dense(self):
        model = make_model()
        ids = self.ids()
        with tsa_on(model, 16, 7, 32) as att:
            att.sparse_layers, att.mode, att.tau = {0, 1, 2}, "sparse", 0.05
            with torch.no_grad():
                out = model(ids, use_cache=True)
                self.assertTrue(all(att.kept[l] is not None and att.kept[l].shape[1] < self.L for l in range(3)))
                att.kept = {}
                step = model(ids[:, :1], past_key_values=out.past_key_values, use_cache=True)
            self.assertEqual(att.kept, {})  # a single query takes the dense path, nothing selected
        self.assertEqual(out.past_key_values.get_seq_length(), self.L + 1)
        # the cached K/V are the dense projections of all L tokens (checked against a dense cached run)
        with torch.no_grad():
            dense = model(ids, use_cache=True).past_key_values
        self.assertTrue(torch.equal(out.past_key_values.layers[0][0][:, :, :self.L], dense.layers[0][0]))
        self.assertEqual(tuple(step.logits.shape), (1, 1, model.config.vocab_size))

    def test_evaluate_text_workload_and_effect_file(self):
        model = make_model(num_hidden_layers=4)
        with tempfile.TemporaryDirectory() as d:
            np.save(os.path.join(d, "t.npy"), self.ids(length=200)[0].numpy().astype(np.int32))
            args = parse(["--model", "fake", "--tokens-npy", os.path.join(d, "t.npy"), "--window", "16",
                          "--min-tokens", "32", "--sparse-layers", "all", "--taus", "0,0.01,0.05,0.2",
                          "--last-n", "48", "--out", os.path.join(d, "e.safetensors")])
            eff, tensors, strings = te.evaluate(model, None, args, registry=fl.ALL_ATTENTION_FUNCTIONS)
            self.assertEqual(model.config._attn_implementation, "sdpa")  # switched back afterwards
            out = os.path.join(d, "e.safetensors")
            te.write_effect(out, eff, tensors, strings, "pure")
            eff2, arrays, meta = validate_effect(out)
            self.assertEqual(sorted(os.listdir(d)), ["e.safetensors", "t.npy"])
        self.assertEqual(eff2, json.loads(json.dumps(eff)))
        runs = eff["runs"]
        self.assertEqual([r["tau"] for r in runs], [0.0, 0.01, 0.05, 0.2])
        self.assertEqual((runs[0]["kl_last"], runs[0]["kl_mean"], runs[0]["top1_agreement"]), (0.0, 0.0, 1.0))
        self.assertEqual(runs[0]["ppl"], eff["dense"]["ppl"])
        kept = [r["mean_kept_fraction"] for r in runs]
        self.assertEqual(kept, sorted(kept, reverse=True))
        self.assertLess(kept[-1], 0.95)
        self.assertGreater(runs[-1]["kl_mean"], 0.0)
        # layer 0 sees the dense input: its interleaved selection is the dense-capture selection
        for t in (1, 2, 3):
            self.assertTrue(np.array_equal(arrays[f"runs.{t}.layers.0.kept"], arrays[f"runs.{t}.layers.0.kept_dense"]))
        # dense perplexity, recomputed from full logits
        logits = logits_of(model, torch.from_numpy(arrays["tokens"].astype(np.int64))[None]).double()
        nll = -torch.log_softmax(logits[-49:-1], -1).gather(1, torch.from_numpy(arrays["tokens"][-48:].astype(
            np.int64)).view(-1, 1))
        self.assertAlmostEqual(eff["dense"]["ppl"], float(nll.mean().exp()), places=4)
        self.assertEqual(json.loads(meta["token_strings"]), [f"[{i}]" for i in arrays["tokens"]])

    def test_metrics(self):
        dense = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 3.0]])
        sparse = torch.tensor([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
        m = te.compare_logits(dense, sparse, torch.tensor([1, 2]), 2)
        self.assertEqual(m["kl_last"], 0.0)
        p = torch.softmax(torch.tensor([0.0, 2.0, 0.0], dtype=torch.float64), 0)
        q = torch.softmax(torch.tensor([2.0, 0.0, 0.0], dtype=torch.float64), 0)
        self.assertAlmostEqual(m["kl_mean"], float((p * (p / q).log()).sum()) / 2, places=12)
        self.assertEqual(m["top1_agreement"], 0.5)
        ls = torch.log_softmax(sparse.double(), -1)
        self.assertAlmostEqual(m["ppl"], float((-(ls[0, 1] + ls[1, 2]) / 2).exp()), places=12)
        self.assertEqual(te.score_answer("The best thing is to eat a sandwich and sit in Dolores Park on a sunny "
                                         "day.", te.OFFICIAL_ANSWER), (1, 1.0))
        self.assertEqual(te.score_answer("Eat a sandwich in the park", te.OFFICIAL_ANSWER), (0, 5 / 12))
        self.assertEqual(te.score_answer("", te.OFFICIAL_ANSWER), (0, 0.0))

    def test_drift_mode_uses_the_capture_drift(self):
        model = make_model(num_hidden_layers=4)
        ids = self.ids(length=100)
        rec = cq.capture_qkv(model, ids, [0, 1, 2, 3], torch.float32, verbose=False)
        drift = [float(rec[l]["drift"].double().mean()) for l in range(4)]
        with tempfile.TemporaryDirectory() as d:
            np.save(os.path.join(d, "t.npy"), ids[0].numpy())
            args = parse(["--model", "fake", "--tokens-npy", os.path.join(d, "t.npy"), "--window", "8",
                          "--min-tokens", "16", "--sparse-layers", "drift", "--delta", "0.5", "--taus", "0,0.05",
                          "--out", "x"])
            eff, _, _ = te.evaluate(model, None, args, registry=fl.ALL_ATTENTION_FUNCTIONS)
        self.assertEqual(eff["params"]["sparse_layers"], "drift")
        self.assertEqual(eff["params"]["layers"], tsa_torch.drift_layers(drift, 0.5))
        np.testing.assert_allclose(eff["params"]["drift"], drift, rtol=1e-5)


@needs_torch
class TestCommandLine(unittest.TestCase):
    def run_main(self, argv, model, tokenizer):
        saved = te.load_model, cq.load_tokenizer, te.REGISTRY
        te.load_model = lambda path, device, dtype, device_map=None: model.to(dtype)
        cq.load_tokenizer = lambda path: tokenizer
        te.REGISTRY = fl.ALL_ATTENTION_FUNCTIONS
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                rc = te.main(argv)
        finally:
            te.load_model, cq.load_tokenizer, te.REGISTRY = saved
        return rc, err.getvalue()

    def test_needle_workload(self):
        model = make_model(vocab_size=512, num_hidden_layers=3)
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "n.safetensors")
            rc, err = self.run_main(["--model", "fake", "--needle", "--lengths", "200,300", "--depths", "0,0.5,1",
                                     "--window", "16", "--min-tokens", "32", "--sparse-layers", "half",
                                     "--taus", "0,0.05", "--max-new-tokens", "6", "--device", "cpu",
                                     "--out", out], model, fl.FakeTokenizer())
            self.assertEqual(rc, 0, err)
            eff, arrays, meta = validate_effect(out)
        self.assertIn("tau 0.05: kept", err)  # progress on stderr
        self.assertEqual(eff["workload"]["kind"], "needle")
        self.assertEqual(eff["workload"]["selection_case"], {"length": 300, "depth": 0.5})
        self.assertEqual(eff["params"]["layers"], [1, 2])
        self.assertEqual(len(arrays["tokens"]), 300)
        strings = json.loads(meta["token_strings"])
        self.assertIn("Francisco?", "".join(strings))
        for run in eff["runs"]:
            self.assertEqual(sorted((n["length"], n["depth"]) for n in run["needle"]),
                             [(l, dp) for l in (200, 300) for dp in (0.0, 0.5, 1.0)])
            self.assertTrue(all(n["expected"] == te.OFFICIAL_ANSWER for n in run["needle"]))
            self.assertIsNone(run["ppl"])
        self.assertEqual(len(eff["dense"]["answers"]), 6)
        # tau 0 is the dense run: the same greedy answers
        self.assertEqual([n["answer"] for n in eff["runs"][0]["needle"]],
                         [a["answer"] for a in eff["dense"]["answers"]])
        for a in eff["dense"]["answers"]:
            self.assertEqual((a["exact"], a["overlap"]), te.score_answer(a["answer"], te.OFFICIAL_ANSWER))

    def test_prompt_workload(self):
        model = make_model(vocab_size=512, num_hidden_layers=2)
        with tempfile.TemporaryDirectory() as d:
            prompt = os.path.join(d, "p.txt")
            with open(prompt, "w") as f:
                f.write(" ".join(cq.HAYSTACK_SENTENCES * 2))
            out = os.path.join(d, "p.safetensors")
            rc, err = self.run_main(["--model", "fake", "--prompt-file", prompt, "--window", "8", "--min-tokens", "16",
                                     "--sparse-layers", "all", "--taus", "0,0.02", "--max-new-tokens", "5",
                                     "--out", out], model, fl.FakeTokenizer())
            self.assertEqual(rc, 0, err)
            eff, _, _ = validate_effect(out)
        self.assertEqual(eff["workload"]["kind"], "prompt")
        self.assertEqual(eff["runs"][0]["answer"], eff["dense"]["answers"][0]["answer"])
        self.assertEqual(len(eff["runs"][1]["answer"].split()), 5)

    def test_bad_input_is_a_message_and_exit_2(self):
        model = make_model()
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "x.safetensors")
            np.save(os.path.join(d, "t.npy"), np.array([1, 2, 999]))
            np.save(os.path.join(d, "ok.npy"), np.arange(50))
            cases = [
                (["--tokens-npy", os.path.join(d, "t.npy")], "token ids must lie in [0, 64)"),
                (["--tokens-npy", os.path.join(d, "missing.npy")], "missing.npy"),
                (["--text-file", os.path.join(d, "t.npy")], "needs a tokenizer"),
                (["--needle", "--lengths", "40"], "needs a tokenizer"),
                (["--tokens-npy", os.path.join(d, "ok.npy"), "--taus", "0,x"], "--taus must be"),
                (["--tokens-npy", os.path.join(d, "ok.npy"), "--taus", "0,1.5"], "--taus must lie in [0, 1)"),
                (["--tokens-npy", os.path.join(d, "ok.npy"), "--pool-kernel", "4"], "--pool-kernel"),
                (["--tokens-npy", os.path.join(d, "ok.npy"), "--sparse-layers", "0,9"], "--sparse-layers"),
            ]
            for extra, message in cases:
                rc, err = self.run_main(["--model", "m", "--out", out, "--device", "cpu", *extra], model, None)
                self.assertEqual(rc, 2, extra)
                self.assertIn(message, err, extra)
            rc, err = self.run_main(["--model", "m", "--needle", "--lengths", "20", "--out", out, "--device", "cpu"],
                                    model, fl.FakeTokenizer())
            self.assertEqual(rc, 2)
            self.assertIn("too short", err)
            self.assertEqual(sorted(os.listdir(d)), ["ok.npy", "t.npy"])
        r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "tsa_eval.py"), "--model", "m", "--out", "x"],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("one of the arguments", r.stderr)

    def test_interrupt_leaves_no_file(self):
        model = make_model()
        with tempfile.TemporaryDirectory() as d:
            np.save(os.path.join(d, "t.npy"), np.arange(100) % 60)
            out = os.path.join(d, "x.safetensors")
            argv = ["--model", "m", "--tokens-npy", os.path.join(d, "t.npy"), "--window", "8", "--min-tokens", "16",
                    "--sparse-layers", "all", "--out", out, "--writer", "pure"]
            # Ctrl-C while the grid runs
            calls = {"n": 0}
            saved_prefill = te.prefill

            def interrupted_prefill(*a, **k):
                calls["n"] += 1
                if calls["n"] == 6:
                    raise KeyboardInterrupt
                return saved_prefill(*a, **k)
            te.prefill = interrupted_prefill
            try:
                rc, err = self.run_main(argv, model, None)
            finally:
                te.prefill = saved_prefill
            self.assertEqual(rc, 130)
            self.assertIn("no output written", err)
            self.assertEqual(os.listdir(d), ["t.npy"])
            self.assertEqual(model.config._attn_implementation, "sdpa")
            # Ctrl-C in the middle of writing the file
            saved_write = cq.write_safetensors_pure

            def interrupted_write(path, entries, metadata):
                with open(path, "wb") as f:
                    f.write(b"partial")
                raise KeyboardInterrupt
            cq.write_safetensors_pure = interrupted_write
            try:
                rc, _ = self.run_main(argv, model, None)
            finally:
                cq.write_safetensors_pure = saved_write
            self.assertEqual(rc, 130)
            self.assertEqual(os.listdir(d), ["t.npy"])


@needs_torch
class TestFormatChecker(unittest.TestCase):
    """The checker used above must reject files that break the format (else the file tests prove nothing)."""

    def test_rejects_broken_files(self):
        model = make_model()
        with tempfile.TemporaryDirectory() as d:
            np.save(os.path.join(d, "t.npy"), (np.arange(100) * 7) % 60)
            args = parse(["--model", "m", "--tokens-npy", os.path.join(d, "t.npy"), "--window", "8",
                          "--min-tokens", "16", "--sparse-layers", "all", "--taus", "0,0.05", "--out", "x"])
            eff, tensors, strings = te.evaluate(model, None, args, registry=fl.ALL_ATTENTION_FUNCTIONS)
            path = os.path.join(d, "e.safetensors")
            te.write_effect(path, eff, tensors, strings, "pure")
            validate_effect(path)

            def broken(effect_change=None, tensor_change=None, fmt="tsa-effect/1"):
                e, t = json.loads(json.dumps(eff)), {k: v.clone() for k, v in tensors.items()}
                if effect_change:
                    effect_change(e)
                if tensor_change:
                    tensor_change(t)
                p = os.path.join(d, "b.safetensors")
                cq.write_capture(p, t, {"format": fmt, "effect": json.dumps(e)}, "pure")
                return p

            def swap(t):
                t["runs.1.layers.0.kept"][0, [0, 1]] = t["runs.1.layers.0.kept"][0, [1, 0]]

            def out_of_range(t):
                t["runs.1.layers.1.kept_dense"][0, -1] = 100

            def shorter(t):
                t["runs.1.layers.2.kept"] = t["runs.1.layers.2.kept"][:, 1:].contiguous()

            def drop(t):
                del t["runs.1.layers.0.kept_dense"]

            def jaccard(e):
                e["runs"][1]["jaccard_vs_dense"][1] = 0.5

            def runs(e):
                e["runs"].pop()

            for p in (broken(tensor_change=swap), broken(tensor_change=out_of_range), broken(tensor_change=shorter),
                      broken(tensor_change=drop), broken(effect_change=jaccard), broken(effect_change=runs),
                      broken(fmt="tsa-qkv/1")):
                with self.assertRaises((FormatError, KeyError)):
                    validate_effect(p)


@needs_torch
class TestBundledEffectFile(unittest.TestCase):
    """sample_data/stories260k_effect.safetensors follows the format and is what docs/effect.md says it is."""

    def test_bundled_file(self):
        eff, arrays, _ = validate_effect(os.path.join(ROOT, "sample_data", "stories260k_effect.safetensors"))
        self.assertEqual(eff["taus"], te.DEFAULT_TAUS)
        self.assertEqual((eff["model_type"], eff["num_layers"], eff["q_heads"], eff["kv_heads"], eff["head_dim"]),
                         ("llama", 5, 8, 4, 8))
        p = eff["params"]
        self.assertEqual((p["window"], p["pool_kernel"], p["min_tokens"], p["sparse_layers"], p["layers"]),
                         (32, 7, 64, "all", [0, 1, 2, 3, 4]))
        self.assertEqual((eff["workload"]["kind"], eff["workload"]["selection_case"]["length"]), ("text", 512))
        self.assertEqual(eff["runs"][0]["kl_mean"], 0.0)
        tokens = os.path.join(STORIES, "hf", "tokens.npy")
        if os.path.exists(tokens):
            self.assertEqual(arrays["tokens"].tolist(), np.load(tokens).astype(np.int64).ravel().tolist())


@needs_torch
@unittest.skipUnless(os.path.isdir(os.path.join(STORIES, "hf")), "shared stories260K data not present")
class TestStories260K(unittest.TestCase):
    """The real trained model through the stand-in: the selection tsa_eval runs inside the model equals
    `tsa run --save` on the reference capture qkv_512.safetensors of the same 512 tokens."""

    def tsa_run(self, tau, window, kernel, min_tokens, tmp):
        tsa = os.environ.get("TSA_BIN")
        if not tsa or not os.path.exists(tsa):
            self.skipTest("TSA_BIN does not point at the tsa binary")
        out = os.path.join(tmp, f"run{tau}.safetensors")
        subprocess.run([tsa, "run", os.path.join(STORIES, "qkv_512.safetensors"), "--sparse-layers", "all",
                        "--tau", str(tau), "--window", str(window), "--pool-kernel", str(kernel), "--min-tokens",
                        str(min_tokens), "--no-error", "--quiet", "--save", out], check=True, stdout=subprocess.DEVNULL)
        header, meta, data = read_safetensors(out)
        return {name: tensor_from(header, data, name) for name in header}, json.loads(meta["tsa"])

    def model_selection_mismatches(self, tau, tsa_params, model_params):
        """Heads whose kept set differs between tsa run (tsa_params) and the model path (model_params)."""
        model = stories_model()
        ids = torch.from_numpy(np.load(os.path.join(STORIES, "hf", "tokens.npy")).astype(np.int64))[None]
        window, kernel, min_tokens = model_params
        with tsa_on(model, window, kernel, min_tokens) as att:
            att.sparse_layers, att.mode = set(range(5)), "observe"
            logits_of(model, ids)
            scores = dict(att.scores)
        with tempfile.TemporaryDirectory() as tmp:
            ours, summary = self.tsa_run(tau, *tsa_params, tmp)
        bad = []
        for l in range(5):
            head_norm, layer_norm = scores[l]
            cap = tsa_torch.layer_capacity(layer_norm, tau, min_tokens)
            if cap is None or f"layers.{l}.indices" not in ours:
                if (cap is None) != (f"layers.{l}.indices" not in ours):
                    bad.append((l, "dense/sparse decision"))
                continue
            got = tsa_torch.select(head_norm, cap, window).numpy()
            want = ours[f"layers.{l}.indices"]
            if got.shape != want.shape:
                bad.append((l, "capacity"))
                continue
            bad += [(l, h) for h in range(got.shape[0]) if not np.array_equal(got[h], want[h])]
        return bad

    def test_model_path_selection_equals_tsa_run(self):
        for tau in (0.005, 0.05):
            self.assertEqual(self.model_selection_mismatches(tau, (32, 7, 64), (32, 7, 64)), [], tau)

    def test_perturbed_parameter_makes_the_check_fail(self):
        self.assertNotEqual(self.model_selection_mismatches(0.05, (32, 7, 64), (32, 5, 64)), [])
        self.assertNotEqual(self.model_selection_mismatches(0.05, (32, 7, 64), (32, 7, 400)), [])

    def test_first_sparse_layer_of_the_effect_file_equals_tsa_run(self):
        """In an all-sparse run layer 0 sees the dense input, so its interleaved kept sets must be exactly the
        ones `tsa run --save` computes from the dense capture."""
        model = stories_model()
        with tempfile.TemporaryDirectory() as tmp:
            args = parse(["--model", "stories260k", "--tokens-npy", os.path.join(STORIES, "hf", "tokens.npy"),
                          "--window", "32", "--min-tokens", "64", "--sparse-layers", "all", "--taus", "0,0.005,0.05",
                          "--out", "x"])
            eff, tensors, _ = te.evaluate(model, None, args, registry=fl.ALL_ATTENTION_FUNCTIONS)
            for t, tau in ((1, 0.005), (2, 0.05)):
                ours, _ = self.tsa_run(tau, 32, 7, 64, tmp)
                self.assertTrue(np.array_equal(tensors[f"runs.{t}.layers.0.kept"].numpy(), ours["layers.0.indices"]))
        self.assertEqual(eff["runs"][0]["kl_mean"], 0.0)
        self.assertGreater(eff["runs"][2]["kl_mean"], eff["runs"][1]["kl_mean"])


if __name__ == "__main__":
    unittest.main()
