"""Token Sparse Attention restated in PyTorch operations: the one torch home of the selection.

Used by tools/tsa_eval.py inside a model's attention and by the tests that hold it to `tsa run --save`.
Shapes are per layer, batch size 1: q `[Hq, L, D]`, k and v `[Hkv, L, D]` (post-RoPE, causal, grouped-query
attention: query head h reads kv head h // (Hq / Hkv)). The algorithm is docs/algorithm.md /
the spec's section 3 (official code: sparse_attn/token_sparse/sparse_cluster.py), restated:

  score_layer       softmax of the last W queries over their causal keys, mean over the W rows for each prefix
                    key, moving average of width k with zero padding counted (avg_pool1d), normalised per
                    head (n_h) and, after a mean over heads, per layer (G).              cost O(Hq * W * L * D)
  layer_capacity    sort G ascending, running sum, n = #{c_t < tau}; n == 0 -> dense; else
                    capacity = max(min_tokens, P - (n + 1)).                               cost O(P log P)
  select            per head the `capacity` largest n_h (ties to the lower position) + the W window positions,
                    sorted ascending -> [Hq, capacity + W].                              cost O(Hq * P log P)
  sparse_attention  gather Q/K/V rows of each head's set, causal attention on the compact sequence,
                    scatter back; rows outside the set are zero.                      cost O(Hq * L'^2 * D)

Scores are computed in float64 by default (the project's other implementations are fp32/fp64; the official
Triton kernel casts its scores to the activations' dtype, which creates ties at the top-k cut in bf16).
"""

import math

import torch
import torch.nn.functional as F

# Bytes of float64 logits per head chunk in score_layer: bounds memory at long contexts.
_SCORE_CHUNK_BYTES = 1 << 28


def score_layer(q, k, window, kernel, scaling=None, dtype=torch.float64):
    """(head_norm [Hq, P], layer_norm [P]) in `dtype` for q [Hq, L, D], k [Hkv, L, D]; P = L - window > 0."""
    hq, length, dim = q.shape
    group = hq // k.shape[0]
    prefix = length - window
    if prefix <= 0:
        raise ValueError(f"score_layer: {length} tokens leave no prefix before a window of {window}")
    scale = scaling if scaling is not None else 1.0 / math.sqrt(dim)
    rows = torch.arange(prefix, length, device=q.device).unsqueeze(1)
    cols = torch.arange(length, device=q.device).unsqueeze(0)
    future = cols > rows  # [W, L]: key j is after window query i
    chunk = max(1, _SCORE_CHUNK_BYTES // (window * length * 8))
    raw = torch.empty(hq, prefix, dtype=dtype, device=q.device)
    for h0 in range(0, hq, chunk):
        h1 = min(hq, h0 + chunk)
        heads = torch.arange(h0, h1, device=q.device) // group
        logits = (q[h0:h1, prefix:, :].to(dtype) @ k[heads].to(dtype).transpose(1, 2)) * scale  # [h, W, L]
        probs = torch.softmax(logits.masked_fill(future, float("-inf")), dim=-1)
        raw[h0:h1] = probs[:, :, :prefix].mean(dim=1)
    smoothed = F.avg_pool1d(raw.unsqueeze(0), kernel_size=kernel, stride=1, padding=kernel // 2,
                            count_include_pad=True)[0]
    head_norm = smoothed / (smoothed.sum(dim=-1, keepdim=True) + 1e-8)
    layer = smoothed.mean(dim=0)
    layer_norm = layer / (layer.sum() + 1e-8)
    return head_norm, layer_norm


def layer_capacity(layer_norm, tau, min_tokens):
    """Kept prefix tokens per head, or None when the budget drops nothing (the layer stays dense)."""
    if tau <= 0.0:
        return None
    prefix = layer_norm.shape[0]
    cumulative = torch.cumsum(torch.sort(layer_norm).values, dim=0)
    n = int((cumulative < tau).sum().item())
    if n == 0:
        return None
    return max(min_tokens, prefix - (n + 1))


def select(head_norm, capacity, window):
    """Sorted kept indices [Hq, capacity + window] (long): per head the top `capacity` prefix positions by
    head_norm, ties towards the lower position (stable sort), plus the window positions."""
    hq, prefix = head_norm.shape
    top = torch.sort(head_norm, dim=-1, descending=True, stable=True).indices[:, :capacity]
    win = torch.arange(prefix, prefix + window, device=head_norm.device).unsqueeze(0).expand(hq, -1)
    return torch.cat([top, win], dim=-1).sort(dim=-1).values


def is_dense(length, tau, window, min_tokens):
    """Spec section 2: too short a sequence, or tau 0, runs ordinary dense attention."""
    return length <= min_tokens + window or tau <= 0.0


def selection(q, k, tau, window, kernel, min_tokens, scaling=None):
    """Kept index sets [Hq, capacity + W] of one layer, or None when the layer stays dense."""
    if is_dense(q.shape[1], tau, window, min_tokens):
        return None
    head_norm, layer_norm = score_layer(q, k, window, kernel, scaling)
    capacity = layer_capacity(layer_norm, tau, min_tokens)
    return None if capacity is None else select(head_norm, capacity, window)


def causal_attention(q, k, v, scaling, mask=None):
    """Causal softmax attention of [H, n, D] tensors (same H); `mask` [H, n, n] (bool keep / additive float)
    replaces the causal rule when given. torch.nn.functional.scaled_dot_product_attention where it exists
    (torch >= 2.1 for `scale`), a plain fp32 softmax otherwise (Debian's torch 1.13)."""
    sdpa = getattr(F, "scaled_dot_product_attention", None)
    if sdpa is not None:
        try:
            if mask is None:
                return sdpa(q[None], k[None], v[None], is_causal=True, scale=scaling)[0]
            return sdpa(q[None], k[None], v[None], attn_mask=mask[None], scale=scaling)[0]
        except TypeError:  # torch 2.0: no `scale` argument
            pass
    dt = torch.float64 if q.dtype == torch.float64 else torch.float32  # at least fp32 for the softmax
    s = (q.to(dt) @ k.to(dt).transpose(1, 2)) * scaling
    if mask is None:
        n = q.shape[1]
        s = s.masked_fill(torch.ones(n, n, dtype=torch.bool, device=q.device).triu(1), float("-inf"))
    elif mask.dtype == torch.bool:
        s = s.masked_fill(~mask, float("-inf"))
    else:
        s = s + mask.to(dt)
    return (torch.softmax(s, dim=-1) @ v.to(dt)).to(q.dtype)


def sparse_attention(q, k, v, indices, scaling, mask=None):
    """Compress, attend, decompress (official order): output [Hq, L, D] with zero rows off each head's set.

    q [Hq, L, D]; k, v [Hkv, L, D] (each query head gathers its own copy of its kv head's rows);
    indices [Hq, n] sorted; mask: optional [L, L] model mask (bool keep or additive), gathered per head."""
    hq, length, dim = q.shape
    heads = torch.arange(hq, device=q.device) // (hq // k.shape[0])
    idx = indices.unsqueeze(-1).expand(-1, -1, dim)
    qc = torch.gather(q, 1, idx)
    kc = torch.gather(k[heads], 1, idx)
    vc = torch.gather(v[heads], 1, idx)
    mc = None
    if mask is not None:
        mc = mask[indices.unsqueeze(-1), indices.unsqueeze(-2)]  # [Hq, n, n]
    out = causal_attention(qc, kc, vc, scaling, mc)
    full = torch.zeros(hq, length, dim, dtype=out.dtype, device=out.device)
    return full.scatter_(1, idx, out)


# --------------------------------------------------------------------------------------------------
# which layers are sparse (spec section 6)
# --------------------------------------------------------------------------------------------------

def half_layers(num_layers):
    """The official default: the second half of the layers."""
    return list(range(num_layers // 2, num_layers))


def drift_layers(drift, delta):
    """Layers whose normalised drift is at or below its delta quantile (linear interpolation)."""
    d = torch.as_tensor(drift, dtype=torch.float64)
    d = d / d.sum()
    threshold = torch.quantile(d, float(delta))
    return [i for i in range(d.shape[0]) if d[i] <= threshold]


def jaccard(a, b):
    """Mean over heads of |A & B| / |A | B| for two [H, n] index tensors (rows are sets)."""
    values = []
    for ra, rb in zip(a.tolist(), b.tolist()):
        sa, sb = set(ra), set(rb)
        values.append(len(sa & sb) / len(sa | sb) if sa | sb else 1.0)
    return sum(values) / len(values)
