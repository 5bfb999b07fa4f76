#!/usr/bin/env python3
"""Check tools/tsa_eval.py against real transformers on a machine that has it (CI has not; see docs/effect.md).

  python3 tests/python/device_verify_effect.py --tools tools --stories DIR/stories260k --out OUTDIR [--quick]

1. Random-weight Llama, Mistral, Qwen2 and Qwen3 configs (GQA; Qwen2 with q/k/v biases, Qwen3 with q/k
   norms), saved with save_pretrained next to a word-level tokenizer built with `tokenizers`, loaded by
   tsa_eval.load_model as the command line does:
   - the "tsa" attention function is really called, once per layer and prefill (counted);
   - tau 0 through "tsa" reproduces the "sdpa" logits (max |diff|, expected 0);
   - the compress / attend / scatter path with every token kept reproduces them to rounding;
   - a sparse prefill leaves the full K/V in the KV cache (the official order) and decoding runs;
   - the command line on the needle workload (two lengths x three depths), and on one model also the text,
     prompt, drift and device_map="auto" paths.
2. stories260K (`DIR/hf`): tau 0 through "tsa" reproduces hf/reference_logits.npy; then the sample effect
   file (512 tokens, W 32, min_tokens 64, all layers sparse, the default tau grid, f32), on the GPU and on
   the CPU (the two must agree).
3. Prefill time dense vs sparse on a random-weight Llama with 7B-like attention at --timing-lengths.
Prints one JSON summary line per check; exits 1 when a check fails.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

FAILED = []


def report(name, ok, **values):
    print(json.dumps({"check": name, "ok": bool(ok), **values}), flush=True)
    if not ok:
        FAILED.append(name)


def word_tokenizer(folder, texts):
    """A real PreTrainedTokenizerFast (WordLevel over whitespace/punctuation pieces) saved into `folder`."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    import re
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for text in texts:
        for piece in re.findall(r"\w+|[^\w\s]+", text):
            vocab.setdefault(piece, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    fast.save_pretrained(folder)
    return len(vocab)


def family_configs(vocab):
    import transformers as tf
    common = dict(vocab_size=vocab, hidden_size=128, intermediate_size=256, num_hidden_layers=4,
                  num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=4096)
    return {
        "llama": tf.LlamaConfig(**common, head_dim=16),
        "mistral": tf.MistralConfig(**common, head_dim=16, sliding_window=None),
        "qwen2": tf.Qwen2Config(**common),  # q/k/v biases
        "qwen3": tf.Qwen3Config(**common, head_dim=16),  # q/k norms
    }


def full_logits(model, ids):
    import torch
    with torch.inference_mode():
        return model(input_ids=ids, use_cache=False).logits[0].float()


def check_family(name, cfg, folder, te, tsa_torch, tools, out_dir, scratch, quick, extra_paths):
    import torch
    from transformers import AutoModelForCausalLM
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg)
    with torch.no_grad():  # non-trivial norms and biases, so that a wrong hook point shows
        for pname, p in model.named_parameters():
            if pname.endswith("norm.weight"):
                p.copy_(1 + 0.3 * torch.randn_like(p))
            elif pname.endswith(".bias"):
                p.copy_(0.5 * torch.randn_like(p))
    model.save_pretrained(folder)
    model = te.load_model(folder, "cuda", torch.float32)
    report(f"{name}: loaded", True, model_type=model.config.model_type,
           attention=type(model.model.layers[0].self_attn).__name__)
    L, W, MIN = 384, 32, 64
    ids = torch.randint(3, cfg.vocab_size, (1, L), generator=torch.Generator().manual_seed(1)).cuda()
    dense = full_logits(model, ids)

    attention = te.TsaAttention(te.dense_kernel(), W, 7, MIN, torch.float64)
    te.register(attention)
    calls = {"n": 0}
    inner = attention.__call__

    class Counting:  # count the registry's calls without changing them
        def __call__(self, *a, **k):
            calls["n"] += 1
            return inner(*a, **k)

    te.register(Counting())
    te.switch_attention(model, te.NAME, None)
    attention.sparse_layers = set(range(cfg.num_hidden_layers))
    attention.mode, attention.tau = "sparse", 0.0
    tau0 = full_logits(model, ids)
    report(f"{name}: registry call per layer", calls["n"] == cfg.num_hidden_layers, calls=calls["n"])
    diff0 = (tau0 - dense).abs().max().item()
    report(f"{name}: tau 0 == sdpa logits", diff0 == 0.0, max_abs_diff=diff0)

    saved = tsa_torch.select
    tsa_torch.select = lambda hn, cap, w: torch.arange(hn.shape[1] + w, device=hn.device).expand(hn.shape[0], -1)
    try:
        attention.tau = 0.5  # every layer takes the sparse path, with every token kept
        allkept = full_logits(model, ids)
    finally:
        tsa_torch.select = saved
    diff_all = (allkept - dense).abs().max().item()
    report(f"{name}: compress/attend/scatter keeping all == sdpa", diff_all < 1e-4 * max(1.0, dense.abs().max().item()),
           max_abs_diff=diff_all, logit_scale=dense.abs().max().item())

    attention.tau = 0.05
    attention.kept = {}
    with torch.inference_mode():
        out = model(input_ids=ids, use_cache=True)
        cache = out.past_key_values
        step = model(input_ids=out.logits[:, -1:].argmax(-1), past_key_values=cache, use_cache=True)
    kept = {l: (None if v is None else int(v.shape[1])) for l, v in attention.kept.items()}
    cache_len = cache.get_seq_length()
    report(f"{name}: sparse prefill keeps full K/V, decode runs", cache_len == L + 1 and
           all(v is not None and v < L for v in kept.values()) and step.logits.shape[1] == 1,
           cache_len_after_decode=cache_len, kept_per_layer=kept)
    te.switch_attention(model, "sdpa", None)
    del model
    torch.cuda.empty_cache()

    lengths = "512,1024" if not quick else "512"
    target = os.path.join(out_dir, f"needle_{name}.safetensors")
    cmd = [sys.executable, os.path.join(tools, "tsa_eval.py"), "--model", folder, "--needle", "--lengths", lengths,
           "--depths", "0,0.5,1", "--window", "32", "--min-tokens", "64", "--taus", "0,0.005,0.05",
           "--max-new-tokens", "12", "--out", target]
    t0 = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    ok = r.returncode == 0 and os.path.exists(target)
    summary = {}
    if ok:
        meta = read_meta(target)
        eff = json.loads(meta["effect"])
        summary = {"runs": [(x["tau"], round(x["mean_kept_fraction"], 4), round(x["kl_mean"], 6),
                             len(x["needle"])) for x in eff["runs"]], "dtype": eff["dtype"],
                   "dense_answer_0": eff["dense"]["answers"][0]["answer"][:60]}
        ok = eff["runs"][0]["kl_mean"] == 0.0 and len(eff["runs"][1]["needle"]) == len(lengths.split(",")) * 3
    report(f"{name}: needle command line", ok, seconds=round(time.time() - t0, 1), rc=r.returncode,
           stderr_tail=r.stderr[-600:] if not ok else r.stderr.strip().splitlines()[-1], **summary)

    if extra_paths:
        text = os.path.join(scratch, "text.txt")
        with open(text, "w") as f:
            f.write(" ".join(["The bridge was painted green to match the trees along both banks of the river ."] * 60))
        for label, extra in (("text drift", ["--text-file", text, "--sparse-layers", "drift", "--dtype", "bf16"]),
                             ("prompt device_map", ["--prompt-file", text, "--device-map", "auto",
                                                    "--max-new-tokens", "8", "--sparse-layers", "1,3"])):
            target = os.path.join(scratch, f"{label.split()[0]}.safetensors")
            r = subprocess.run([sys.executable, os.path.join(tools, "tsa_eval.py"), "--model", folder, *extra,
                                "--window", "32", "--min-tokens", "64", "--taus", "0,0.01", "--out", target],
                               capture_output=True, text=True)
            ok = r.returncode == 0
            info = {}
            if ok:
                eff = json.loads(read_meta(target)["effect"])
                info = {"params": eff["params"], "run1": {k: eff["runs"][1][k] for k in
                                                          ("kl_mean", "ppl", "mean_kept_fraction")},
                        "answer": eff["runs"][1].get("answer", "")[:40]}
            report(f"{name}: {label} command line", ok, rc=r.returncode, stderr_tail=r.stderr[-400:], **info)


def read_meta(path):
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))["__metadata__"]


def check_stories(stories, te, tools, out_dir, scratch):
    import numpy as np
    import torch
    hf = os.path.join(stories, "hf")
    ids = torch.from_numpy(np.load(os.path.join(hf, "tokens.npy")).astype(np.int64))[None]
    ref = torch.from_numpy(np.load(os.path.join(hf, "reference_logits.npy")))
    for device in ("cuda", "cpu"):
        model = te.load_model(hf, device, torch.float32)
        dense = full_logits(model, ids.to(device)).cpu()
        attention = te.TsaAttention(te.dense_kernel(), 32, 7, 64, torch.float64)
        te.register(attention)
        te.switch_attention(model, te.NAME, None)
        attention.sparse_layers = set(range(5))
        attention.mode, attention.tau = "sparse", 0.0
        tau0 = full_logits(model, ids.to(device)).cpu()
        report(f"stories260K {device}: sdpa and tau 0 vs reference_logits.npy",
               (tau0 - ref).abs().max().item() < 1e-3,
               sdpa_max_abs_diff=(dense - ref).abs().max().item(), tau0_max_abs_diff=(tau0 - ref).abs().max().item(),
               tau0_vs_sdpa=(tau0 - dense).abs().max().item())
    outputs = {}
    for device in ("cuda", "cpu"):
        target = (os.path.join(out_dir, "stories260k_effect.safetensors") if device == "cuda"
                  else os.path.join(scratch, "stories260k_effect_cpu.safetensors"))
        r = subprocess.run([sys.executable, os.path.join(tools, "tsa_eval.py"), "--model", hf, "--tokens-npy",
                            os.path.join(hf, "tokens.npy"), "--window", "32", "--min-tokens", "64",
                            "--sparse-layers", "all", "--dtype", "f32", "--device", device, "--repeats", "5",
                            "--out", target], capture_output=True, text=True)
        print(r.stderr, file=sys.stderr)
        ok = r.returncode == 0
        eff = json.loads(read_meta(target)["effect"]) if ok else None
        outputs[device] = eff
        report(f"stories260K {device}: effect file", ok, rc=r.returncode, runs=[
            {k: x[k] for k in ("tau", "kl_last", "kl_mean", "top1_agreement", "ppl", "mean_kept_fraction",
                               "prefill_ms")} for x in eff["runs"]] if ok else None,
               dense=eff["dense"] if ok else None)
    if outputs["cuda"] and outputs["cpu"]:
        worst = max(abs(a["kl_mean"] - b["kl_mean"]) for a, b in zip(outputs["cuda"]["runs"], outputs["cpu"]["runs"]))
        same_kept = all(a["layer_kept_fraction"] == b["layer_kept_fraction"]
                        for a, b in zip(outputs["cuda"]["runs"], outputs["cpu"]["runs"]))
        report("stories260K: cuda vs cpu", same_kept, kl_mean_max_diff=worst, same_kept_fractions=same_kept)


def check_timing(te, tools, scratch, lengths):
    """Prefill time dense vs sparse where attention dominates: a random-weight Llama with 7B-like attention
    (32 query / 8 kv heads of 128), 4 layers, bf16, the official W 128 / min_tokens 1024, all layers sparse."""
    import numpy as np
    import transformers as tf
    import torch
    from transformers import AutoModelForCausalLM
    folder = os.path.join(scratch, "llama_timing")
    cfg = tf.LlamaConfig(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=4,
                         num_attention_heads=32, num_key_value_heads=8, head_dim=128, max_position_embeddings=65536)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(cfg).to(torch.bfloat16).save_pretrained(folder)
    for length in lengths:
        npy = os.path.join(scratch, f"ids{length}.npy")
        np.save(npy, np.random.RandomState(length).randint(3, 32000, length).astype(np.int32))
        target = os.path.join(scratch, f"timing{length}.safetensors")
        t0 = time.time()
        r = subprocess.run([sys.executable, os.path.join(tools, "tsa_eval.py"), "--model", folder, "--tokens-npy", npy,
                            "--sparse-layers", "all", "--taus", "0,0.005,0.05,0.2", "--repeats", "3", "--dtype", "bf16",
                            "--out", target], capture_output=True, text=True)
        ok = r.returncode == 0
        info = {}
        if ok:
            eff = json.loads(read_meta(target)["effect"])
            info = {"dense_ms": eff["dense"]["prefill_ms"],
                    "runs": [(x["tau"], round(x["mean_kept_fraction"], 4), round(x["prefill_ms"], 2),
                              round(x["kl_mean"], 6)) for x in eff["runs"]]}
        report(f"timing llama-attention-7B-like 4 layers L={length}", ok, seconds=round(time.time() - t0, 1),
               rc=r.returncode, stderr_tail=r.stderr[-500:] if not ok else "", **info)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tools", required=True)
    p.add_argument("--stories", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--families", default="llama,mistral,qwen2,qwen3")
    p.add_argument("--timing-lengths", default="16384,32768", help="'' to skip the timing runs")
    args = p.parse_args()
    sys.path.insert(0, os.path.abspath(args.tools))
    import torch
    import transformers
    import tsa_eval as te
    import tsa_torch
    import capture_qkv as cq
    report("environment", torch.cuda.is_available(), torch=torch.__version__, transformers=transformers.__version__,
           gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
    os.makedirs(args.out, exist_ok=True)
    texts = cq.HAYSTACK_SENTENCES + [te.OFFICIAL_NEEDLE, te.OFFICIAL_QUESTION, "Question : Answer :",
                                     "The bridge was painted green"]
    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(args.families.split(",")):
            folder = os.path.join(tmp, name)
            os.makedirs(folder)
            vocab = word_tokenizer(folder, texts)
            cfg = family_configs(max(vocab, 256))[name]
            try:
                check_family(name, cfg, folder, te, tsa_torch, os.path.abspath(args.tools), args.out, tmp,
                             args.quick, extra_paths=(i == 0))
            except Exception as e:  # noqa: BLE001 - report and go on with the next family
                import traceback
                report(f"{name}: exception", False, error=repr(e), trace=traceback.format_exc()[-1500:])
        try:
            check_stories(args.stories, te, os.path.abspath(args.tools), args.out, tmp)
        except Exception as e:  # noqa: BLE001
            import traceback
            report("stories260K: exception", False, error=repr(e), trace=traceback.format_exc()[-1500:])
        if args.timing_lengths:
            try:
                check_timing(te, os.path.abspath(args.tools), tmp, [int(x) for x in args.timing_lengths.split(",")])
            except Exception as e:  # noqa: BLE001
                import traceback
                report("timing: exception", False, error=repr(e), trace=traceback.format_exc()[-1500:])
    print(json.dumps({"failed": FAILED}))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
