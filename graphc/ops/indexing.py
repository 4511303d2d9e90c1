"""Gather and scatter: take, take_along_axis and their scatter-add gradients, one_hot.

An index out of range raises gc.IndexRangeError when the graph runs. With the attribute
negative_from_end=True (NumPy's semantics, gc.take's default) an index -k means n - k, so
take accepts [-n, n); with False (class labels, embedding ids) and for one_hot, only [0, n).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from graphc.assumptions import same_dim
from graphc.attrs import AXIS, BOOL, DTYPE, NONNEG_INT, SHAPE, optional
from graphc.dtypes import INTS, canonical
from graphc.errors import DTypeError, IndexRangeError, ShapeError
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


# ---- run-time index checks (DESIGN: no silent wrong answers) ----------------------------------

_UNSIGNED = {np.dtype(np.int32): np.uint32, np.dtype(np.int64): np.uint64}


def _out_of_range(node, idx, n: int, lowest: int) -> IndexRangeError:
    """The error naming the op, the first bad index, the valid range and the user's line."""
    idx = np.asarray(idx)
    position = tuple(int(i) for i in np.argwhere((idx < lowest) | (idx >= n))[0])
    at = f" at position {position}" if position else ""
    built = f" (built at {node.loc})" if node.loc else ""
    return IndexRangeError(f"{node.op}: index {idx[position]}{at} is out of range "
                           f"[{lowest}, {n}) for an axis of length {n}{built}")


def index_check(node, negative_from_end: bool) -> Callable[[np.ndarray, int], None]:
    """check(idx, n): raise unless every index is in [-n, n) (NumPy's), else in [0, n)."""
    if negative_from_end:
        def check(idx, n):
            if idx.size and not (-n <= idx.min() and idx.max() < n):
                raise _out_of_range(node, idx, n, -n)
        return check

    def check_strict(idx, n):
        # NOTE: viewed as unsigned, a negative index is huge: one maximum checks both bounds.
        if idx.size and idx.view(_UNSIGNED[idx.dtype]).max() >= n:
            raise _out_of_range(node, idx, n, 0)
    return check_strict


def _take_ref(node, dims):
    axis, check = node.attrs["axis"], index_check(node, node.attrs["negative_from_end"])

    def take(x, idx):
        check(idx, x.shape[axis])
        return np.take(x, idx, axis=axis)
    return take


def _take_grad_ref(node, dims):
    axis, shape, dtype = node.attrs["axis"], dims(node.attrs["shape"]), np.dtype(node.dtype)
    lead, check = (slice(None),) * axis, index_check(node, node.attrs["negative_from_end"])

    def scatter_add(g, idx):
        out = np.zeros(shape(), dtype)
        check(idx, out.shape[axis])
        np.add.at(out, lead + (idx,), g)
        return out
    return scatter_add


# NOTE: files written before the attribute existed hold NumPy-style takes.
_GATHER = {"axis": AXIS, "negative_from_end": optional(BOOL, True)}
_SCATTER = {"shape": SHAPE, **_GATHER}


def _gather_attrs(out: Tensor) -> dict:
    return {"axis": out.attrs["axis"], "negative_from_end": out.attrs["negative_from_end"]}


defop("take", Kind.INDEXING, _take_rule, arity=2, attrs=_GATHER, reference=_take_ref)
defop("take_grad", Kind.INDEXING, _take_grad_rule, arity=2, attrs=_SCATTER,
      reference=_take_grad_ref)
defgrad("take", lambda g, out, x, idx: (
    make("take_grad", [g, idx], {"shape": x.shape, **_gather_attrs(out)}), None))
defgrad("take_grad", lambda g, out, gy, idx: (make("take", [g, idx], _gather_attrs(out)), None))


@located("take")
def take(x, indices, axis: int = 0, *, negative_from_end: bool = True) -> Tensor:
    """Gather slices of x along `axis` at integer `indices` (embedding lookup is take).

    As in NumPy, an index -k counts from the end; with negative_from_end=False indices must
    lie in [0, n). Either way an index out of range raises gc.IndexRangeError.
    """
    x, idx = as_tensor(x), _indices(indices)
    return make("take", [x, idx], {"axis": normalize_axis(axis, x.ndim),
                                   "negative_from_end": bool(negative_from_end)})


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
    axis, check = node.attrs["axis"], index_check(node, node.attrs["negative_from_end"])

    def take_along(x, idx):
        check(idx, x.shape[axis])
        return np.take_along_axis(x, idx, axis=axis)
    return take_along


def _along_grad_ref(node, dims):
    axis, shape, dtype = node.attrs["axis"], dims(node.attrs["shape"]), np.dtype(node.dtype)
    check = index_check(node, node.attrs["negative_from_end"])

    def scatter_add(g, idx):
        out = np.zeros(shape(), dtype)
        check(idx, out.shape[axis])
        np.add.at(out, _along_index(idx, axis), g)
        return out
    return scatter_add


defop("take_along_axis", Kind.INDEXING, _along_rule, arity=2, attrs=_GATHER,
      reference=_along_ref)
defop("take_along_axis_grad", Kind.INDEXING, _along_grad_rule, arity=2, attrs=_SCATTER,
      reference=_along_grad_ref)
defgrad("take_along_axis", lambda g, out, x, idx: (
    make("take_along_axis_grad", [g, idx], {"shape": x.shape, **_gather_attrs(out)}), None))
defgrad("take_along_axis_grad", lambda g, out, gy, idx: (
    make("take_along_axis", [g, idx], _gather_attrs(out)), None))


@located("take_along_axis")
def take_along_axis(x, indices, axis: int, *, negative_from_end: bool = True) -> Tensor:
    """numpy.take_along_axis: pick along `axis` with indices of x's rank (see take on -k)."""
    x, idx = as_tensor(x), _indices(indices)
    return make("take_along_axis", [x, idx], {"axis": normalize_axis(axis, x.ndim),
                                              "negative_from_end": bool(negative_from_end)})


def _one_hot_rule(types, attrs):
    _check_indices(types[0], 0, 1)
    return TensorType(attrs["dtype"], types[0].shape + (attrs["depth"],))


def _one_hot_ref(node, dims):
    depth, dtype = node.attrs["depth"], np.dtype(node.attrs["dtype"])
    check = index_check(node, negative_from_end=False)

    def one_hot(idx):
        check(idx, depth)
        return (idx[..., None] == np.arange(depth)).astype(dtype)
    return one_hot


defop("one_hot", Kind.INDEXING, _one_hot_rule, attrs={"depth": NONNEG_INT, "dtype": DTYPE},
      reference=_one_hot_ref)


@located("one_hot")
def one_hot(indices, depth: int, dtype="float32") -> Tensor:
    """A new last axis of length depth, 1 at each index and 0 elsewhere (indices in [0, depth))."""
    return make("one_hot", [_indices(indices)], {"depth": int(depth), "dtype": canonical(dtype)})
