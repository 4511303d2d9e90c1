"""Scaled dot-product attention, a composite of matmul and softmax, and the causal mask.

Being built from existing ops, its gradient comes from theirs and fusion sees plain
contractions, elementwise ops and reductions.
"""
from __future__ import annotations

import math

import numpy as np

from graphc.dtypes import is_float
from graphc.errors import DTypeError, ShapeError
from graphc.ops.activations import softmax
from graphc.ops.elementwise import cast, where
from graphc.ops.layout import swapaxes
from graphc.ops.leaves import as_tensor, constant
from graphc.ops.linalg import matmul
from graphc.ops.shapes import broadcast_shapes
from graphc.source import user_location
from graphc.tensor import Tensor
from graphc.types import shape_str

__all__ = ["scaled_dot_product_attention", "causal_mask"]

_OP = "scaled_dot_product_attention"


def _error(kind: type, message: str) -> Exception:
    loc = user_location()
    return kind(f"{_OP}: {message}" + (f" (at {loc})" if loc else ""))


def causal_mask(length: int) -> Tensor:
    """A (length, length) bool mask letting position i attend to positions j <= i only."""
    return constant(np.tril(np.ones((length, length), bool)))


def _check(q: Tensor, k: Tensor, v: Tensor) -> None:
    shapes = f"q {shape_str(q.shape)}, k {shape_str(k.shape)}, v {shape_str(v.shape)}"
    if not (is_float(q.dtype) and q.dtype == k.dtype == v.dtype):
        raise _error(DTypeError, f"q, k and v must share one float dtype, got {q.dtype}, "
                                 f"{k.dtype}, {v.dtype}")
    if min(q.ndim, k.ndim, v.ndim) < 2:
        raise _error(ShapeError, f"q, k and v need (..., length, features) shapes, got {shapes}")
    if not isinstance(q.shape[-1], int):
        raise _error(ShapeError, f"the feature dim of q must be static, got {shapes}")
    if q.shape[-1] != k.shape[-1] or (isinstance(k.shape[-2], int)
                                      and isinstance(v.shape[-2], int)
                                      and k.shape[-2] != v.shape[-2]):
        raise _error(ShapeError, f"q and k need equal feature dims and k and v equal lengths, "
                                 f"got {shapes}")


def scaled_dot_product_attention(q, k, v, mask=None) -> Tensor:
    """softmax(q kᵀ / sqrt(d)) v over the last two axes, batched over the leading ones.

    q is (..., Lq, d), k (..., Lk, d), v (..., Lk, dv); the result is (..., Lq, dv). mask
    broadcasts against the (..., Lq, Lk) scores: a bool mask keeps the True positions, a
    float mask is added to the scores (use -inf or a large negative number to exclude).
    """
    q, k, v = as_tensor(q), as_tensor(k), as_tensor(v)
    _check(q, k, v)
    scores = matmul(q, swapaxes(k, -1, -2)) * (1.0 / math.sqrt(q.shape[-1]))
    if mask is not None:
        mask = as_tensor(mask)
        try:
            broadcast_shapes(mask.shape, scores.shape)
        except ShapeError:
            raise _error(ShapeError, f"mask {shape_str(mask.shape)} does not broadcast against "
                                     f"the scores {shape_str(scores.shape)}") from None
        if mask.dtype == "bool":
            # NOTE: the most negative finite number, not -inf: a fully masked row then gives
            # a uniform average instead of nan.
            scores = where(mask, scores, float(np.finfo(scores.dtype).min))
        else:
            scores = scores + cast(mask, scores.dtype)
    return matmul(softmax(scores, axis=-1), v)
