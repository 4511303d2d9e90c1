"""Shape-rule helpers shared by the op declarations (broadcasting, axes, reductions)."""
from __future__ import annotations

from typing import Sequence

from graphc.assumptions import broadcast_dim
from graphc.dims import Dim
from graphc.errors import DTypeError, ShapeError
from graphc.types import TensorType, shape_str


def broadcast_shapes(*shapes: tuple[Dim, ...]) -> tuple[Dim, ...]:
    ndim = max(len(s) for s in shapes)
    result: list[Dim] = [1] * ndim
    for shape in shapes:
        padded = (1,) * (ndim - len(shape)) + tuple(shape)
        for i, d in enumerate(padded):
            merged = broadcast_dim(result[i], d)
            if merged is None:
                raise ShapeError("shapes " + " and ".join(shape_str(s) for s in shapes)
                                 + " cannot be broadcast together")
            result[i] = merged
    return tuple(result)


def same_dtype(types: Sequence[TensorType]) -> str:
    dtypes = {t.dtype for t in types}
    if len(dtypes) != 1:
        raise DTypeError("operands have different dtypes " + ", ".join(t.dtype for t in types)
                         + "; cast one with gc.cast")
    return types[0].dtype


def normalize_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise ShapeError(f"axis {axis} is out of range for a tensor of rank {ndim}")
    return axis % ndim


def normalize_axes(axis, ndim: int) -> tuple[int, ...]:
    """None means every axis; an int or a sequence of ints, possibly negative."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    axes = tuple(sorted(normalize_axis(int(a), ndim) for a in axis))
    if len(set(axes)) != len(axes):
        raise ShapeError(f"repeated axis in {axis}")
    return axes


def reduced_shape(shape: tuple[Dim, ...], axes: tuple[int, ...], keepdims: bool):
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def num_elements(shape: tuple[Dim, ...]) -> int | None:
    """The element count of a static shape, None when a dim is symbolic."""
    count = 1
    for d in shape:
        if not isinstance(d, int):
            return None
        count *= d
    return count
