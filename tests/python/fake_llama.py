"""A small stand-in for a Hugging Face Llama / Qwen2 / Qwen3 causal LM, built from plain torch modules.

It mirrors the structure and call signatures that tools/capture_qkv.py relies on, in two styles:
  * "v5" (transformers >= 4.48): the model computes position_embeddings=(cos, sin) once and passes it to
    every attention forward; decoder layers return a tensor.
  * "legacy" (transformers 4.4x before 4.48): each attention has its own rotary_emb and gets position_ids;
    decoder layers return a tuple.
Attention forwards call the module-level apply_rotary_pos_emb, as transformers' modeling files do.
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
               tie_word_embeddings=False, model_type="fake_llama")
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


class FakeAttention(nn.Module):
    def __init__(self, cfg, layer_idx):
        super().__init__()
        self.layer_idx = layer_idx
        self.head_dim = cfg.head_dim
        self.num_heads, self.num_kv = cfg.num_attention_heads, cfg.num_key_value_heads
        self.q_proj = nn.Linear(cfg.hidden_size, self.num_heads * self.head_dim, bias=cfg.attention_bias)
        self.k_proj = nn.Linear(cfg.hidden_size, self.num_kv * self.head_dim, bias=cfg.attention_bias)
        self.v_proj = nn.Linear(cfg.hidden_size, self.num_kv * self.head_dim, bias=cfg.attention_bias)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, cfg.hidden_size, bias=False)
        if cfg.qk_norm:  # Qwen3
            self.q_norm = RMSNorm(self.head_dim, cfg.rms_norm_eps)
            self.k_norm = RMSNorm(self.head_dim, cfg.rms_norm_eps)
        if cfg.style == "legacy":
            self.rotary_emb = RotaryEmbedding(cfg.head_dim, cfg.rope_theta)

    def forward(self, hidden_states, position_embeddings=None, attention_mask=None, position_ids=None, **kwargs):
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
        rep = self.num_heads // self.num_kv
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        scores = (q @ k.transpose(2, 3)) / math.sqrt(self.head_dim)
        causal = torch.ones(n, n, dtype=torch.bool, device=q.device).triu(1)
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

    def forward(self, hidden_states, attention_mask=None, position_ids=None, position_embeddings=None, **kwargs):
        residual = hidden_states
        h, _ = self.self_attn(hidden_states=self.input_layernorm(hidden_states), attention_mask=attention_mask,
                              position_ids=position_ids, position_embeddings=position_embeddings)
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

    def forward(self, input_ids, use_cache=False, **kwargs):
        h = self.embed_tokens(input_ids)
        position_ids = torch.arange(input_ids.shape[1], device=input_ids.device)[None]
        pe = self.rotary_emb(h, position_ids) if self.config.style == "v5" else None
        for layer in self.layers:
            if self.config.style == "v5":
                h = layer(h, attention_mask=None, position_ids=position_ids, position_embeddings=pe)
            else:
                h = layer(h, attention_mask=None, position_ids=position_ids)[0]
        return SimpleNamespace(last_hidden_state=self.norm(h))


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

    def forward(self, input_ids, **kwargs):
        return SimpleNamespace(logits=self.lm_head(self.model(input_ids).last_hidden_state))


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
        return "".join(self.words[i] for i in ids).replace("\u2581", " ").lstrip(" ")
