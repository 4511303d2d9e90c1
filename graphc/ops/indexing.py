"""Gather and scatter: take, take_along_axis and their scatter-add gradients, one_hot."""
from __future__ import annotations

from graphc.dtypes import INTS, canonical
from graphc.errors import DTypeError, ShapeError
from graphc.ops.leaves import as_tensor
from graphc.ops.shapes import normalize_axis
from graphc.registry import Kind, defgrad, defop
from graphc.tensor import Tensor, located, make
from graphc.types import TensorType, shape_str


def _indices(idx) -> Tensor:
    idx = as_tensor(idx)
    if idx.dtype not in INTS:
        raise DTypeError(f"indices must be integers, got {idx.dtype}")
    return idx


def _take_rule(types, attrs):
    x, idx = types
    axis = attrs["axis"]
    return TensorType(x.dtype, x.shape[:axis] + idx.shape + x.shape[axis + 1:])


def _scatter_rule(types, attrs):
    return TensorType(types[0].dtype, attrs["shape"])


defop("take", Kind.INDEXING, _take_rule)
defop("take_grad", Kind.INDEXING, _scatter_rule)
defgrad("take", lambda g, out, x, idx: (
    make("take_grad", [g, idx], {"shape": x.shape, "axis": out.attrs["axis"]}), None))
defgrad("take_grad", lambda g, out, gy, idx: (
    make("take", [g, idx], {"axis": out.attrs["axis"]}), None))


@located("take")
def take(x, indices, axis: int = 0) -> Tensor:
    """Gather slices of x along `axis` at integer `indices` (embedding lookup is take)."""
    x, idx = as_tensor(x), _indices(indices)
    return make("take", [x, idx], {"axis": normalize_axis(axis, x.ndim)})


gather = take


def _along_rule(types, attrs):
    x, idx = types
    if idx.ndim != x.ndim:
        raise ShapeError(f"indices {shape_str(idx.shape)} must have the rank of x "
                         f"{shape_str(x.shape)}")
    return TensorType(x.dtype, idx.shape)


defop("take_along_axis", Kind.INDEXING, _along_rule)
defop("take_along_axis_grad", Kind.INDEXING, _scatter_rule)
defgrad("take_along_axis", lambda g, out, x, idx: (
    make("take_along_axis_grad", [g, idx], {"shape": x.shape, "axis": out.attrs["axis"]}), None))
defgrad("take_along_axis_grad", lambda g, out, gy, idx: (
    make("take_along_axis", [g, idx], {"axis": out.attrs["axis"]}), None))


@located("take_along_axis")
def take_along_axis(x, indices, axis: int) -> Tensor:
    """numpy.take_along_axis: pick along `axis` with indices of x's rank."""
    x, idx = as_tensor(x), _indices(indices)
    return make("take_along_axis", [x, idx], {"axis": normalize_axis(axis, x.ndim)})


defop("one_hot", Kind.INDEXING,
      lambda types, attrs: TensorType(attrs["dtype"], types[0].shape + (attrs["depth"],)))


@located("one_hot")
def one_hot(indices, depth: int, dtype="float32") -> Tensor:
    """A new last axis of length depth, 1 at each index and 0 elsewhere."""
    return make("one_hot", [_indices(indices)], {"depth": int(depth), "dtype": canonical(dtype)})
