"""A small stand-in for a Hugging Face Llama / Qwen2 / Qwen3 causal LM, built from plain torch modules.

It mirrors the structure and call signatures that tools/capture_qkv.py relies on, in two styles:
  * "v5" (transformers >= 4.48): the model computes position_embeddings=(cos, sin) once and passes it to
    every attention forward; decoder layers return a tensor. The attention forward looks its kernel up by
    config._attn_implementation in ALL_ATTENTION_FUNCTIONS and calls it with transformers' signature
    fn(module, query [B,Hq,L,D], key/value [B,Hkv,Lk,D] (after the KV-cache update), attention_mask,
    dropout=, scaling=) -> (output [B,L,Hq,D], weights), as modeling_llama.py does.
  * "legacy" (transformers 4.4x before 4.48): each attention has its own rotary_emb and gets position_ids;
    decoder layers return a tuple.
Attention forwards call the module-level apply_rotary_pos_emb, as transformers' modeling files do.
A minimal KV cache (update / get_seq_length, like DynamicCache) serves prefill-then-decode.
The arithmetic follows modeling_llama.py (RMSNorm in fp32, rotate-half RoPE, SiLU MLP), so the real
stories260K weights give the same logits as transformers.
"""

import math
from types import SimpleNamespace

import torch
import torch.nn as nn
import torch.nn.functional as F


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(q, k, cos, sin, position_ids=None, unsqueeze_dim=1):
    cos = cos.unsqueeze(unsqueeze_dim)
    sin = sin.unsqueeze(unsqueeze_dim)
    return (q * cos) + (rotate_half(q) * sin), (k * cos) + (rotate_half(k) * sin)


def make_config(**overrides):
    cfg = dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
               num_attention_heads=4, num_key_value_heads=2, head_dim=8, rope_theta=10000.0,
               rms_norm_eps=1e-5, attention_bias=False, qk_norm=False, style="v5",
               tie_word_embeddings=False, model_type="fake_llama", _attn_implementation="sdpa")
    cfg.update(overrides)
    return SimpleNamespace(**cfg)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x32 = x.to(torch.float32)
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(dtype)


class RotaryEmbedding(nn.Module):
    def __init__(self, head_dim, theta):
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    @torch.no_grad()
    def forward(self, x, position_ids):
        inv = self.inv_freq[None, :, None].float().expand(position_ids.shape[0], -1, 1)
        freqs = (inv @ position_ids[:, None, :].float()).transpose(1, 2)
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(x.dtype), emb.sin().to(x.dtype)


def eager_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    """The stand-in's dense kernel: causal softmax in fp32 (query i sits at key position Lk - Lq + i)."""
    rep = module.num_key_value_groups
    key, value = key.repeat_interleave(rep, dim=1), value.repeat_interleave(rep, dim=1)
    n, m = query.shape[2], key.shape[2]
    scores = (query @ key.transpose(2, 3)) * scaling
    causal = torch.ones(n, m, dtype=torch.bool, device=query.device).triu(m - n + 1)
    p = torch.softmax(scores.masked_fill(causal, float("-inf")).float(), dim=-1).to(query.dtype)
    return (p @ value).transpose(1, 2).contiguous(), None


# Name -> kernel, like transformers' ALL_ATTENTION_FUNCTIONS (tools register extra names here in tests).
ALL_ATTENTION_FUNCTIONS = {"eager": eager_attention, "sdpa": eager_attention}


class FakeCache:
    """Keeps every layer's full K/V ([B, Hkv, L, D]) across forwards, like transformers' DynamicCache."""

    def __init__(self):
        self.layers = {}

    def update(self, key, value, layer_idx, cache_kwargs=None):
        if layer_idx in self.layers:
            k, v = self.layers[layer_idx]
            key, value = torch.cat([k, key], dim=2), torch.cat([v, value], dim=2)
        self.layers[layer_idx] = (key, value)
        return key, value

    def get_seq_length(self, layer_idx=0):
        return self.layers[layer_idx][0].shape[2] if layer_idx in self.layers else 0


class FakeAttention(nn.Module):
    def __init__(self, cfg, layer_idx):
        super().__init__()
        self.config = cfg
        self.layer_idx = layer_idx
        self.head_dim = cfg.head_dim
        self.num_heads, self.num_kv = cfg.num_attention_heads, cfg.num_key_value_heads
        self.num_key_value_groups = self.num_heads // self.num_kv
        self.scaling = self.head_dim ** -0.5
        self.is_causal = True
        self.q_proj = nn.Linear(cfg.hidden_size, self.num_heads * self.head_dim, bias=cfg.attention_bias)
        self.k_proj = nn.Linear(cfg.hidden_size, self.num_kv * self.head_dim, bias=cfg.attention_bias)
        self.v_proj = nn.Linear(cfg.hidden_size, self.num_kv * self.head_dim, bias=cfg.attention_bias)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, cfg.hidden_size, bias=False)
        if cfg.qk_norm:  # Qwen3
            self.q_norm = RMSNorm(self.head_dim, cfg.rms_norm_eps)
            self.k_norm = RMSNorm(self.head_dim, cfg.rms_norm_eps)
        if cfg.style == "legacy":
            self.rotary_emb = RotaryEmbedding(cfg.head_dim, cfg.rope_theta)

    def forward(self, hidden_states, position_embeddings=None, attention_mask=None, position_ids=None,
                past_key_values=None, **kwargs):
        b, n, _ = hidden_states.shape
        q = self.q_proj(hidden_states).view(b, n, -1, self.head_dim)
        k = self.k_proj(hidden_states).view(b, n, -1, self.head_dim)
        if hasattr(self, "q_norm"):
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = q.transpose(1, 2), k.transpose(1, 2)
        v = self.v_proj(hidden_states).view(b, n, -1, self.head_dim).transpose(1, 2)
        if position_embeddings is None:
            position_embeddings = self.rotary_emb(v, position_ids)
        cos, sin = position_embeddings
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        if past_key_values is not None:
            k, v = past_key_values.update(k, v, self.layer_idx)
        if self.config.style == "v5":
            kernel = ALL_ATTENTION_FUNCTIONS[self.config._attn_implementation]
            out, _ = kernel(self, q, k, v, attention_mask, dropout=0.0, scaling=self.scaling)
            return self.o_proj(out.reshape(b, n, -1)), None
        # transformers 4.4x before 4.48: the math lives inside the attention class, no registry
        rep = self.num_heads // self.num_kv
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        scores = (q @ k.transpose(2, 3)) / math.sqrt(self.head_dim)
        m = k.shape[2]
        causal = torch.ones(n, m, dtype=torch.bool, device=q.device).triu(m - n + 1)
        p = torch.softmax(scores.masked_fill(causal, float("-inf")).float(), dim=-1).to(q.dtype)
        out = (p @ v).transpose(1, 2).reshape(b, n, -1)
        return self.o_proj(out), None


class FakeMLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class FakeDecoderLayer(nn.Module):
    def __init__(self, cfg, layer_idx):
        super().__init__()
        self.style = cfg.style
        self.self_attn = FakeAttention(cfg, layer_idx)
        self.mlp = FakeMLP(cfg)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, hidden_states, attention_mask=None, position_ids=None, position_embeddings=None,
                past_key_values=None, **kwargs):
        residual = hidden_states
        h, _ = self.self_attn(hidden_states=self.input_layernorm(hidden_states), attention_mask=attention_mask,
                              position_ids=position_ids, position_embeddings=position_embeddings,
                              past_key_values=past_key_values)
        h = residual + h
        h = h + self.mlp(self.post_attention_layernorm(h))
        return (h,) if self.style == "legacy" else h


class FakeModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList([FakeDecoderLayer(cfg, i) for i in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.rotary_emb = RotaryEmbedding(cfg.head_dim, cfg.rope_theta)

    def forward(self, input_ids, use_cache=False, past_key_values=None, **kwargs):
        h = self.embed_tokens(input_ids)
        if use_cache and past_key_values is None:
            past_key_values = FakeCache()
        start = past_key_values.get_seq_length() if past_key_values is not None else 0
        position_ids = torch.arange(start, start + input_ids.shape[1], device=input_ids.device)[None]
        pe = self.rotary_emb(h, position_ids) if self.config.style == "v5" else None
        for layer in self.layers:
            if self.config.style == "v5":
                h = layer(h, attention_mask=None, position_ids=position_ids, position_embeddings=pe,
                          past_key_values=past_key_values)
            else:
                h = layer(h, attention_mask=None, position_ids=position_ids, past_key_values=past_key_values)[0]
        return SimpleNamespace(last_hidden_state=self.norm(h), past_key_values=past_key_values)


class FakeForCausalLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        self.model = FakeModel(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    @property
    def base_model(self):
        return self.model

    def get_input_embeddings(self):
        return self.model.embed_tokens

    def get_output_embeddings(self):
        return self.lm_head

    def forward(self, input_ids, **kwargs):
        out = self.model(input_ids, **kwargs)
        return SimpleNamespace(logits=self.lm_head(out.last_hidden_state), past_key_values=out.past_key_values)


class FakeTokenizer:
    """Word-level tokenizer with the few methods capture_qkv uses (encode, decode, convert_ids_to_tokens).
    Words get ids on first sight; id 1 is BOS, added by encode(..., add_special_tokens=True)."""

    def __init__(self):
        self.vocab = {"<s>": 1}
        self.words = {1: "<s>"}

    def encode(self, text, add_special_tokens=True):
        ids = [1] if add_special_tokens else []
        for i, word in enumerate(text.replace("\n", " \n ").split(" ")):
            if not word:
                continue
            piece = "\u2581" + word  # SentencePiece-style word start
            if piece not in self.vocab:
                self.vocab[piece] = len(self.vocab) + 1
                self.words[self.vocab[piece]] = piece
            ids.append(self.vocab[piece])
        return ids

    def convert_ids_to_tokens(self, ids):
        return [self.words[i] for i in ids]

    def decode(self, ids, skip_special_tokens=False, clean_up_tokenization_spaces=False):
        # ids the tokenizer never produced (a random model may generate them) read as "[id]"
        return "".join(self.words.get(i, f"\u2581[{i}]") for i in ids).replace("\u2581", " ").lstrip(" ")
