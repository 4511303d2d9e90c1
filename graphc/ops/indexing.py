"""Gather and scatter: take, take_along_axis and their scatter-add gradients, one_hot."""
from __future__ import annotations

import numpy as np

from graphc.assumptions import same_dim
from graphc.attrs import AXIS, DTYPE, NONNEG_INT, SHAPE
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


def _check_indices(idx: TensorType, axis: int, ndim: int) -> None:
    if idx.dtype not in INTS:
        raise DTypeError(f"indices must be integers, got {idx.dtype}")
    if axis >= ndim:
        raise ShapeError(f"axis {axis} is out of range for rank {ndim}")


def _take_rule(types, attrs):
    x, idx = types
    axis = attrs["axis"]
    _check_indices(idx, axis, x.ndim)
    return TensorType(x.dtype, x.shape[:axis] + idx.shape + x.shape[axis + 1:])


def _take_grad_rule(types, attrs):
    g, idx = types
    shape, axis = tuple(attrs["shape"]), attrs["axis"]
    _check_indices(idx, axis, len(shape))
    expected = shape[:axis] + idx.shape + shape[axis + 1:]
    if g.ndim != len(expected) or None in map(same_dim, g.shape, expected):
        raise ShapeError(f"gradient {shape_str(g.shape)} does not match take of indices "
                         f"{shape_str(idx.shape)} from {shape_str(shape)} on axis {axis}")
    return TensorType(g.dtype, shape)


def _take_ref(node, dims):
    axis = node.attrs["axis"]
    return lambda x, idx: np.take(x, idx, axis=axis)


def _take_grad_ref(node, dims):
    axis, shape, dtype = node.attrs["axis"], dims(node.attrs["shape"]), np.dtype(node.dtype)
    lead = (slice(None),) * axis

    def scatter_add(g, idx):
        out = np.zeros(shape(), dtype)
        np.add.at(out, lead + (idx,), g)
        return out
    return scatter_add


_AXIS_SHAPE = {"shape": SHAPE, "axis": AXIS}
defop("take", Kind.INDEXING, _take_rule, arity=2, attrs={"axis": AXIS}, reference=_take_ref)
defop("take_grad", Kind.INDEXING, _take_grad_rule, arity=2, attrs=_AXIS_SHAPE,
      reference=_take_grad_ref)
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
    _check_indices(idx, attrs["axis"], x.ndim)
    if idx.ndim != x.ndim or any(same_dim(a, b) is None for i, (a, b) in
                                 enumerate(zip(x.shape, idx.shape)) if i != attrs["axis"]):
        raise ShapeError(f"indices {shape_str(idx.shape)} must have the rank of x "
                         f"{shape_str(x.shape)} and its dims off axis {attrs['axis']}")
    return TensorType(x.dtype, idx.shape)


def _along_grad_rule(types, attrs):
    g, idx = types
    _along_rule([TensorType(g.dtype, tuple(attrs["shape"])), idx], attrs)
    if g.ndim != idx.ndim or None in map(same_dim, g.shape, idx.shape):
        raise ShapeError(f"gradient {shape_str(g.shape)} must have the shape of the indices "
                         f"{shape_str(idx.shape)}")
    return TensorType(g.dtype, tuple(attrs["shape"]))


def _along_index(idx: np.ndarray, axis: int) -> tuple:
    """The fancy index that take_along_axis(x, idx, axis) reads, for scattering back."""
    index = []
    for i, n in enumerate(idx.shape):
        if i == axis:
            index.append(idx)
        else:
            shape = [1] * idx.ndim
            shape[i] = n
            index.append(np.arange(n).reshape(shape))
    return tuple(index)


def _along_ref(node, dims):
    axis = node.attrs["axis"]
    return lambda x, idx: np.take_along_axis(x, idx, axis=axis)


def _along_grad_ref(node, dims):
    axis, shape, dtype = node.attrs["axis"], dims(node.attrs["shape"]), np.dtype(node.dtype)

    def scatter_add(g, idx):
        out = np.zeros(shape(), dtype)
        np.add.at(out, _along_index(idx, axis), g)
        return out
    return scatter_add


defop("take_along_axis", Kind.INDEXING, _along_rule, arity=2, attrs={"axis": AXIS},
      reference=_along_ref)
defop("take_along_axis_grad", Kind.INDEXING, _along_grad_rule, arity=2, attrs=_AXIS_SHAPE,
      reference=_along_grad_ref)
defgrad("take_along_axis", lambda g, out, x, idx: (
    make("take_along_axis_grad", [g, idx], {"shape": x.shape, "axis": out.attrs["axis"]}), None))
defgrad("take_along_axis_grad", lambda g, out, gy, idx: (
    make("take_along_axis", [g, idx], {"axis": out.attrs["axis"]}), None))


@located("take_along_axis")
def take_along_axis(x, indices, axis: int) -> Tensor:
    """numpy.take_along_axis: pick along `axis` with indices of x's rank."""
    x, idx = as_tensor(x), _indices(indices)
    return make("take_along_axis", [x, idx], {"axis": normalize_axis(axis, x.ndim)})


def _one_hot_rule(types, attrs):
    _check_indices(types[0], 0, 1)
    return TensorType(attrs["dtype"], types[0].shape + (attrs["depth"],))


def _one_hot_ref(node, dims):
    depth, dtype = node.attrs["depth"], np.dtype(node.attrs["dtype"])
    return lambda idx: (idx[..., None] == np.arange(depth)).astype(dtype)


defop("one_hot", Kind.INDEXING, _one_hot_rule, attrs={"depth": NONNEG_INT, "dtype": DTYPE},
      reference=_one_hot_ref)


@located("one_hot")
def one_hot(indices, depth: int, dtype="float32") -> Tensor:
    """A new last axis of length depth, 1 at each index and 0 elsewhere."""
    return make("one_hot", [_indices(indices)], {"depth": int(depth), "dtype": canonical(dtype)})
