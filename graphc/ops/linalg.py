"""Contractions: batched matmul with NumPy broadcasting, and dot."""
from __future__ import annotations

import numpy as np

from graphc.assumptions import same_dim
from graphc.errors import DTypeError, ShapeError
from graphc.ops import elementwise as ew
from graphc.ops import layout
from graphc.ops.shapes import broadcast_shapes, same_dtype
from graphc.registry import Kind, defgrad, defop
from graphc.tensor import Tensor, located, make
from graphc.types import TensorType, shape_str


def _matmul_rule(types, attrs):
    a, b = types
    dtype = same_dtype(types)
    if dtype == "bool":
        raise DTypeError("matmul of bool tensors is not supported")
    if a.ndim < 2 or b.ndim < 2:
        raise ShapeError(f"operands need rank 2 or more, got {shape_str(a.shape)} @ "
                         f"{shape_str(b.shape)}")
    if same_dim(a.shape[-1], b.shape[-2]) is None:
        raise ShapeError(f"inner dimensions differ: {shape_str(a.shape)} @ "
                         f"{shape_str(b.shape)} ({a.shape[-1]} != {b.shape[-2]})")
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return TensorType(dtype, batch + (a.shape[-2], b.shape[-1]))


def _matmul_grad(g, out, a, b):
    ga = matmul(g, layout.swapaxes(b, -1, -2))
    gb = matmul(layout.swapaxes(a, -1, -2), g)
    return ew.unbroadcast(ga, a.type), ew.unbroadcast(gb, b.type)


defop("matmul", Kind.CONTRACTION, _matmul_rule, arity=2,
      reference=lambda node, dims: np.matmul)
defgrad("matmul", _matmul_grad)


@located("matmul")
def matmul(a, b) -> Tensor:
    """a @ b as numpy.matmul: batched over leading dims, 1-D operands promoted and squeezed."""
    a, b = ew.coerce(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: operands must not be scalars, got {shape_str(a.shape)} @ "
                         f"{shape_str(b.shape)}")
    a2 = layout.reshape(a, (1,) + a.shape) if a.ndim == 1 else a
    b2 = layout.reshape(b, b.shape + (1,)) if b.ndim == 1 else b
    out = make("matmul", [a2, b2])
    if a.ndim == 1 or b.ndim == 1:
        shape = out.shape[:-2] + (out.shape[-2],) * (a.ndim > 1) + (out.shape[-1],) * (b.ndim > 1)
        out = layout.reshape(out, shape)
    return out


@located("dot")
def dot(a, b) -> Tensor:
    """numpy.dot for operands of rank 1 or 2 (use matmul for batches)."""
    a, b = ew.coerce(a, b)
    if a.ndim > 2 or b.ndim > 2:
        raise ShapeError(f"dot: supports rank 1 and 2, got {shape_str(a.shape)} and "
                         f"{shape_str(b.shape)}; use gc.matmul for batches")
    return matmul(a, b)


Tensor.__matmul__ = matmul
Tensor.__rmatmul__ = lambda self, other: matmul(other, self)
