"""Faithfulness of the block-sparse methods (issue 11): the patterns `tsa compare --save` writes equal the
ones the authors' code computes, restated here in torch operations from
../shared/reference/official-tsa/sparse_attn/{minference,flexprefill,xattention} and
../shared/reference/minference/pit_sparse_flash_attention_v2.py (with MInference's
convert_vertical_slash_indexes), on the bundled sample (1920 tokens, the paper's defaults) and on the
stories260K capture (512 tokens: scaled-down blocks, listed per case). Each case also checks that one
perturbed parameter makes the comparison fail, so the test can tell methods apart.

Restated in fp64 (the C++ core scores in fp64 too); shares no code with the core. Skips cleanly without
torch, without the `tsa` binary (TSA_BIN) or without ../shared.
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    torch = None

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_official_selection import SAMPLE, STORIES, official_selection  # noqa: E402
from test_support import read_safetensors, tsa_binary  # noqa: E402

INF = float("inf")


# ----- MInference (minference.py: Minference_prefill; MInference's convert_vertical_slash_indexes) -----
def minference_ref(q, k, adaptive_budget, last_q=64, block=64):
    """Per head: (vertical columns, slash offsets, boolean pair mask [n, n])."""
    hq, n, _ = q.shape
    budget = int(n * adaptive_budget)
    vertical_size = min(n, max(int(budget * 0.2), 30))
    slash_size = min(n, max(int(budget * 0.8), 50))
    lq = min(last_q, n)
    qk = torch.einsum("hmd,hnd->hmn", q[:, -lq:, :], k) / math.sqrt(128)  # the reference's sqrt(128)
    tri = torch.arange(lq)[:, None] >= torch.arange(lq)[None, :]
    qk[:, :, -lq:] = torch.where(tri, qk[:, :, -lq:], torch.tensor(-INF, dtype=qk.dtype))
    p = torch.softmax(qk, dim=-1)
    vertical = p.sum(-2)
    vertical[:, :30] = INF
    v_top = torch.topk(vertical, vertical_size, dim=-1).indices
    # Diagonal sums, indexed like the reference by t = n - 1 - offset.
    offsets = (n - lq + torch.arange(lq))[:, None] - torch.arange(n)[None, :]
    on = offsets >= 0
    slash = torch.zeros(hq, n, dtype=p.dtype).scatter_add_(
        1, offsets.clamp(min=0).reshape(1, -1).expand(hq, -1), (p * on).reshape(hq, -1))
    slash_t = slash.flip(-1)
    slash_t[:, -100:] = INF
    s_top = (n - 1) - torch.topk(slash_t, slash_size, dim=-1).indices
    results = []
    for h in range(hq):
        vs = sorted(v_top[h].tolist())
        ss = sorted(s_top[h].tolist(), reverse=True)
        results.append((vs, ss, vertical_slash_pairs(vs, ss, n, block)))
    return results


def vertical_slash_pairs(vs, ss, n, block):
    """Pairs the vertical-slash kernel computes: per 64-row block, merged 64-wide slash ranges and the
    vertical columns outside them (convert_vertical_slash_indexes), then causal."""
    mask = np.zeros((n, n), dtype=bool)
    rows = np.arange(n)[:, None]
    for start in range(0, n, block):
        end = start + block
        spans, cols = [], []
        v, s = 0, 0
        v_idx = vs[v]; v += 1
        s_idx = ss[s]; s += 1
        while s_idx >= end:
            s_idx = ss[s]; s += 1
        s_idx = max(end - s_idx, block)
        lo, hi = s_idx - block, s_idx
        while True:
            if v_idx < hi:
                if v_idx < lo:
                    cols.append(v_idx)
                if v < len(vs):
                    v_idx = vs[v]; v += 1
                else:
                    v_idx = end + block
            else:
                if s < len(ss):
                    s_idx = max(end - ss[s], block); s += 1
                else:
                    spans.append((lo, hi))
                    break
                if s_idx > hi + block:
                    spans.append((lo, hi))
                    lo, hi = s_idx - block, s_idx
                elif s_idx > hi:
                    hi += block
        blk = np.zeros((min(end, n) - start, n), dtype=bool)
        for a, b in spans:
            blk[:, max(a, 0):min(b, n)] = True
        for c in cols:
            blk[:, c] = True
        mask[start:min(end, n)] = blk & (np.arange(n)[None, :] <= rows[start:min(end, n)])
    return mask


# ----- FlexPrefill (flexprefill.py: Flexprefill_prefill, get_active_blocks) -----
def flexprefill_ref(q, k, block, gamma, tau, min_budget):
    """Tile masks [Hq, nb, nb] (bool), or None when the sequence runs dense."""
    hq, n, d = q.shape
    if n <= max(2 * block, math.ceil(min_budget / block) * block):
        return None
    nb = math.ceil(n / block)
    min_b = math.ceil(min_budget / block)
    max_b = min(math.ceil(2147483647 / block), nb)
    last_q = q[:, -block:, :] / math.sqrt(d)
    qk = torch.einsum("hid,hjd->hij", last_q, k)
    tri = torch.arange(block)[:, None] >= torch.arange(block)[None, :]
    qk[..., -block:] = qk[..., -block:].masked_fill(~tri, -INF)
    p = torch.softmax(qk, dim=-1)
    offsets = (n - block + torch.arange(block))[:, None] - torch.arange(n)[None, :]
    on = offsets >= 0
    slash = torch.zeros(hq, n, dtype=p.dtype).scatter_add_(
        1, offsets.clamp(min=0).reshape(1, -1).expand(hq, -1), (p * on).reshape(hq, -1)).flip(-1) / block
    vertical = p.mean(-2)

    def cover(x):
        return (torch.cumsum(torch.sort(x, dim=-1, descending=True).values, dim=-1) <= gamma).sum(-1) + 1

    num_v = (cover(vertical) // 128 + 1).clamp(min=min_b).clamp(max=max_b)
    num_s = (cover(slash) // 128 + 1).clamp(min=min_b).clamp(max=max_b)

    def sumpool(x):
        return F.pad(x, (0, nb * block - n)).view(hq, nb, block).sum(-1)

    v_pool, s_pool = sumpool(vertical), sumpool(slash)
    counts = torch.tensor([min(block, n - b * block) for b in range(nb)], dtype=k.dtype)
    avg_k = F.pad(k, (0, 0, 0, nb * block - n)).view(hq, nb, block, d).sum(2) / counts[None, :, None]
    est = torch.softmax(torch.einsum("hd,hbd->hb", last_q.mean(1), avg_k), dim=-1)
    m = (est + v_pool) / 2
    js = torch.sqrt(0.5 * (est * torch.log(est / m)).sum(-1) + 0.5 * (v_pool * torch.log(v_pool / m)).sum(-1))
    query_aware = js < tau
    num_v[query_aware] = min_b
    num_s[query_aware] = min_b
    v_pool[:, 0] = INF
    s_pool[:, -1] = INF
    masks = np.zeros((hq, nb, nb), dtype=bool)
    for h in range(hq):
        tiles = masks[h]
        tiles[0, 0] = True
        for j in torch.topk(s_pool[h], int(num_s[h])).indices.tolist():
            s = nb - 1 - j
            for i in range(nb - s):
                tiles[i + s, i] = True
        for v in torch.topk(v_pool[h], int(num_v[h])).indices.tolist():
            tiles[v:, v] = True
        if query_aware[h]:
            avg_q = F.pad(q[h], (0, 0, 0, nb * block - n)).view(nb, block, d).sum(1) / counts[:, None]
            attn = (avg_q / math.sqrt(d)) @ avg_k[h].T
            attn = attn.masked_fill(~torch.tril(torch.ones(nb, nb, dtype=torch.bool)), -INF)
            attn = torch.softmax(attn, dim=-1).reshape(-1)
            values, idx = torch.sort(attn, descending=True)
            keep = idx[torch.cumsum(values, 0) <= gamma * nb]
            tiles.reshape(-1)[keep.numpy()] = True
    return masks


# ----- XAttention (xattention.py: xattn_estimate torch path, "inverse"; utils.py: find_blocks_chunked) -----
def xattention_ref(q, k, block, stride, threshold, norm=1.0):
    hq, n, d = q.shape
    top = 1 << (n - 1).bit_length()
    chunk = int(max(min(max(2048, top), 128 * 1024 * 2048 // top), 2048))
    pad = ((n + chunk - 1) // chunk) * chunk - n
    qp, kp = F.pad(q, (0, 0, 0, pad)), F.pad(k, (0, 0, 0, pad))
    rk = torch.cat([kp[:, j::stride, :] for j in range(stride)], dim=-1)
    rq = torch.cat([qp[:, (stride - 1 - j)::stride, :] for j in range(stride)], dim=-1)
    rc, rb = chunk // stride, block // stride
    rt, kpad = (n + pad) // stride, pad // stride
    chunks, per_chunk, kblocks = (n + pad) // chunk, rc // rb, (n + pad) // block
    masks = []
    for c in range(chunks):
        w = rq[:, c * rc:(c + 1) * rc, :] @ rk.transpose(1, 2) / math.sqrt(d) / stride / norm
        bias = torch.zeros(rc, rt, dtype=w.dtype)
        if kpad > 0:  # the padded key rows (the reference writes [-0:] when there are none; see docs/methods.md)
            bias[:, rt - kpad:] = -INF
        start = c * rc
        bias[:, start:start + rc] = torch.triu(torch.full((rc, rc), -INF, dtype=w.dtype), diagonal=1)
        bias[:, start + rc:] = -INF
        last = c == chunks - 1 and kpad > 0
        if last:
            bias[rc - kpad:, :] = -INF
        w = torch.softmax(w + bias, dim=-1)
        if last:
            w[:, rc - kpad:, :] = 0
        sums = w.view(hq, per_chunk, rb, kblocks, rb).sum(-1).sum(-2)  # [H, blocks of chunk, kblocks]
        masks.append(find_blocks(sums, c * per_chunk, threshold))
    mask = torch.cat(masks, dim=1)
    qb = math.ceil(n / block)
    mask = mask[:, :qb, :qb] & torch.tril(torch.ones(qb, qb, dtype=torch.bool))
    return mask.numpy()


def find_blocks(x, current, threshold):
    h, rows, cols = x.shape
    forced = torch.zeros(h, rows, cols, dtype=torch.bool)
    forced[:, :, 0] = True
    forced[:, torch.arange(rows), current + torch.arange(rows)] = True
    required = x.sum(-1, keepdim=True) * threshold
    others = torch.sort(x.masked_fill(forced, 0), dim=-1, descending=True).values
    values = torch.cat([torch.zeros(h, rows, 1, dtype=x.dtype), torch.where(forced, x, 0.0).sum(-1, keepdim=True),
                        others[:, :, :-2]], dim=-1)
    order = torch.argsort(torch.where(forced, 100000 * (1 + x), x), dim=-1, descending=True)
    before = torch.cat([torch.zeros(h, rows, 1, dtype=x.dtype), values[:, :, :-1]], dim=-1).cumsum(-1)
    order = torch.where(before < required, order, torch.zeros_like(order))
    mask = forced.clone()
    mask.scatter_(-1, order, True)
    mask[:, :, current + rows:] = False
    return mask


# ----- helpers -----
def pair_mask(ours, prefix, meta, heads):
    """Boolean [Hq, n, n] of the pairs a saved pattern computes (CSR spans and columns, causal)."""
    n, block = meta["length"], meta["block_rows"]
    starts, spans = ours[prefix + ".span_start"], ours[prefix + ".spans"].reshape(-1, 2)
    cstarts, cols = ours[prefix + ".column_start"], ours[prefix + ".columns"]
    qb = math.ceil(n / block)
    masks = np.zeros((heads, n, n), dtype=bool)
    causal = np.tril(np.ones((n, n), dtype=bool))
    for h in range(heads):
        for b in range(qb):
            i = h * qb + b
            rows = slice(b * block, min(n, (b + 1) * block))
            for a, e in spans[starts[i]:starts[i + 1]]:
                masks[h, rows, a:e] = True
            for c in cols[cstarts[i]:cstarts[i + 1]]:
                masks[h, rows, c] = True
        masks[h] &= causal
    return masks


def tile_mask(ours, prefix):
    return ours[prefix + ".blocks"].astype(bool)


@unittest.skipIf(torch is None, "torch is not installed")
class MethodsFaithful(unittest.TestCase):
    def compare(self, capture, layer, methods, settings):
        tsa = tsa_binary(self)
        if not os.path.exists(capture):
            self.skipTest(capture + " is absent")
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "patterns.safetensors")
            cmd = [tsa, "compare", capture, "--layers", str(layer), "--methods", methods, "--quiet",
                   "--save", out]
            if settings:
                cmd += ["--set", ",".join(f"{k}={v}" for k, v in settings.items())]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            ours, meta = read_safetensors(out)
        data, _ = read_safetensors(capture)
        q = torch.from_numpy(np.array(data[f"layers.{layer}.q"], dtype=np.float64))
        k = torch.from_numpy(np.array(data[f"layers.{layer}.k"], dtype=np.float64))
        k = k.repeat_interleave(q.shape[0] // k.shape[0], dim=0)  # repeat_kv, as the hijack does first
        return ours, meta, q, k

    def compress(self, ours, prefix, q, k, capture, layer, tau, window, kernel, min_tokens):
        """The hijack's order: get_index on the full Q/K, compress_qkv, then the method."""
        data, _ = read_safetensors(capture)
        ref = official_selection(data[f"layers.{layer}.q"], data[f"layers.{layer}.k"], tau, window, kernel,
                                 min_tokens)
        self.assertIsNotNone(ref, "the layer must be sparse for a composition test")
        indices = ref[0]
        np.testing.assert_array_equal(ours[prefix + ".tokens"], indices)
        idx = torch.from_numpy(indices.astype(np.int64))
        gather = lambda x: torch.gather(x, 1, idx[:, :, None].expand(-1, -1, x.shape[-1]))
        return gather(q), gather(k)

    # --- MInference ---
    def check_minference(self, capture, layer, budget, perturbed, compose=None):
        methods = "tsa+minference" if compose else "minference"
        settings = {"minference.adaptive_budget": budget}
        if compose:
            settings.update({"tsa.tau": compose[0], "tsa.window": compose[1], "tsa.pool_kernel": compose[2],
                             "tsa.min_tokens": compose[3]})
        ours, meta, q, k = self.compare(capture, layer, methods, settings)
        prefix = f"layers.{layer}.{methods}"
        if compose:
            q, k = self.compress(ours, prefix, q, k, capture, layer, *compose)
        got = pair_mask(ours, prefix, json.loads(meta[prefix]), q.shape[0])
        ref = minference_ref(q, k, budget)
        for h, (vs, ss, mask) in enumerate(ref):
            with self.subTest(head=h):
                self.assertEqual(list(ours[prefix + ".vertical"][h][ours[prefix + ".vertical"][h] >= 0]), vs)
                self.assertEqual(list(ours[prefix + ".slash"][h][ours[prefix + ".slash"][h] >= 0]), ss)
                np.testing.assert_array_equal(got[h], mask)
        bad = minference_ref(q, k, perturbed)
        self.assertFalse(all(np.array_equal(got[h], bad[h][2]) for h in range(len(bad))),
                         "a perturbed adaptive_budget must change the pattern")

    def test_minference_sample_defaults(self):
        self.check_minference(SAMPLE, 7, 0.1, perturbed=0.15)

    def test_minference_stories(self):
        # 512 tokens: budget 0.5 so slash_size (204) exceeds the 100 forced diagonals (at 0.1 it would be 50,
        # and which forced diagonals topk keeps would depend on tie order).
        self.check_minference(STORIES, 3, 0.5, perturbed=0.4)

    def test_tsa_minference_sample(self):
        self.check_minference(SAMPLE, 7, 0.1, perturbed=0.15, compose=(0.005, 128, 7, 1024))

    # --- FlexPrefill ---
    def check_flexprefill(self, capture, layer, block, gamma, tau, min_budget, perturbed, compose=None):
        methods = "tsa+flexprefill" if compose else "flexprefill"
        settings = {"flexprefill.block_size": block, "flexprefill.gamma": gamma, "flexprefill.tau": tau,
                    "flexprefill.min_budget": min_budget}
        if compose:
            settings.update({"tsa.tau": compose[0], "tsa.window": compose[1], "tsa.pool_kernel": compose[2],
                             "tsa.min_tokens": compose[3]})
        ours, meta, q, k = self.compare(capture, layer, methods, settings)
        prefix = f"layers.{layer}.{methods}"
        if compose:
            q, k = self.compress(ours, prefix, q, k, capture, layer, *compose)
        info = json.loads(meta[prefix])
        ref = flexprefill_ref(q, k, block, gamma, tau, min_budget)
        self.assertIsNotNone(ref, "the case must not fall back to dense attention")
        self.assertFalse(info["dense"])
        got = tile_mask(ours, prefix)
        for h in range(ref.shape[0]):
            with self.subTest(head=h):
                np.testing.assert_array_equal(got[h], ref[h])
        args = dict(block=block, gamma=gamma, tau=tau, min_budget=min_budget)
        args.update(perturbed)
        bad = flexprefill_ref(q, k, **args)
        self.assertFalse(np.array_equal(got, bad), f"a perturbed parameter {perturbed} must change the pattern")

    def test_flexprefill_sample_defaults(self):
        # At 1920 tokens the minimum budget (8 of 15 blocks) dominates: perturb it rather than gamma.
        self.check_flexprefill(SAMPLE, 7, 128, 0.95, 0.1, 1024, perturbed={"min_budget": 512})

    def test_flexprefill_sample_query_aware_branch(self):
        # With the paper's tau 0.1 every head of these captures takes the vertical-slash branch (sqrt-JS
        # 0.17-0.47); tau 1 exceeds any sqrt-JS divergence (at most sqrt(ln 2)), so every head is query-aware.
        self.check_flexprefill(SAMPLE, 2, 128, 0.95, 1.0, 1024, perturbed={"gamma": 0.5})

    def test_flexprefill_stories_query_aware_branch(self):
        self.check_flexprefill(STORIES, 1, 32, 0.95, 1.0, 64, perturbed={"gamma": 0.7})

    def test_flexprefill_stories(self):
        # 512 tokens: block 32 and min_budget 64 (the paper's 128 / 1024 would fall back to dense).
        self.check_flexprefill(STORIES, 3, 32, 0.95, 0.1, 64, perturbed={"gamma": 0.7})

    def test_tsa_flexprefill_sample(self):
        self.check_flexprefill(SAMPLE, 7, 128, 0.95, 0.1, 1024, perturbed={"min_budget": 512},
                               compose=(0.005, 128, 7, 1024))

    def test_tsa_flexprefill_stories(self):
        self.check_flexprefill(STORIES, 3, 32, 0.95, 0.1, 64, perturbed={"gamma": 0.7}, compose=(0.05, 32, 7, 64))

    # --- XAttention ---
    def check_xattention(self, capture, layer, block, stride, threshold, perturbed, compose=None):
        methods = "tsa+xattention" if compose else "xattention"
        settings = {"xattention.block_size": block, "xattention.stride": stride, "xattention.threshold": threshold}
        if compose:
            settings.update({"tsa.tau": compose[0], "tsa.window": compose[1], "tsa.pool_kernel": compose[2],
                             "tsa.min_tokens": compose[3]})
        ours, meta, q, k = self.compare(capture, layer, methods, settings)
        prefix = f"layers.{layer}.{methods}"
        if compose:
            q, k = self.compress(ours, prefix, q, k, capture, layer, *compose)
        got = tile_mask(ours, prefix)
        ref = xattention_ref(q, k, block, stride, threshold)
        for h in range(ref.shape[0]):
            with self.subTest(head=h):
                np.testing.assert_array_equal(got[h], ref[h])
        bad = xattention_ref(q, k, block, stride, perturbed)
        self.assertFalse(np.array_equal(got, bad), "a perturbed threshold must change the pattern")

    def test_xattention_sample_defaults(self):
        self.check_xattention(SAMPLE, 7, 128, 16, 0.9, perturbed=0.7)

    def test_xattention_stories(self):
        # 512 tokens: block 32, stride 8 (block 128 leaves 4 blocks, all kept).
        self.check_xattention(STORIES, 3, 32, 8, 0.9, perturbed=0.7)

    def test_tsa_xattention_sample(self):
        self.check_xattention(SAMPLE, 7, 128, 16, 0.9, perturbed=0.7, compose=(0.005, 128, 7, 1024))


if __name__ == "__main__":
    unittest.main()
