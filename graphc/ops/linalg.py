"""Contractions: batched matmul with NumPy broadcasting, and dot.

The matmul op computes op(a) @ op(b), where op swaps the last two axes of an operand whose
flag (`transpose_a`, `transpose_b`) is set: a transposed operand costs nothing, as BLAS reads
it through its trans argument (and NumPy through a strided view).
"""
from __future__ import annotations

import functools

import numpy as np

from graphc import dims
from graphc.assumptions import same_dim
from graphc.attrs import BOOL, optional
from graphc.errors import DTypeError, ShapeError
from graphc.ops import elementwise as ew
from graphc.ops import layout
from graphc.ops.shapes import broadcast_shapes, same_dtype
from graphc.registry import Kind, defgrad, defop
from graphc.tensor import Tensor, located, make
from graphc.types import TensorType, shape_str


def _operand_shape(shape: tuple, transposed: bool) -> tuple:
    """The shape matmul multiplies: shape with its last two axes swapped when transposed."""
    return shape[:-2] + (shape[-1], shape[-2]) if transposed else shape


def _matmul_rule(types, attrs):
    a, b = types
    dtype = same_dtype(types)
    if dtype == "bool":
        raise DTypeError("matmul of bool tensors is not supported")
    if a.ndim < 2 or b.ndim < 2:
        raise ShapeError(f"operands need rank 2 or more, got {shape_str(a.shape)} @ "
                         f"{shape_str(b.shape)}")
    sa = _operand_shape(a.shape, attrs["transpose_a"])
    sb = _operand_shape(b.shape, attrs["transpose_b"])
    if same_dim(sa[-1], sb[-2]) is None:
        flags = ", ".join(f"transpose_{n}" for n in "ab" if attrs[f"transpose_{n}"])
        raise ShapeError(f"inner dimensions differ: {shape_str(sa)} @ {shape_str(sb)} "
                         f"({sa[-1]} != {sb[-2]})" + (f" ({flags})" if flags else ""))
    batch = broadcast_shapes(sa[:-2], sb[:-2])
    return TensorType(dtype, batch + (sa[-2], sb[-1]))


def _matmul_ref(node, dims):
    ta, tb = node.attrs["transpose_a"], node.attrs["transpose_b"]

    def matmul(a, b):
        # NOTE: swapaxes is a view; np.matmul hands it to BLAS as a transposed operand
        return np.matmul(a.swapaxes(-1, -2) if ta else a, b.swapaxes(-1, -2) if tb else b)
    return matmul


def _matmul_grad(g, out, a, b):
    """With C = A' @ B' (A' = op(A), B' = op(B)): dA' = G B'^T and dB' = A'^T G, each
    transposed back when its operand's flag is set, written with flags instead of transposes."""
    ta, tb = out.attrs["transpose_a"], out.attrs["transpose_b"]
    if ta:
        ga = flagged_matmul(b, g, tb, True)        # (G B'^T)^T = B' G^T
    else:
        ga = flagged_matmul(g, b, False, not tb)   # G B'^T
    rows_a, rows_g = a, g
    if b.ndim == 2 and a.ndim > 2 and not ta:
        # NOTE: a 2-D b meets every matrix of a's batch, so its gradient sums A'^T G over the
        # batch: that is one product over the rows of all the batch's matrices (a reshape of
        # a and of G), not a batched product and a sum.
        rows_a, rows_g = as_rows(a), as_rows(g)
    if tb:
        gb = flagged_matmul(rows_g, rows_a, True, ta)        # (A'^T G)^T = G^T A'
    else:
        gb = flagged_matmul(rows_a, rows_g, not ta, False)   # A'^T G
    return ew.unbroadcast(ga, a.type), ew.unbroadcast(gb, b.type)


def as_rows(x: Tensor) -> Tensor:
    """x (*batch, M, K) as one (batch * M, K) matrix."""
    return layout.reshape(x, (functools.reduce(dims.mul, x.shape[:-1], 1), x.shape[-1]))


_FLAGS = {"transpose_a": optional(BOOL, False), "transpose_b": optional(BOOL, False)}
defop("matmul", Kind.CONTRACTION, _matmul_rule, arity=2, attrs=_FLAGS, reference=_matmul_ref)
defgrad("matmul", _matmul_grad)


def flagged_matmul(a: Tensor, b: Tensor, transpose_a: bool = False,
                   transpose_b: bool = False) -> Tensor:
    """The matmul node op(a) @ op(b) for operands of rank 2 or more."""
    return make("matmul", [a, b], {"transpose_a": transpose_a, "transpose_b": transpose_b})


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
