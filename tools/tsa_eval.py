#!/usr/bin/env python3
"""What tau does to the model's answer: Token Sparse Attention inside a Hugging Face causal LM, end to end.

Runs a Llama / Mistral / Qwen2 / Qwen3 causal LM once dense and once per tau with Token Sparse Attention in
the attention of the chosen sparse layers, and writes a `tsa-effect/1` file (docs/effect.md) with, per tau:
KL(dense || sparse) of the next-token distribution, top-1 agreement, perplexity, needle answers and scores,
prefill time, the true per-layer kept fraction and kept index sets under interleaved execution (earlier
layers already sparse) and the kept sets the same selection gives on the dense run's Q/K.

How TSA gets into the model: through transformers' attention-function registry (the supported extension
point; `AttentionInterface.register` in 4.51+ and 5.x), under the name "tsa". The model's attention module
projects Q/K/V, applies RoPE and updates the KV cache with the FULL K/V, then calls the registered function,
which (in a sparse layer, during prefill) scores, selects, compresses Q/K/V, runs causal attention on the
compressed sequence and scatters the output back with zero rows, before the module's o_proj: the order of
the official hijack (sparse_attn/llama_hijack_4_46.py). Dense layers, tau 0 and decoding steps call the
registry's own "sdpa" function, so a tau-0 run is the dense run. The selection itself is tools/tsa_torch.py.

Workloads: a built-in needle-in-a-haystack (the official needle, question and answer by default), a prompt
file (greedy answer), or a text file / token-id .npy for perplexity.
"""

import argparse
import json
import os
import re
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import capture_qkv as cq  # noqa: E402  (atomic safetensors writer, haystack, token strings, layer lookup)

FORMAT = "tsa-effect/1"
NAME = "tsa"  # the name the attention function is registered under
DEFAULT_TAUS = [0.0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05]
# The official needle test's defaults (main.py of the authors' repository).
OFFICIAL_NEEDLE = "\nThe best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.\n"
OFFICIAL_QUESTION = "What is the best thing to do in San Francisco?"
OFFICIAL_ANSWER = "eat a sandwich and sit in Dolores Park on a sunny day."


class EvalError(RuntimeError):
    """An error with a message meant for the user (printed without a traceback; exit code 2)."""


def log(msg):
    print(f"[tsa_eval] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# the attention function
# --------------------------------------------------------------------------------------------------

class TsaAttention:
    """The function registered as "tsa". What it does depends on `mode`, set by the driver per forward:
      dense    every layer calls the dense kernel (the baseline, and decoding steps always)
      observe  dense output; in sparse layers it also scores the dense Q/K (head_norm / layer_norm kept)
      sparse   sparse layers run TSA at `tau`; the kept index sets (or None) are recorded per layer
    """

    def __init__(self, dense_fn, window, kernel, min_tokens, score_dtype):
        import torch
        self.dense_fn = dense_fn
        self.window, self.kernel, self.min_tokens = window, kernel, min_tokens
        self.score_dtype = score_dtype or torch.float64
        self.mode, self.tau, self.sparse_layers = "dense", 0.0, set()
        self.scores, self.kept = {}, {}

    def __call__(self, module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
        import tsa_torch
        layer = getattr(module, "layer_idx", None)
        length = query.shape[2]
        prefill = length > 1 and key.shape[2] == length  # the official hijack: selection only at prefill
        if self.mode == "dense" or layer not in self.sparse_layers or not prefill:
            return self.dense_fn(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                 **kwargs)
        if query.shape[0] != 1:
            raise EvalError("tsa attention runs batch size 1 only")
        scale = scaling if scaling is not None else query.shape[-1] ** -0.5
        q, k, v = query[0], key[0], value[0]
        if self.mode == "observe":
            if not tsa_torch.is_dense(length, 1.0, self.window, self.min_tokens):  # long enough to score
                self.scores[layer] = tsa_torch.score_layer(q, k, self.window, self.kernel, scale, self.score_dtype)
            return self.dense_fn(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                 **kwargs)
        indices = None
        if not tsa_torch.is_dense(length, self.tau, self.window, self.min_tokens):
            head_norm, layer_norm = tsa_torch.score_layer(q, k, self.window, self.kernel, scale, self.score_dtype)
            capacity = tsa_torch.layer_capacity(layer_norm, self.tau, self.min_tokens)
            if capacity is not None:
                indices = tsa_torch.select(head_norm, capacity, self.window)
        self.kept[layer] = indices
        if indices is None:
            return self.dense_fn(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                 **kwargs)
        mask = None
        if attention_mask is not None:  # an explicit [B, 1, Lq, Lk] mask (older versions build one)
            mask = attention_mask[0, 0] if attention_mask.dim() == 4 else attention_mask
        out = tsa_torch.sparse_attention(q, k, v, indices, scale, mask)
        return out.transpose(0, 1).unsqueeze(0).contiguous(), None


def register(attention, registry=None):
    """Register `attention` as "tsa" in transformers' registry (or in `registry`, a dict, for stand-ins) and,
    where transformers has one, the sdpa causal-mask builder under the same name (mask construction is
    looked up by the same name; an unknown name would not get a causal mask)."""
    if registry is not None:
        registry[NAME] = attention
        return
    try:
        from transformers import AttentionInterface  # 4.51+, 5.x
        AttentionInterface.register(NAME, attention)
    except ImportError:
        try:
            from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS  # 4.48 - 4.50: a plain mapping
        except ImportError:
            raise EvalError("this transformers version has no attention-function registry (needs 4.48 or "
                            "newer; 4.4x before 4.48 keeps attention inside each model's classes)")
        ALL_ATTENTION_FUNCTIONS[NAME] = attention
    try:
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
        AttentionMaskInterface.register(NAME, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])
    except ImportError:
        pass  # before the mask registry the model builds an explicit 4-D causal mask for unknown names


def dense_kernel(registry=None):
    """The registry's sdpa function: what dense layers, tau 0 and decoding run."""
    if registry is not None:
        return registry["sdpa"]
    try:
        from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
        return ALL_ATTENTION_FUNCTIONS["sdpa"]
    except (ImportError, KeyError):
        raise EvalError("this transformers version has no 'sdpa' attention function in its registry "
                        "(needs 4.48 or newer)")


# --------------------------------------------------------------------------------------------------
# forwards
# --------------------------------------------------------------------------------------------------

def _sync(device):
    import torch
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def prefill(model, ids, tail, want_cache=False):
    """One prefill of ids ([1, L]). Returns (logits of the last `tail` positions [tail, V] float32,
    cache or None, milliseconds). The LM head runs on the tail only, so long prompts need no [L, V] logits."""
    import torch
    base = getattr(model, "base_model", model)
    head = model.get_output_embeddings()
    _sync(ids.device)
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = base(input_ids=ids, use_cache=want_cache)
        hidden = out.last_hidden_state[0, -tail:]
        _sync(ids.device)
        ms = (time.perf_counter() - t0) * 1e3
        logits = head(hidden.to(head.weight.device)).float()
    return logits, (out.past_key_values if want_cache else None), ms


def greedy(model, cache, first_logits, max_new, eos, device):
    """Greedy continuation from the prefill's last logits; decoding steps attend densely over the full cache
    (as in the official hijack, where a single query token takes the dense path)."""
    import torch
    ids = []
    nxt = int(first_logits.argmax())
    with torch.inference_mode():
        for step in range(max_new):
            if eos is not None and nxt in eos:
                break
            ids.append(nxt)
            if step + 1 == max_new:
                break
            out = model(input_ids=torch.tensor([[nxt]], device=device), past_key_values=cache, use_cache=True)
            cache = out.past_key_values
            nxt = int(out.logits[0, -1].argmax())
    return ids


def drift_profile(model, ids):
    """Per decoder layer: mean over tokens of ||h_out - h_in|| / (||h_in|| + 1e-8) on a dense prefill."""
    import torch
    layers = cq.find_decoder_layers(model)
    drift, undo = {}, []

    def wrap(i, orig):
        def forward(*args, **kwargs):
            h_in = args[0] if args else kwargs["hidden_states"]
            out = orig(*args, **kwargs)
            h_out = out[0] if isinstance(out, (tuple, list)) else out
            drift[i] = float(cq._drift(h_in, h_out).double().mean())
            return out
        return forward

    try:
        for i, layer in enumerate(layers):
            had_own = "forward" in layer.__dict__
            orig = layer.forward
            layer.forward = wrap(i, orig)
            undo.append(lambda m=layer, f=orig, own=had_own:
                        setattr(m, "forward", f) if own else m.__dict__.pop("forward", None))
        with torch.inference_mode():
            getattr(model, "base_model", model)(input_ids=ids, use_cache=False)
    finally:
        for fn in reversed(undo):
            fn()
    return [drift[i] for i in range(len(layers))]


# --------------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------------

def compare_logits(dense, sparse, ids_tail, last_n):
    """KL(dense || sparse) at the last position and its mean over the last `last_n` positions, top-1
    agreement there, and the perplexity of the last `last_n` tokens. Logit rows are positions
    L-last_n-1 .. L-1; row r predicts token L-last_n-1+r+1; ids_tail holds the last `last_n` token ids."""
    import torch
    lp_d = torch.log_softmax(dense.double(), dim=-1)
    lp_s = torch.log_softmax(sparse.double(), dim=-1)
    kl = (lp_d.exp() * (lp_d - lp_s)).sum(dim=-1)[1:]  # the last last_n positions
    top1 = (dense[1:].argmax(-1) == sparse[1:].argmax(-1)).double().mean()
    return {"kl_last": float(kl[-1]), "kl_mean": float(kl.mean()), "top1_agreement": float(top1),
            "ppl": perplexity(sparse, ids_tail)}


def perplexity(logits, ids_tail):
    """exp(mean NLL) of the last len(ids_tail) tokens, predicted by logit rows 0 .. len-1."""
    import torch
    n = ids_tail.shape[0]
    lp = torch.log_softmax(logits[:n].double(), dim=-1)
    nll = -lp.gather(1, ids_tail.to(lp.device).view(-1, 1)).mean()
    return float(nll.exp())


def words(text):
    return re.findall(r"[a-z0-9]+", text.lower())


def score_answer(answer, expected):
    """(exact, overlap): exact 1 when the expected answer's words occur contiguously in the answer;
    overlap = share of the expected answer's words (with multiplicity) found in the answer (recall)."""
    a, e = words(answer), words(expected)
    if not e:
        return 0, 0.0
    exact = int(any(a[i:i + len(e)] == e for i in range(len(a) - len(e) + 1)))
    pool = list(a)
    hits = 0
    for w in e:
        if w in pool:
            pool.remove(w)
            hits += 1
    return exact, hits / len(e)


# --------------------------------------------------------------------------------------------------
# workloads
# --------------------------------------------------------------------------------------------------

def parse_list(spec, option, kind=float):
    """A comma-separated option value as a non-empty list of `kind` (float or int)."""
    noun = "integers" if kind is int else "numbers"
    try:
        values = [kind(x) for x in spec.split(",") if x.strip()]
    except ValueError:
        raise EvalError(f"{option} must be a comma-separated list of {noun}, got {spec!r}")
    if not values:
        raise EvalError(f"{option} is empty")
    return values


def build_cases(args, tokenizer):
    """(kind, source, cases, selection index). A case: {"ids", "length", "depth", "expected"}."""
    if args.needle:
        if tokenizer is None:
            raise EvalError(f"--needle needs a tokenizer; none could be loaded from {args.model}")
        lengths = parse_list(args.lengths, "--lengths", int)
        depths = parse_list(args.depths, "--depths")
        question = f"\n\nQuestion: {args.question}\nAnswer:"
        cases = []
        for length in lengths:
            for depth in depths:
                try:
                    ids, _ = cq.build_haystack(tokenizer, length, depth, args.needle_text, question, args.seed,
                                               option="--depths")
                except cq.CaptureError as e:
                    raise EvalError(str(e))
                cases.append({"ids": ids, "length": length, "depth": depth, "expected": args.expected})
        if args.selection_case:
            try:
                length, depth = args.selection_case.split(",")
                sel = next(i for i, c in enumerate(cases)
                           if c["length"] == int(length) and abs(c["depth"] - float(depth)) < 1e-9)
            except (ValueError, StopIteration):
                raise EvalError(f"--selection-case {args.selection_case!r} is not one of the LENGTH,DEPTH cases")
        else:  # the longest length, the depth nearest the middle
            sel = min(range(len(cases)), key=lambda i: (-cases[i]["length"], abs(cases[i]["depth"] - 0.5)))
        return "needle", "built-in needle", cases, sel
    if args.tokens_npy:
        import numpy as np
        try:
            arr = np.load(args.tokens_npy)
        except (OSError, ValueError) as e:
            raise EvalError(f"{args.tokens_npy}: cannot read a .npy array ({e})")
        if arr.ndim == 2 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise EvalError(f"{args.tokens_npy}: expected a 1-D integer array, got {arr.dtype} {arr.shape}")
        ids, kind, source = [int(x) for x in arr], "text", os.path.basename(args.tokens_npy)
    else:
        path = args.text_file or args.prompt_file
        if tokenizer is None:
            raise EvalError(f"{path}: reading text needs a tokenizer; none could be loaded from {args.model}")
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise EvalError(f"{path}: cannot read UTF-8 text ({e})")
        ids = list(tokenizer.encode(text, add_special_tokens=True))
        kind, source = ("text" if args.text_file else "prompt"), os.path.basename(path)
    if args.max_tokens is not None and len(ids) > args.max_tokens:
        log(f"input has {len(ids)} tokens; keeping the last {args.max_tokens} (--max-tokens)"
            if kind == "prompt" else f"input has {len(ids)} tokens; keeping the first {args.max_tokens}")
        ids = ids[-args.max_tokens:] if kind == "prompt" else ids[:args.max_tokens]
    if len(ids) < 2:
        raise EvalError(f"{source}: the input has {len(ids)} token(s); at least 2 are needed")
    return kind, source, [{"ids": ids, "length": len(ids), "depth": None, "expected": None}], 0


def choose_sparse_layers(spec, num_layers, drift, delta):
    """(mode, layers) for --sparse-layers half|all|drift|LIST."""
    import tsa_torch
    spec = spec.strip().lower()
    if spec == "half":
        return "half", tsa_torch.half_layers(num_layers)
    if spec == "all":
        return "all", list(range(num_layers))
    if spec == "drift":
        return "drift", tsa_torch.drift_layers(drift, delta)
    layers = sorted(set(parse_list(spec, "--sparse-layers", int)))
    bad = [l for l in layers if not 0 <= l < num_layers]
    if bad:
        raise EvalError(f"--sparse-layers {spec!r}: the model has layers 0..{num_layers - 1}")
    return "list", layers


# --------------------------------------------------------------------------------------------------
# the evaluation
# --------------------------------------------------------------------------------------------------

# A stand-in model's attention registry (a dict with "sdpa"); None means transformers' own registry.
REGISTRY = None


def evaluate(model, tokenizer, args, registry=None):
    """Run the whole grid; returns (effect dict, tensors dict, token strings). The model's attention dispatch
    is switched to "tsa" for the run and back afterwards."""
    import torch
    registry = registry if registry is not None else REGISTRY
    cfg = model.config
    num_layers = len(cq.find_decoder_layers(model))
    device = model.get_input_embeddings().weight.device
    kind, source, cases, sel = build_cases(args, tokenizer)
    vocab = getattr(cfg, "vocab_size", None)
    for c in cases:
        if vocab is not None and not all(0 <= i < vocab for i in c["ids"]):
            raise EvalError(f"{source}: token ids must lie in [0, {vocab}) for this model")
    last_n = max(1, min(args.last_n, cases[sel]["length"] - 1))
    taus = parse_list(args.taus, "--taus") if isinstance(args.taus, str) else list(args.taus)
    if any(t < 0 or t >= 1 for t in taus):
        raise EvalError(f"--taus must lie in [0, 1), got {taus}")
    if args.window < 1 or args.min_tokens < 0 or args.pool_kernel < 1 or args.pool_kernel % 2 == 0:
        raise EvalError("--window must be >= 1, --min-tokens >= 0 and --pool-kernel a positive odd number")
    score_dtype = {"f64": torch.float64, "f32": torch.float32}[args.score_dtype]
    attention = TsaAttention(dense_kernel(registry), args.window, args.pool_kernel, args.min_tokens, score_dtype)
    register(attention, registry)
    previous = getattr(cfg, "_attn_implementation", None)
    switch_attention(model, NAME, registry)
    try:
        return _evaluate(model, tokenizer, args, attention, cases, sel, kind, source, taus, last_n, num_layers,
                         device)
    finally:
        attention.mode = "dense"
        if previous is not None:
            switch_attention(model, previous, registry)


def switch_attention(model, name, registry):
    """Point the model's attention dispatch at `name` (5.x: set_attn_implementation; else the config field)."""
    if registry is None and hasattr(model, "set_attn_implementation"):
        try:
            model.set_attn_implementation(name)
            return
        except (ValueError, TypeError, AttributeError) as e:
            log(f"set_attn_implementation({name!r}) failed ({e}); setting config._attn_implementation")
    model.config._attn_implementation = name


def _evaluate(model, tokenizer, args, attention, cases, sel, kind, source, taus, last_n, num_layers, device):
    import torch
    import tsa_torch
    cfg = model.config
    case = cases[sel]
    length = case["length"]
    eos = getattr(tokenizer, "eos_token_id", None) if tokenizer is not None else None
    eos = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None} or None

    ids = torch.tensor([case["ids"]], dtype=torch.long, device=device)
    ids_tail = torch.tensor(case["ids"][-last_n:], dtype=torch.long)
    drift = None
    if args.sparse_layers.strip().lower() == "drift":
        log("profiling per-layer hidden-state drift (dense prefill)")
        drift = drift_profile(model, ids)
    mode, sparse_layers = choose_sparse_layers(args.sparse_layers, num_layers, drift, args.delta)
    attention.sparse_layers = set(sparse_layers)
    log(f"{length} tokens ({kind}, {len(cases)} case(s)), sparse layers {sparse_layers} of {num_layers}, "
        f"W {args.window}, k {args.pool_kernel}, min_tokens {args.min_tokens}, taus {taus}")

    def timed_prefill(mode_name, tau=0.0):
        """Prefill of the selection case in a mode: one untimed warm-up (first-call kernel set-up would
        otherwise be billed to whichever run comes first), then the median of --repeats timed prefills."""
        attention.mode, attention.tau = mode_name, tau
        prefill(model, ids, 1)
        times, result = [], None
        for _ in range(max(1, args.repeats)):
            attention.kept = {}
            result = prefill(model, ids, last_n + 1, want_cache=(kind != "text"))
            times.append(result[2])
        return result[0], result[1], statistics.median(times), dict(attention.kept)

    def answer_cases(mode_name, tau, selection_cache=None, selection_logits=None):
        """Greedy answers for every case (prompt / needle workloads)."""
        out = []
        for i, c in enumerate(cases):
            if i == sel and selection_cache is not None:
                cache, first = selection_cache, selection_logits[-1]
            else:
                attention.mode, attention.tau = mode_name, tau
                logits, cache, _ = prefill(model, torch.tensor([c["ids"]], device=device), 1, want_cache=True)
                first = logits[-1]
            attention.mode = "dense"  # decoding steps: single query, dense over the full cache
            gen = greedy(model, cache, first, args.max_new_tokens, eos, device)
            text = tokenizer.decode(gen, skip_special_tokens=True) if tokenizer is not None else str(gen)
            rec = {"answer": text.strip()}
            if kind == "needle":
                exact, overlap = score_answer(text, c["expected"])
                rec = {"length": c["length"], "depth": c["depth"], "answer": text.strip(),
                       "expected": c["expected"], "exact": exact, "overlap": overlap}
            out.append(rec)
        return out

    # the dense baseline: timed plain dense, then the observing pass (dense output, dense-Q/K scores)
    dense_logits, dense_cache, dense_ms, _ = timed_prefill("dense")
    attention.scores = {}
    attention.mode = "observe"
    prefill(model, ids, 1)
    dense_scores = {l: (hn, ln) for l, (hn, ln) in attention.scores.items()}
    attention.scores = {}
    dense = {"ppl": perplexity(dense_logits, ids_tail) if kind == "text" else None, "prefill_ms": dense_ms,
             "answers": answer_cases("dense", 0.0, dense_cache, dense_logits) if kind != "text" else []}
    del dense_cache
    log(f"dense: prefill {dense_ms:.2f} ms" + (f", ppl {dense['ppl']:.4f}" if dense["ppl"] is not None else ""))

    runs, tensors = [], {"tokens": torch.tensor(case["ids"], dtype=torch.int32)}
    hq = cfg.num_attention_heads
    for ti, tau in enumerate(taus):
        logits, cache, ms, kept = timed_prefill("sparse", tau)
        run = {"tau": tau, **compare_logits(dense_logits, logits, ids_tail, last_n)}
        if kind != "text":
            run["ppl"] = None
        fractions, jaccard, dense_capture_fraction = [], [], []
        for l in range(num_layers):
            if l not in attention.sparse_layers:
                fractions.append(1.0)
                jaccard.append(None)
                dense_capture_fraction.append(1.0)
                continue
            idx = kept.get(l)
            hn_ln = dense_scores.get(l)
            dense_cap = None
            if hn_ln is not None and tau > 0:
                dense_cap = tsa_torch.layer_capacity(hn_ln[1], tau, args.min_tokens)
            dense_capture_fraction.append(1.0 if dense_cap is None else (dense_cap + args.window) / length)
            if idx is None:  # the layer stayed dense at this tau: every head keeps every token
                idx = torch.arange(length, device=device).unsqueeze(0).expand(hq, -1)
                idx_dense = idx
            else:
                # the dense run's scores, cut at the same capacity: the same selection on dense Q/K
                idx_dense = tsa_torch.select(hn_ln[0], idx.shape[1] - args.window, args.window)
            fractions.append(idx.shape[1] / length)
            jaccard.append(tsa_torch.jaccard(idx.cpu(), idx_dense.cpu()))
            if tau > 0:
                tensors[f"runs.{ti}.layers.{l}.kept"] = idx.to(torch.int32).cpu().contiguous()
                tensors[f"runs.{ti}.layers.{l}.kept_dense"] = idx_dense.to(torch.int32).cpu().contiguous()
        sparse_fracs = [fractions[l] for l in sparse_layers]
        run.update({"mean_kept_fraction": sum(sparse_fracs) / len(sparse_fracs) if sparse_fracs else 1.0,
                    "layer_kept_fraction": fractions, "jaccard_vs_dense": jaccard,
                    "layer_kept_fraction_dense_capture": dense_capture_fraction, "prefill_ms": ms})
        answers = answer_cases("sparse", tau, cache, logits) if kind != "text" else []
        del cache
        run["needle"] = answers if kind == "needle" else []
        if kind == "prompt":
            run["answer"] = answers[0]["answer"]
        runs.append(run)
        msg = (f"tau {tau:g}: kept {run['mean_kept_fraction']:.3f}, KL last {run['kl_last']:.3g} "
               f"mean {run['kl_mean']:.3g}, top-1 {run['top1_agreement']:.3f}")
        if run["ppl"] is not None:
            msg += f", ppl {run['ppl']:.4f}"
        if kind == "needle":
            msg += f", needle overlap {sum(a['overlap'] for a in answers) / len(answers):.2f}"
        log(msg + f", prefill {ms:.2f} ms ({ti + 1}/{len(taus)})")

    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // hq
    weight = next(model.parameters())
    effect = {
        "format": FORMAT, "model": args.model, "model_type": str(getattr(cfg, "model_type", "")),
        "num_layers": num_layers, "q_heads": hq, "kv_heads": getattr(cfg, "num_key_value_heads", hq) or hq,
        "head_dim": head_dim, "device": device.type, "dtype": str(weight.dtype).replace("torch.", ""),
        "transformers": cq.transformers_version(), "torch": torch.__version__,
        "params": {"window": args.window, "pool_kernel": args.pool_kernel, "min_tokens": args.min_tokens,
                   "sparse_layers": mode, "delta": args.delta, "layers": sparse_layers,
                   "score_dtype": args.score_dtype},
        "workload": {"kind": kind, "source": source, "last_n": last_n,
                     "selection_case": {"length": length, "depth": case["depth"]}},
        "taus": taus, "dense": dense, "runs": runs,
    }
    if drift is not None:
        effect["params"]["drift"] = drift
    if kind == "needle":
        effect["workload"].update({"needle": args.needle_text, "question": args.question, "expected": args.expected,
                                   "lengths": sorted({c["length"] for c in cases}),
                                   "depths": sorted({c["depth"] for c in cases}),
                                   "max_new_tokens": args.max_new_tokens})
    return effect, tensors, cq.token_strings(tokenizer, case["ids"])


def write_effect(path, effect, tensors, strings, writer="auto"):
    """Atomic write (temp file + rename): an interrupted run leaves no half-written file."""
    metadata = {"format": FORMAT, "effect": json.dumps(effect, ensure_ascii=False, allow_nan=False)}
    if strings is not None:
        metadata["token_strings"] = json.dumps(strings, ensure_ascii=False)
    return cq.write_capture(path, tensors, metadata, writer)


# --------------------------------------------------------------------------------------------------
# loading and the command line
# --------------------------------------------------------------------------------------------------

def load_model(path, device, dtype, device_map=None):
    """AutoModelForCausalLM from local files, eval mode (capture_qkv's loader); attention dispatch is switched
    to "tsa" later."""
    return cq.load_model(path, device, dtype, device_map, error=EvalError)


def build_parser():
    p = argparse.ArgumentParser(
        prog="tsa_eval.py",
        description="Run a Hugging Face causal LM dense and with Token Sparse Attention for a grid of tau values "
                    "and write what it does to the model's answer into a tsa-effect/1 file (docs/effect.md).",
        epilog="Examples:\n"
               "  tsa_eval.py --model ./Qwen2.5-7B-Instruct --needle --lengths 4096,8192 --depths 0,0.5,1 --out n.safetensors\n"
               "  tsa_eval.py --model ./llama --text-file book.txt --max-tokens 16384 --sparse-layers drift --out t.safetensors\n"
               "  tsa_eval.py --model stories260k/hf --tokens-npy stories260k/hf/tokens.npy --window 32 --min-tokens 64 \\\n"
               "              --sparse-layers all --dtype f32 --out sample_data/stories260k_effect.safetensors",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="local model folder (or a name already in the local HF cache)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--needle", action="store_true", help="built-in needle-in-a-haystack (--lengths x --depths)")
    src.add_argument("--prompt-file", metavar="FILE", help="UTF-8 prompt; records a greedy answer per tau")
    src.add_argument("--text-file", metavar="FILE", help="UTF-8 text; records perplexity of its last --last-n tokens")
    src.add_argument("--tokens-npy", metavar="FILE", help="token ids (.npy, 1-D) used like --text-file")
    p.add_argument("--lengths", default="4096", help="needle: comma list of token lengths (default 4096)")
    p.add_argument("--depths", default="0,0.25,0.5,0.75,1", help="needle: comma list of depths in [0, 1]")
    p.add_argument("--needle-text", default=OFFICIAL_NEEDLE, help="needle sentence (default: the official one)")
    p.add_argument("--question", default=OFFICIAL_QUESTION, help="retrieval question (default: the official one)")
    p.add_argument("--expected", default=OFFICIAL_ANSWER, help="expected answer (default: the official one)")
    p.add_argument("--selection-case", metavar="LENGTH,DEPTH",
                   help="needle case whose kept sets and KL are stored (default: longest length, depth nearest 0.5)")
    p.add_argument("--seed", type=int, default=0, help="haystack seed (default 0)")
    p.add_argument("--max-new-tokens", type=int, default=32, help="greedy answer length (default 32)")
    p.add_argument("--max-tokens", type=int, help="text: keep the first N tokens; prompt: keep the last N")
    p.add_argument("--last-n", type=int, default=64, help="positions for KL mean, top-1 and perplexity (default 64)")
    p.add_argument("--taus", default=",".join(f"{t:g}" for t in DEFAULT_TAUS),
                   help="comma list of tau values (default 0,0.001,0.002,0.005,0.01,0.02,0.05)")
    p.add_argument("--window", type=int, default=128, help="W, the scoring window and always-kept tail (default 128)")
    p.add_argument("--pool-kernel", type=int, default=7, help="moving-average width k, odd (default 7)")
    p.add_argument("--min-tokens", type=int, default=1024, help="lower bound on kept prefix tokens (default 1024)")
    p.add_argument("--sparse-layers", default="half",
                   help="half (official default), all, drift (hidden-state drift <= its --delta quantile) "
                        "or a comma list of layer indices")
    p.add_argument("--delta", type=float, default=0.5, help="quantile for --sparse-layers drift (default 0.5)")
    p.add_argument("--score-dtype", choices=["f64", "f32"], default="f64", help="selection arithmetic (default f64)")
    p.add_argument("--dtype", choices=["auto", "f32", "bf16", "f16"], default="auto",
                   help="model dtype (default: bf16 on CUDA, f32 on the CPU)")
    p.add_argument("--device", default=None, help="cpu or cuda[:N] (default: cuda if available, else cpu)")
    p.add_argument("--device-map", choices=["auto"], help="spread a large model over the GPUs (accelerate)")
    p.add_argument("--repeats", type=int, default=1, help="timed prefills per mode, median reported (default 1)")
    p.add_argument("--out", required=True, metavar="FILE.safetensors", help="output effect file")
    p.add_argument("--writer", choices=["auto", "safetensors", "pure"], default="auto",
                   help="safetensors package if importable (auto), or the built-in pure-Python writer")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # local files only, whatever is asked
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import torch
    except ImportError:
        log("error: PyTorch is required (pip install torch)")
        return 2
    try:
        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        if not (device == "cpu" or device.startswith("cuda")):
            raise EvalError(f"--device must be cpu or cuda[:N], got {device!r}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise EvalError("--device cuda requested but CUDA is not available")
        if args.last_n < 1 or args.max_new_tokens < 1 or args.repeats < 1:
            raise EvalError("--last-n, --max-new-tokens and --repeats must be positive")
        if args.device_map and device == "cpu":
            raise EvalError("--device-map auto needs CUDA")
        name = args.dtype if args.dtype != "auto" else ("bf16" if device.startswith("cuda") else "f32")
        dtype = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[name]
        tokenizer = cq.load_tokenizer(args.model)
        model = load_model(args.model, device, dtype, args.device_map)
        effect, tensors, strings = evaluate(model, tokenizer, args)
        used = write_effect(args.out, effect, tensors, strings, args.writer)
        log(f"wrote {args.out} ({os.path.getsize(args.out) / 2**10:.0f} KiB, {used} writer)")
        return 0
    except EvalError as e:
        log(f"error: {e}")
        return 2
    except cq.CaptureError as e:
        log(f"error: {e}")
        return 2
    except OSError as e:
        log(f"error: {e.filename or ''}: {e.strerror or e}")
        return 2
    except KeyboardInterrupt:
        log("interrupted; no output written")
        return 130


if __name__ == "__main__":
    sys.exit(main())
