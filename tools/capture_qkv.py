#!/usr/bin/env python3
"""Capture post-RoPE Q, K, V and per-token hidden-state drift from a Hugging Face causal LM.

Runs one sequence (a prompt file, a token-id .npy file, or a built-in needle-in-a-haystack text of an
exact token length) through the model's prefill and writes the TSA Explorer capture format
(safetensors, metadata `format: tsa-qkv/1`, `layout: HLD`):

    tokens            I32  [L]
    layers.{l}.q      Hq x L x D   (BF16 / F16 / F32 per --dtype)
    layers.{l}.k      Hkv x L x D
    layers.{l}.v      Hkv x L x D
    layers.{l}.drift  F32  [L]     ||h_out - h_in|| / (||h_in|| + 1e-8) per token

How Q/K/V are obtained (no attention matrix is ever built; the model runs with attn_implementation="sdpa"):
  * Q and K: the `apply_rotary_pos_emb` that each attention module's forward looks up in its module
    globals is wrapped for the duration of the run; its outputs are exactly the post-RoPE Q and K the
    model attends with (q/k biases, q_norm/k_norm and RoPE scaling included, whatever the version does).
  * V: a forward hook on the attention module's `v_proj`.
  * drift: the decoder layer's forward is wrapped to see its input and output hidden states.
Each layer's tensors are converted to the target dtype and moved to the CPU as soon as they are made.

See docs/capture.md for examples, the tested transformers versions and the verification results.
"""

import argparse
import inspect
import json
import os
import random
import struct
import sys
import time

FORMAT = "tsa-qkv/1"
SOURCE = "capture_qkv.py"
ST_DTYPES = {"bf16": "BF16", "f16": "F16", "f32": "F32"}  # --dtype -> safetensors dtype name
ST_ITEMSIZE = {"BF16": 2, "F16": 2, "F32": 4, "I32": 4}
ROPE_FN = "apply_rotary_pos_emb"


class CaptureError(RuntimeError):
    """An error with a message meant for the user (printed without a traceback)."""


def log(msg):
    print(f"[capture_qkv] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# safetensors writing
# --------------------------------------------------------------------------------------------------

def safetensors_header(entries, metadata):
    """Header bytes (8-byte little-endian length + JSON padded with spaces to a multiple of 8).

    entries: list of (name, dtype, shape, nbytes) in file order; data offsets are contiguous from 0.
    """
    header = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}}
    offset = 0
    for name, dtype, shape, nbytes in entries:
        count = 1
        for s in shape:
            count *= int(s)
        if count * ST_ITEMSIZE[dtype] != nbytes:
            raise ValueError(f"tensor {name}: {nbytes} bytes do not match {dtype} {list(shape)}")
        header[name] = {"dtype": dtype, "shape": [int(s) for s in shape],
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    blob = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)
    return struct.pack("<Q", len(blob)) + blob


def write_safetensors_pure(path, entries, metadata):
    """Pure-Python safetensors writer. entries: list of (name, dtype, shape, data_bytes)."""
    head = safetensors_header([(n, d, s, len(b)) for n, d, s, b in entries], metadata)
    with open(path, "wb") as f:
        f.write(head)
        for _, _, _, data in entries:
            f.write(data)


def tensor_bytes(t):
    """(safetensors dtype, raw little-endian bytes) of a CPU torch tensor."""
    import torch
    if sys.byteorder != "little":
        raise CaptureError("big-endian hosts are not supported by the pure-Python writer")
    names = {torch.bfloat16: "BF16", torch.float16: "F16", torch.float32: "F32", torch.int32: "I32"}
    if t.dtype not in names:
        raise ValueError(f"unsupported tensor dtype {t.dtype}")
    t = t.detach().cpu().contiguous()
    raw = t.view(torch.int16) if t.dtype == torch.bfloat16 else t  # numpy has no bfloat16
    return names[t.dtype], raw.numpy().tobytes()


def write_capture(path, tensors, metadata, writer="auto"):
    """Write an ordered {name: CPU tensor} dict atomically (temp file, then rename). Returns the writer used."""
    if writer in ("auto", "safetensors"):
        try:
            from safetensors.torch import save_file
        except ImportError:
            if writer == "safetensors":
                raise CaptureError("--writer safetensors: the 'safetensors' package is not importable")
            writer = "pure"
        else:
            writer = "safetensors"
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        if writer == "safetensors":
            save_file({k: v.contiguous() for k, v in tensors.items()}, tmp, metadata=dict(metadata))
        else:
            entries = []
            for name, t in tensors.items():
                dtype, data = tensor_bytes(t)
                entries.append((name, dtype, list(t.shape), data))
            write_safetensors_pure(tmp, entries, metadata)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return writer


# --------------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------------

HAYSTACK_SENTENCES = [
    "The river bends twice before it reaches the old mill at the edge of the valley.",
    "Most of the town's bakers start work long before the sun comes up.",
    "A good map shows not only the roads but also where the roads are likely to flood.",
    "The library keeps its oldest books in a cool room without windows.",
    "Farmers in the region rotate their crops to keep the soil healthy.",
    "On clear nights the lighthouse beam can be seen from the hills twenty miles away.",
    "The committee met every Thursday to review the budget and the building plans.",
    "Bees return to the same flowers as long as those flowers keep producing nectar.",
    "The train schedule changed in spring, and nobody updated the sign at the station.",
    "Glass blowers work in pairs so that one can turn the pipe while the other shapes the glass.",
    "The museum's east wing is closed on Mondays for cleaning and repairs.",
    "Sailors once measured speed by counting knots on a rope that ran out behind the ship.",
    "The orchard produces more apples in years with a cold winter and a wet spring.",
    "Children in the village learn to swim in the lake during the short summer.",
    "The bridge was painted green to match the trees along both banks of the river.",
    "Every clock in the hall was set five minutes fast so that nobody would be late.",
]
NEEDLE_TEMPLATE = "The secret passphrase for the archive vault is {code}."
QUESTION = "\nQuestion: What is the secret passphrase for the archive vault?\nAnswer: The secret passphrase is"


def build_haystack(tokenizer, length, depth, needle_text, question_text, seed=0, rng=None,
                   option="--needle-depth"):
    """Token ids of exactly `length` tokens: [special prefix] haystack + needle + haystack + question.

    Deterministic for a given tokenizer, length, depth and seed (or `rng`, a random.Random already in use).
    The needle sits on the sentence boundary nearest to `depth` of the haystack. Returns (ids, info dict).
    Shared with tools/tsa_eval.py.
    """
    if not 0.0 <= depth <= 1.0:
        raise CaptureError(f"{option} must be within [0, 1], got {depth}")
    rng = rng or random.Random(seed)

    def enc(text):
        return list(tokenizer.encode(text, add_special_tokens=False))

    prefix = list(tokenizer.encode("", add_special_tokens=True))  # e.g. [BOS]; [] for tokenizers without
    needle, question = enc(needle_text), enc(question_text)
    budget = length - len(prefix) - len(needle) - len(question)
    if budget < 0:
        raise CaptureError(f"--length {length} is too short for the needle and question; "
                           f"use at least {length - budget}")
    sentences = [enc(" " + s) for s in HAYSTACK_SENTENCES]
    filler, boundaries = [], [0]
    while len(filler) < budget:
        filler += sentences[rng.randrange(len(sentences))]
        boundaries.append(len(filler))
    filler = filler[:budget]
    target = depth * budget
    cut = min((b for b in boundaries if b <= budget), key=lambda b: (abs(b - target), b))
    ids = prefix + filler[:cut] + needle + filler[cut:] + question
    assert len(ids) == length
    start = len(prefix) + cut
    info = {"needle": needle_text.strip(), "needle_token_start": start, "needle_token_end": start + len(needle),
            "question_token_start": length - len(question), "depth": depth, "seed": seed}
    return ids, info


def build_needle_haystack(tokenizer, length, depth=0.5, seed=0):
    """The capture's needle: a random passphrase (drawn from `seed`) and a question asking for it."""
    if not 0.0 <= depth <= 1.0:
        raise CaptureError(f"--needle-depth must be within [0, 1], got {depth}")
    rng = random.Random(seed)
    code = f"{rng.randrange(1000, 10000)}-{rng.randrange(1000, 10000)}"
    return build_haystack(tokenizer, length, depth, " " + NEEDLE_TEMPLATE.format(code=code), QUESTION, seed, rng)


def token_strings(tokenizer, ids):
    """Readable per-token strings. Without a tokenizer: "[id]"."""
    if tokenizer is None:
        return [f"[{i}]" for i in ids]
    pieces = tokenizer.convert_ids_to_tokens(list(ids))
    out = []
    for i, piece in zip(ids, pieces):
        text = tokenizer.decode([i], skip_special_tokens=False, clean_up_tokenization_spaces=False)
        if isinstance(piece, str) and piece[:1] in ("\u2581", "\u0120") and not text.startswith(" "):
            text = " " + text  # SentencePiece / byte-level BPE word start that decode() stripped
        out.append(text)
    return out


def parse_layers(spec, num_layers):
    """'all' or a comma list such as '0,3,5' -> sorted unique layer indices, validated."""
    if spec.strip().lower() == "all":
        return list(range(num_layers))
    try:
        layers = sorted({int(x) for x in spec.split(",") if x.strip()})
    except ValueError:
        raise CaptureError(f"--layers must be 'all' or a comma-separated list of integers, got {spec!r}")
    bad = [l for l in layers if not 0 <= l < num_layers]
    if not layers or bad:
        raise CaptureError(f"--layers {spec!r}: the model has layers 0..{num_layers - 1}")
    return layers


# --------------------------------------------------------------------------------------------------
# capture
# --------------------------------------------------------------------------------------------------

def find_decoder_layers(model):
    """The model's nn.ModuleList of decoder layers (model.model.layers for Llama/Mistral/Qwen2/Qwen3)."""
    import torch.nn as nn
    base = getattr(model, "base_model", model)
    if isinstance(getattr(base, "layers", None), nn.ModuleList):
        return base.layers
    n = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    for _, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) > 0 and (n is None or len(module) == n):
            return module
    raise CaptureError("cannot find the decoder layers (no ModuleList of num_hidden_layers modules)")


def find_attention(layer, index):
    attn = getattr(layer, "self_attn", None)
    if attn is None:
        attn = next((m for m in layer.modules() if all(hasattr(m, p) for p in ("q_proj", "k_proj", "v_proj"))),
                    None)
    if attn is None or not hasattr(attn, "v_proj"):
        raise CaptureError(f"layer {index}: no attention module with q_proj/k_proj/v_proj found; "
                           f"fused-QKV architectures are not supported")
    return attn


def _forward_globals(module):
    """The globals dict that the module's forward resolves names in (where apply_rotary_pos_emb lives)."""
    return inspect.unwrap(type(module).forward).__globals__


def _store(t, dtype):
    """Detach, convert on the device, then copy to the CPU (never aliasing the model's own tensor)."""
    out = t.detach().to(dtype).contiguous().cpu()
    return out.clone() if out.data_ptr() == t.data_ptr() else out


def _drift(h_in, h_out, chunk=8192):
    """||h_out - h_in|| / (||h_in|| + 1e-8) per token, in fp32, a chunk of tokens at a time. [L] on CPU."""
    import torch
    h_in, h_out = h_in[0], h_out[0]
    res = torch.empty(h_in.shape[0], dtype=torch.float32, device=h_in.device)
    for s in range(0, h_in.shape[0], chunk):
        a, b = h_in[s:s + chunk].float(), h_out[s:s + chunk].float()
        res[s:s + chunk] = (b - a).norm(dim=-1) / (a.norm(dim=-1) + 1e-8)
    return res.cpu()


def capture_qkv(model, input_ids, layers, store_dtype, verbose=True):
    """Run one prefill of `input_ids` ([1, L] long tensor on the model's device) and return
    {layer: {"q": [Hq,L,D], "k": [Hkv,L,D], "v": [Hkv,L,D], "drift": [L] f32}} (CPU tensors).
    The model is left exactly as it was (hooks removed, patched functions restored)."""
    import torch
    decoder_layers = find_decoder_layers(model)
    seq_len = int(input_ids.shape[-1])
    records = {l: {} for l in layers}
    state = {"active": None, "t0": time.time()}
    undo = []

    def rope_wrapper(orig):
        def wrapped(q, k, *args, **kwargs):
            q_embed, k_embed = orig(q, k, *args, **kwargs)
            layer = state["active"]
            if layer is not None:
                rec = records[layer]
                if "q" in rec:
                    raise CaptureError(f"layer {layer}: {ROPE_FN} was called twice in one attention forward")
                unsqueeze_dim = kwargs.get("unsqueeze_dim", args[3] if len(args) > 3 else 1)
                qq, kk = q_embed[0], k_embed[0]
                if unsqueeze_dim == 2:  # [B, L, H, D] layout
                    qq, kk = qq.transpose(0, 1), kk.transpose(0, 1)
                if qq.shape[1] != seq_len or kk.shape[1] != seq_len:
                    raise CaptureError(f"layer {layer}: unexpected q/k shapes {tuple(q_embed.shape)}, "
                                       f"{tuple(k_embed.shape)} for {seq_len} tokens")
                rec["q"], rec["k"] = _store(qq, store_dtype), _store(kk, store_dtype)
            return q_embed, k_embed
        wrapped.__wrapped_by_capture_qkv__ = True
        return wrapped

    def attn_pre_hook(layer):
        def hook(module, args):
            state["active"] = layer
        return hook

    def attn_post_hook(module, args, output):
        state["active"] = None

    def v_hook(layer):
        def hook(module, args, output):
            if state["active"] == layer:
                records[layer]["v_raw"] = output[0].detach()  # [L, Hkv*D], reshaped once D is known
        return hook

    def layer_wrapper(layer, orig):
        def forward(*args, **kwargs):
            h_in = args[0] if args else kwargs["hidden_states"]
            out = orig(*args, **kwargs)
            h_out = out[0] if isinstance(out, (tuple, list)) else out
            rec = records[layer]
            rec["drift"] = _drift(h_in, h_out)
            if "q" not in rec or "v_raw" not in rec:
                raise CaptureError(
                    f"layer {layer}: the attention module ({type(attn_of[layer]).__name__}) did not call "
                    f"{ROPE_FN} and v_proj as expected; this architecture is not supported")
            head_dim = rec["k"].shape[-1]
            v = rec.pop("v_raw")
            rec["v"] = _store(v.view(seq_len, -1, head_dim).transpose(0, 1), store_dtype)
            if verbose:
                log(f"layer {layer}: q {list(rec['q'].shape)} k {list(rec['k'].shape)} v {list(rec['v'].shape)}, "
                    f"mean drift {rec['drift'].mean().item():.4f} ({time.time() - state['t0']:.1f} s)")
            return out
        return forward

    attn_of = {}
    try:
        for l in layers:
            layer = decoder_layers[l]
            attn = attn_of[l] = find_attention(layer, l)
            g = _forward_globals(attn)
            if ROPE_FN not in g:
                raise CaptureError(f"layer {l}: {type(attn).__name__}.forward does not use {ROPE_FN} "
                                   f"(module {g.get('__name__')}); this architecture is not supported")
            if not getattr(g[ROPE_FN], "__wrapped_by_capture_qkv__", False):
                orig_fn = g[ROPE_FN]
                g[ROPE_FN] = rope_wrapper(orig_fn)
                undo.append(lambda g=g, f=orig_fn: g.__setitem__(ROPE_FN, f))
            for handle in (attn.register_forward_pre_hook(attn_pre_hook(l)),
                           attn.register_forward_hook(attn_post_hook),
                           attn.v_proj.register_forward_hook(v_hook(l))):
                undo.append(handle.remove)
            had_own = "forward" in layer.__dict__
            orig_forward = layer.forward
            layer.forward = layer_wrapper(l, orig_forward)
            undo.append(lambda m=layer, f=orig_forward, own=had_own:
                        setattr(m, "forward", f) if own else m.__dict__.pop("forward", None))

        base = getattr(model, "base_model", model)  # skip the LM head: no [L, vocab] logits
        with torch.inference_mode():
            base(input_ids=input_ids, use_cache=False)
    finally:
        for fn in reversed(undo):
            fn()
    missing = [l for l in layers if "drift" not in records[l]]
    if missing:
        raise CaptureError(f"layers {missing} never ran (does the model skip them?)")
    return records


# --------------------------------------------------------------------------------------------------
# model loading and the command line
# --------------------------------------------------------------------------------------------------

def transformers_version():
    try:
        import transformers
        return transformers.__version__
    except ImportError:
        return "not installed"


def load_model(path, device, compute_dtype, device_map=None, error=CaptureError):
    """AutoModelForCausalLM from a local folder (or the local HF cache), sdpa attention, eval mode. With
    device_map, transformers places the layers (several GPUs) and device is not used. Failures raise `error`
    (tools/tsa_eval.py passes its own), naming the folder."""
    try:
        import transformers
        from transformers import AutoModelForCausalLM
    except ImportError:
        raise error("the 'transformers' package is required (pip install transformers)")
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    dtype_key = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
    kwargs = {"local_files_only": True, "attn_implementation": "sdpa", dtype_key: compute_dtype}
    if device_map:
        kwargs["device_map"] = device_map
    log(f"loading {path} (transformers {transformers.__version__}, {compute_dtype}, {device_map or device})")
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as e:
        raise error(f"cannot load model {path!r} from local files: {e}")
    if not device_map:
        model = model.to(device)
    return model.eval()


def load_tokenizer(path):
    try:
        from transformers import AutoTokenizer
        return AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception as e:  # noqa: BLE001 - any failure means "no usable tokenizer"
        log(f"no tokenizer loaded from {path} ({type(e).__name__}); token strings will be '[id]'")
        return None


def build_parser():
    p = argparse.ArgumentParser(
        prog="capture_qkv.py",
        description="Capture post-RoPE Q/K/V and per-token hidden-state drift of a Hugging Face causal LM "
                    "into a tsa-qkv/1 safetensors file for TSA Explorer.",
        epilog="Examples:\n"
               "  capture_qkv.py --model ./Qwen2.5-0.5B --needle-haystack --length 8192 --out hay8k.safetensors\n"
               "  capture_qkv.py --model ./llama --prompt-file prompt.txt --layers 0,15,31 --dtype f16 --out p.safetensors\n"
               "  capture_qkv.py --model ./stories260k_hf --tokens-npy tokens.npy --dtype f32 --device cpu --out s.safetensors",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="local model folder (or a name already in the local HF cache)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--prompt-file", metavar="FILE", help="UTF-8 text file to tokenize ('-' reads stdin)")
    src.add_argument("--needle-haystack", action="store_true",
                     help="built-in deterministic needle-in-a-haystack text of exactly --length tokens")
    src.add_argument("--tokens-npy", metavar="FILE", help=".npy file of integer token ids (1-D, or [1, L])")
    p.add_argument("--length", type=int, help="token length of the needle-in-a-haystack text")
    p.add_argument("--needle-depth", type=float, default=0.5, help="needle position in [0, 1] (default 0.5)")
    p.add_argument("--seed", type=int, default=0, help="haystack / passphrase seed (default 0)")
    p.add_argument("--max-tokens", type=int, help="keep only the first N tokens of the input")
    p.add_argument("--layers", default="all", help="'all' (default) or a comma list such as 0,3,5")
    p.add_argument("--dtype", choices=sorted(ST_DTYPES), default="bf16", help="stored Q/K/V dtype (default bf16)")
    p.add_argument("--compute-dtype", choices=["auto"] + sorted(ST_DTYPES), default="auto",
                   help="dtype the model runs in (default: the same as --dtype)")
    p.add_argument("--device", default=None, help="cpu or cuda[:N] (default: cuda if available, else cpu)")
    p.add_argument("--out", required=True, metavar="FILE.safetensors", help="output file")
    p.add_argument("--writer", choices=["auto", "safetensors", "pure"], default="auto",
                   help="safetensors package if importable (auto), or the built-in pure-Python writer")
    p.add_argument("--open", action="store_true",
                   help="open the capture in tsa-explorer once written ($TSA_EXPLORER, else the build "
                        "tree next to this script, else PATH)")
    return p


EXPLORER = "tsa-explorer"


def find_explorer(environ=None, here=None):
    """Path of the tsa-explorer binary for --open: $TSA_EXPLORER if set, else a build of this source tree
    (build/*/app/tsa-explorer next to tools/), else tsa-explorer on PATH. Raises CaptureError naming the
    places looked at, before any model is loaded."""
    import glob
    import shutil
    environ = os.environ if environ is None else environ
    here = os.path.dirname(os.path.abspath(__file__)) if here is None else here
    explicit = environ.get("TSA_EXPLORER")
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit
        raise CaptureError(f"--open: TSA_EXPLORER={explicit} is not an executable file")
    pattern = os.path.join(os.path.dirname(here), "build", "*", "app", EXPLORER)
    built = sorted((p for p in glob.glob(pattern) if os.access(p, os.X_OK)), key=os.path.getmtime, reverse=True)
    if built:
        return built[0]  # the most recently built one (release, debug, ...)
    on_path = shutil.which(EXPLORER, path=environ.get("PATH", os.defpath))
    if on_path:
        return on_path
    raise CaptureError(f"--open: {EXPLORER} not found (looked for $TSA_EXPLORER, {pattern} and PATH); "
                       f"build it (cmake --build --preset release) or set TSA_EXPLORER=/path/to/{EXPLORER}")


def open_in_explorer(explorer, path):
    """Starts the explorer on path in its own session, so it outlives this script; returns the process."""
    import subprocess
    proc = subprocess.Popen([explorer, os.path.abspath(path)], stdin=subprocess.DEVNULL, start_new_session=True)
    log(f"opened {path} in {explorer} (pid {proc.pid})")
    return proc


def read_input_ids(args, tokenizer):
    """(ids list, prompt_kind, extra metadata) for the chosen input source."""
    extra = {}
    if args.tokens_npy:
        import numpy as np
        arr = np.load(args.tokens_npy)
        if arr.ndim == 2 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise CaptureError(f"{args.tokens_npy}: expected a 1-D integer array, got {arr.dtype} {arr.shape}")
        ids, kind = [int(x) for x in arr], "tokens-npy"
    elif args.needle_haystack:
        if not args.length or args.length <= 0:
            raise CaptureError("--needle-haystack needs --length N (a positive token count)")
        if tokenizer is None:
            raise CaptureError(f"--needle-haystack needs a tokenizer; none could be loaded from {args.model}")
        ids, info = build_needle_haystack(tokenizer, args.length, args.needle_depth, args.seed)
        kind, extra["prompt_info"] = "needle-haystack", json.dumps(info)
    else:
        if tokenizer is None:
            raise CaptureError(f"--prompt-file needs a tokenizer; none could be loaded from {args.model}")
        if args.prompt_file == "-":
            text = sys.stdin.read()
        else:
            with open(args.prompt_file, encoding="utf-8") as f:
                text = f.read()
        ids, kind = list(tokenizer.encode(text, add_special_tokens=True)), "file"
        extra["prompt_file"] = os.path.basename(args.prompt_file)
    if args.max_tokens is not None and len(ids) > args.max_tokens:
        log(f"input has {len(ids)} tokens; keeping the first {args.max_tokens} (--max-tokens)")
        ids = ids[:args.max_tokens]
    if not ids:
        raise CaptureError("the input has no tokens")
    return ids, kind, extra


def main(argv=None):
    args = build_parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach the hub, whatever is asked
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import torch
    except ImportError:
        log("error: PyTorch is required (pip install torch)")
        return 2
    try:
        torch_dtypes = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}
        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        if not (device == "cpu" or device.startswith("cuda")):
            raise CaptureError(f"--device must be cpu or cuda[:N], got {device!r}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise CaptureError("--device cuda requested but CUDA is not available")
        compute = args.dtype if args.compute_dtype == "auto" else args.compute_dtype
        explorer = find_explorer() if args.open else None  # fail before the (long) capture, not after
        tokenizer = load_tokenizer(args.model)
        ids, kind, extra = read_input_ids(args, tokenizer)
        model = load_model(args.model, device, torch_dtypes[compute])
        low = sorted({str(b.dtype) for n, b in model.named_buffers() if n.endswith("inv_freq")} - {"torch.float32"})
        if low:
            log(f"warning: the rotary inv_freq buffers are {', '.join(low)}, not float32: RoPE angles of late "
                f"positions lose precision (the capture records what this model computes)")
        num_layers = len(find_decoder_layers(model))
        layers = parse_layers(args.layers, num_layers)
        vocab = getattr(model.config, "vocab_size", None)
        if vocab is not None and not all(0 <= i < vocab for i in ids):
            raise CaptureError(f"token ids must lie in [0, {vocab}) for this model")
        log(f"{len(ids)} tokens ({kind}), capturing layers {layers} of {num_layers} as {args.dtype}")
        input_ids = torch.tensor([ids], dtype=torch.long, device=device)
        records = capture_qkv(model, input_ids, layers, torch_dtypes[args.dtype])

        tensors = {"tokens": torch.tensor(ids, dtype=torch.int32)}
        for l in layers:
            for name in ("q", "k", "v", "drift"):
                tensors[f"layers.{l}.{name}"] = records[l][name]
        metadata = {
            "format": FORMAT, "layout": "HLD", "model": args.model,
            "token_strings": json.dumps(token_strings(tokenizer, ids), ensure_ascii=False),
            "num_layers": str(num_layers), "captured_layers": json.dumps(layers), "source": SOURCE,
            "transformers_version": transformers_version(), "torch_version": torch.__version__,
            "prompt_kind": kind, "dtype": args.dtype, "compute_dtype": compute,
            "model_type": str(getattr(model.config, "model_type", "")), **extra,
        }
        used = write_capture(args.out, tensors, metadata, args.writer)
        log(f"wrote {args.out} ({os.path.getsize(args.out) / 2**20:.1f} MiB, {used} writer)")
        if explorer:
            open_in_explorer(explorer, args.out)
        return 0
    except CaptureError as e:
        log(f"error: {e}")
        return 1
    except OSError as e:
        log(f"error: {e.filename or ''}: {e.strerror or e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
