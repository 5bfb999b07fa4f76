#!/usr/bin/env python3
"""Verification of tools/capture_qkv.py against real Hugging Face transformers (run on a machine that has
torch + transformers; not collected by pytest). Writes a JSON summary to OUT_DIR/results.json.

  python3 tests/python/device_verify_capture.py OUT_DIR [STORIES260K_DIR] [SECTIONS]

SECTIONS is a comma list of random, cli, stories (default: all three).

1. Random-weight Llama, Mistral, Qwen2 (q/k/v bias) and Qwen3 (q_norm/k_norm) configs built in-script, GQA:
   the sdpa-model capture is compared with an eager-attention copy of the same weights: Q/K against an
   independent float64 RoPE of the eager module's own projections, the eager attention output against
   attention recomputed from the captured Q/K/V, drift against hooks on the eager decoder layers,
   and logits (model unchanged by the capture). Also a bf16 capture.
2. The command line end to end on a random Llama with a trained byte-level BPE tokenizer: needle-haystack
   (32768 tokens, bf16, cuda), prompt file, pure vs safetensors writer.
3. stories260K (if STORIES260K_DIR holds hf/ and qkv_512.safetensors): CLI capture as f32 on cuda and cpu,
   compared with qkv_512.safetensors, and the model's logits against hf/reference_logits.npy.
"""

import copy
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TOOL = os.path.join(ROOT, "tools", "capture_qkv.py")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import capture_qkv as cq  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

DEV = "cuda" if torch.cuda.is_available() else "cpu"
RESULTS = {"transformers": transformers.__version__, "torch": torch.__version__, "device": DEV,
           "gpu": torch.cuda.get_device_name(0) if DEV == "cuda" else None}


def rel(a, b):
    a, b = torch.as_tensor(a).double().cpu(), torch.as_tensor(b).double().cpu()
    return {"max_abs": (a - b).abs().max().item(), "ref_max": b.abs().max().item()}


def rope_theta(cfg):
    params = getattr(cfg, "rope_parameters", None) or {}
    return params.get("rope_theta", getattr(cfg, "rope_theta", None))


def rope64(x, theta):
    """Independent RoPE (rotate-half pairs (i, i + D/2)) in float64 via complex rotation. x [H, L, D]."""
    D, L = x.shape[-1], x.shape[-2]
    inv = theta ** (-torch.arange(0, D, 2, dtype=torch.float64) / D)
    ang = torch.arange(L, dtype=torch.float64)[:, None] * inv[None]
    z = torch.complex(x[..., : D // 2], x[..., D // 2:]) * torch.polar(torch.ones_like(ang), ang)
    return torch.cat((z.real, z.imag), -1)


def attention64(q, k, v):
    Hq, L, D = q.shape
    g = torch.arange(Hq) // (Hq // k.shape[0])
    s = q @ k[g].transpose(1, 2) / D ** 0.5
    s = s.masked_fill(torch.ones(L, L, dtype=torch.bool).triu(1), float("-inf"))
    return (torch.softmax(s, -1) @ v[g]).transpose(0, 1).reshape(L, Hq * D)


def random_model(name, cfg_cls, **extra):
    common = dict(vocab_size=512, hidden_size=256, intermediate_size=512, num_hidden_layers=4,
                  num_attention_heads=8, num_key_value_heads=2, head_dim=32, max_position_embeddings=65536,
                  initializer_range=0.1, rope_theta=50000.0, tie_word_embeddings=False)
    common.update(extra)
    cfg = cfg_cls(**common)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa").float()
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith("norm.weight"):
                p.copy_(1 + 0.3 * torch.randn_like(p))
            elif pname.endswith(".bias"):
                p.copy_(0.5 * torch.randn_like(p))
    return model.to(DEV).eval()


def check_random(name, cfg_cls, L=300, **extra):
    model = random_model(name, cfg_cls, **extra)
    eager = AutoModelForCausalLM.from_config(copy.deepcopy(model.config), attn_implementation="eager").float()
    eager.load_state_dict(model.state_dict())
    eager = eager.to(DEV).eval()
    theta = rope_theta(model.config)
    ids = torch.randint(0, 512, (1, L), generator=torch.Generator().manual_seed(1)).to(DEV)
    with torch.inference_mode():
        logits_before = model(ids).logits
    n = model.config.num_hidden_layers
    t0 = time.time()
    rec = cq.capture_qkv(model, ids, list(range(n)), torch.float32, verbose=False)
    took = time.time() - t0

    seen = {}
    hooks = []
    for l, layer in enumerate(eager.model.layers):
        def attn_hook(m, args, kwargs, out, l=l):
            seen.setdefault(l, {})["x"] = kwargs.get("hidden_states", args[0] if args else None)
        def o_hook(m, args, l=l):
            seen.setdefault(l, {})["o"] = args[0]
        def layer_hook(m, args, kwargs, out, l=l):
            h_in = args[0] if args else kwargs["hidden_states"]
            h_out = out[0] if isinstance(out, tuple) else out
            seen.setdefault(l, {})["drift"] = ((h_out.double() - h_in.double()).norm(dim=-1)
                                               / (h_in.double().norm(dim=-1) + 1e-8))[0]
        hooks += [layer.self_attn.register_forward_hook(attn_hook, with_kwargs=True),
                  layer.self_attn.o_proj.register_forward_pre_hook(o_hook),
                  layer.register_forward_hook(layer_hook, with_kwargs=True)]
    with torch.inference_mode():
        logits_eager = eager(ids).logits
        logits_after = model(ids).logits
        res = {"capture_s": round(took, 3), "layers": {}}
        for l in range(n):
            attn = eager.model.layers[l].self_attn
            D = rec[l]["k"].shape[-1]
            x = seen[l]["x"]
            q = attn.q_proj(x).view(1, L, -1, D)
            k = attn.k_proj(x).view(1, L, -1, D)
            if hasattr(attn, "q_norm"):
                q, k = attn.q_norm(q), attn.k_norm(k)
            q64, k64 = rope64(q[0].transpose(0, 1).double().cpu(), theta), rope64(k[0].transpose(0, 1).double().cpu(), theta)
            v64 = attn.v_proj(x).view(L, -1, D).transpose(0, 1).double().cpu()
            cap = {kk: rec[l][kk].double() for kk in ("q", "k", "v")}
            res["layers"][l] = {
                "shapes": {kk: list(rec[l][kk].shape) for kk in ("q", "k", "v", "drift")},
                "q_vs_rope64": rel(cap["q"], q64), "k_vs_rope64": rel(cap["k"], k64), "v": rel(cap["v"], v64),
                "attn_out_from_capture_vs_eager": rel(attention64(cap["q"], cap["k"], cap["v"]),
                                                      seen[l]["o"][0]),
                "drift_vs_eager": rel(rec[l]["drift"], seen[l]["drift"]),
            }
    for h in hooks:
        h.remove()
    res["logits_sdpa_vs_eager"] = rel(logits_before, logits_eager)
    res["logits_unchanged_by_capture"] = bool(torch.equal(logits_before, logits_after))
    worst = max(max(v["max_abs"] / max(v["ref_max"], 1e-12) for k2, v in lay.items() if k2 != "shapes")
                for lay in res["layers"].values())
    res["worst_relative_error"] = worst
    res["attention_class"] = f"{type(attn).__module__}.{type(attn).__name__}"
    # bf16 compute + bf16 storage against the f32 capture (first and last layer: rounding grows with depth).
    # As the command line loads it (from_pretrained(dtype=bf16)), and via model.to(bf16), which also casts the
    # rotary inv_freq buffer to bf16 and so shifts RoPE angles by up to position * 2^-9 rad.
    with tempfile.TemporaryDirectory() as d:
        model.save_pretrained(d)
        loaded = AutoModelForCausalLM.from_pretrained(d, local_files_only=True, attn_implementation="sdpa",
                                                      dtype=torch.bfloat16).to(DEV).eval()
    for key, mb in (("bf16_from_pretrained", loaded), ("bf16_model_to", copy.deepcopy(model).to(torch.bfloat16))):
        rb = cq.capture_qkv(mb, ids, [0, n - 1], torch.bfloat16, verbose=False)
        res[key] = {f"layer{l}": {"dtype": str(rb[l]["q"].dtype), "q_vs_f32": rel(rb[l]["q"], rec[l]["q"]),
                                  "k_vs_f32": rel(rb[l]["k"], rec[l]["k"]), "v_vs_f32": rel(rb[l]["v"], rec[l]["v"]),
                                  "drift_vs_f32": rel(rb[l]["drift"], rec[l]["drift"])} for l in (0, n - 1)}
        res[key]["inv_freq_dtypes"] = sorted({str(b.dtype) for nm, b in mb.named_buffers() if nm.endswith("inv_freq")})
    return res


def trained_tokenizer(path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast
    texts = cq.HAYSTACK_SENTENCES + [cq.NEEDLE_TEMPLATE.format(code="1234-5678"), cq.QUESTION]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts * 4, trainers.BpeTrainer(vocab_size=480, special_tokens=["<s>", "</s>"],
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>")
    hf.save_pretrained(path)
    return hf


def run_cli(args):
    t0 = time.time()
    r = subprocess.run([sys.executable, TOOL] + args, capture_output=True, text=True)
    print(r.stderr[-3000:], flush=True)
    if r.returncode != 0:
        raise RuntimeError(f"capture_qkv.py exited {r.returncode}")
    return round(time.time() - t0, 2)


def check_cli(out_dir):
    from transformers import LlamaConfig
    from safetensors import safe_open
    folder = "/tmp/tiny_llama_bpe"
    model = random_model("llama", LlamaConfig, num_hidden_layers=3)
    model.save_pretrained(folder)
    tok = trained_tokenizer(folder)
    res = {}
    hay = os.path.join("/tmp", "hay.safetensors")
    res["needle_32k_s"] = run_cli(["--model", folder, "--needle-haystack", "--length", "32768", "--layers", "0,2",
                                   "--device", DEV, "--out", hay])
    with safe_open(hay, "pt") as f:
        meta = f.metadata()
        res["needle_32k"] = {k: list(f.get_slice(k).get_shape()) for k in f.keys()}
        res["needle_32k_dtypes"] = sorted({str(f.get_tensor(k).dtype) for k in f.keys()})
        strings = json.loads(meta["token_strings"])
        info = json.loads(meta["prompt_info"])
        res["needle_text_roundtrip"] = "".join(strings[info["needle_token_start"]:info["needle_token_end"]]).strip()
        res["needle_expected"] = info["needle"]
        res["needle_32k_meta"] = {k: (v if len(v) < 200 else v[:200] + "...") for k, v in meta.items()}
        ids = f.get_tensor("tokens").tolist()
    res["needle_tokens_match_builder"] = ids == cq.build_needle_haystack(tok, 32768)[0]
    prompt = os.path.join("/tmp", "prompt.txt")
    open(prompt, "w").write(" ".join(cq.HAYSTACK_SENTENCES))
    outs = {}
    for writer in ("pure", "safetensors"):
        outs[writer] = os.path.join("/tmp", f"prompt_{writer}.safetensors")
        run_cli(["--model", folder, "--prompt-file", prompt, "--max-tokens", "100", "--dtype", "f16",
                 "--device", DEV, "--writer", writer, "--out", outs[writer]])
    with safe_open(outs["pure"], "pt") as a, safe_open(outs["safetensors"], "pt") as b:
        res["pure_vs_safetensors_writer_identical"] = (
            a.metadata() == b.metadata() and sorted(a.keys()) == sorted(b.keys())
            and all(torch.equal(a.get_tensor(k), b.get_tensor(k)) for k in a.keys()))
        res["prompt_tokens"] = len(a.get_tensor("tokens"))
        res["prompt_strings_head"] = json.loads(a.metadata()["token_strings"])[:12]
    return res


def check_stories(stories, out_dir):
    from safetensors import safe_open
    hf = os.path.join(stories, "hf")
    ref_path = os.path.join(stories, "qkv_512.safetensors")
    tokens = os.path.join(hf, "tokens.npy")
    res = {}
    ids = torch.from_numpy(np.load(tokens).astype(np.int64))[None]
    ref_logits = np.load(os.path.join(hf, "reference_logits.npy"))
    for dev in sorted({DEV, "cpu"}):
        model = AutoModelForCausalLM.from_pretrained(hf, local_files_only=True, attn_implementation="sdpa",
                                                     dtype=torch.float32).to(dev).eval()
        with torch.inference_mode():
            logits = model(ids.to(dev)).logits[0].float().cpu().numpy()
        res[f"logits_{dev}_vs_reference"] = float(np.abs(logits - ref_logits).max())
        out = os.path.join(out_dir, f"stories_f32_{dev}.safetensors")
        res[f"cli_{dev}_s"] = run_cli(["--model", hf, "--tokens-npy", tokens, "--dtype", "f32", "--device", dev,
                                       "--out", out])
        with safe_open(out, "pt") as f, safe_open(ref_path, "pt") as r:
            D = r.get_slice("layers.0.q").get_shape()[-1]
            to_interleaved = [(j % 2) * (D // 2) + j // 2 for j in range(D)]
            diffs = {}
            for name in r.keys():
                got, want = f.get_tensor(name), r.get_tensor(name)
                entry = {"max_abs_as_is": (got.double() - want.double()).abs().max().item()}
                if name.endswith((".q", ".k")):
                    entry["max_abs_interleaved"] = (got[..., to_interleaved].double() - want.double()).abs().max().item()
                diffs[name] = entry
            res[f"qkv_512_{dev}"] = diffs
            res[f"meta_{dev}"] = {k: v[:120] for k, v in f.metadata().items()}
    return res


def main():
    out_dir = sys.argv[1]
    stories = sys.argv[2] if len(sys.argv) > 2 else None
    sections = (sys.argv[3] if len(sys.argv) > 3 else "random,cli,stories").split(",")
    from transformers import LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config
    cases = [("llama", LlamaConfig, {}), ("mistral", MistralConfig, {"sliding_window": None}),
             ("qwen2", Qwen2Config, {}), ("qwen3", Qwen3Config, {})]
    for name, cls, extra in cases if "random" in sections else []:
        try:
            RESULTS[f"random_{name}"] = check_random(name, cls, **extra)
            print(name, "worst relative error", RESULTS[f"random_{name}"]["worst_relative_error"], flush=True)
        except Exception:  # noqa: BLE001 - record and go on with the other checks
            RESULTS[f"random_{name}"] = {"error": traceback.format_exc()}
            print(traceback.format_exc(), flush=True)
    for key, fn, args in (("cli", check_cli, (out_dir,)), ("stories260k", check_stories, (stories, out_dir))):
        if key.replace("260k", "") not in sections:
            continue
        if key == "stories260k" and not (stories and os.path.isdir(os.path.join(stories, "hf"))):
            RESULTS[key] = "skipped: no data"
            continue
        try:
            RESULTS[key] = fn(*args)
        except Exception:  # noqa: BLE001
            RESULTS[key] = {"error": traceback.format_exc()}
            print(traceback.format_exc(), flush=True)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(RESULTS, f, indent=1, default=str)
    print(json.dumps(RESULTS, default=str)[:4000])


if __name__ == "__main__":
    main()
