"""Attention (opset 23+): scaled dot-product attention with masks, caches, GQA and softcap.

Follows the ONNX reference: the causal, sliding-window and key-padding biases depend only on
shapes and on nonpad_kv_seqlen (a load-time value), so they are one constant; a run-time
attn_mask is added in the graph. A row every key is masked from gives zeros, not nan.
"""
from __future__ import annotations

import math

import numpy as np

import graphc as gc
from frontends.onnx.node import Node
from frontends.onnx.table import converts
from graphc.tensor import Tensor


def _heads(x: Tensor, heads: int) -> Tensor:
    """(B, L, heads * d) -> (B, heads, L, d)."""
    b, length, hidden = x.shape
    return gc.transpose(gc.reshape(x, (b, length, heads, hidden // heads)), (0, 2, 1, 3))


def _repeat_heads(x: Tensor, reps: int) -> Tensor:
    """Each head repeated reps times in place: [h0, h0, h1, h1, ...]."""
    b, h, length, d = x.shape
    spread = gc.broadcast_to(gc.reshape(x, (b, h, 1, length, d)), (b, h, reps, length, d))
    return gc.reshape(spread, (b, h * reps, length, d))


def _static_bias(n: Node, q_len: int, kv_len: int, past: int, dtype: str) -> np.ndarray | None:
    """The causal, sliding-window and key-padding biases (0 or -inf), or None if none apply."""
    nonpad = np.asarray(n.static(6)).reshape(-1) if n.has(6) else None
    offset = (nonpad - q_len).reshape(-1, 1, 1) if nonpad is not None and not n.has(4) \
        else past
    i = np.arange(q_len).reshape(q_len, 1)
    j = np.arange(kv_len).reshape(1, kv_len)
    allowed = np.ones((q_len, kv_len), bool)
    if n.attr("is_causal", 0):
        allowed = allowed & (j <= i + offset)
    left, right = n.attr("left_window_size", -1), n.attr("right_window_size", -1)
    if left >= 0 or right >= 0:
        win = offset if nonpad is not None else past
        diff = (i + win) - j
        if left >= 0:
            allowed = allowed & (diff <= left)
        if right >= 0:
            allowed = allowed & (-diff <= right)
    if allowed.ndim == 3:
        allowed = allowed[:, None]
    if nonpad is not None:
        allowed = allowed & (j < nonpad.reshape(-1, 1, 1, 1))
    if allowed.all():
        return None
    return np.where(allowed, 0, -np.inf).astype(dtype)


def _softmax(x: Tensor) -> Tensor:
    """Softmax over the last axis that gives 0, not nan, for a row of -inf only."""
    top = gc.max(x, -1, keepdims=True)
    e = gc.exp(x - gc.stop_gradient(gc.where(gc.equal(top, -math.inf), 0, top)))
    total = gc.sum(e, -1, keepdims=True)
    return e / gc.where(gc.equal(total, 0), 1, total)


@converts("Attention", attrs=("is_causal", "kv_num_heads", "q_num_heads",
                              "qk_matmul_output_mode", "scale", "softcap", "softmax_precision",
                              "left_window_size", "right_window_size"))
def attention(n: Node):
    q, k, v = n.same_dtype(n.x(0), n.x(1), n.x(2))
    rank3 = q.ndim == 3
    if rank3:
        q_heads, kv_heads = n.attr("q_num_heads"), n.attr("kv_num_heads")
        if not q_heads or not kv_heads:
            raise n.fail("3-D inputs need q_num_heads and kv_num_heads")
        q, k, v = _heads(q, q_heads), _heads(k, kv_heads), _heads(v, kv_heads)
    dtype = q.dtype
    scale = n.attr("scale", 1 / math.sqrt(q.shape[3]))
    root = math.sqrt(scale)
    past = 0
    if n.has(4):
        past = n.x(4).shape[2]
        k = gc.concatenate([gc.cast(n.x(4), dtype), k], axis=2)
        v = gc.concatenate([gc.cast(n.x(5), dtype), v], axis=2)
    present_k, present_v = k, v
    q_len, kv_len = q.shape[2], k.shape[2]
    bias = None
    if n.has(3):
        mask = n.x(3)
        short = kv_len - mask.shape[-1]
        if short > 0:
            mask = gc.pad(mask, [(0, 0)] * (mask.ndim - 1) + [(0, short)],
                          0.0 if mask.dtype == "bool" else -math.inf)
        bias = gc.where(mask, gc.cast(0, dtype), gc.cast(-math.inf, dtype)) \
            if mask.dtype == "bool" else gc.cast(mask, dtype)
    static = _static_bias(n, q_len, kv_len, past, dtype)
    if static is not None:
        bias = gc.constant(static) if bias is None else bias + gc.constant(static)
    if q.shape[1] != k.shape[1] and q.shape[1] % k.shape[1] == 0:
        reps = q.shape[1] // k.shape[1]
        k, v = _repeat_heads(k, reps), _repeat_heads(v, reps)
    qk = gc.matmul(q * root, gc.swapaxes(k, -1, -2) * root)
    softcap = n.attr("softcap", 0.0)
    if softcap > 0:
        qk = gc.tanh(qk / softcap) * softcap
    with_bias = qk if bias is None else qk + bias
    probs = _softmax(with_bias)
    if bias is not None:
        masked = gc.equal(gc.max(bias, -1, keepdims=True), -math.inf)
        probs = gc.where(masked, gc.cast(0, dtype), probs)
    mode = n.attr("qk_matmul_output_mode", 0)
    qk_out = {2: with_bias, 3: probs}.get(mode, qk)
    y = gc.matmul(probs, v)
    if rank3:
        y = gc.transpose(y, (0, 2, 1, 3))
        y = gc.reshape(y, y.shape[:2] + (-1,))
    return y, present_k, present_v, qk_out
