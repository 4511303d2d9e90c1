"""IMPL[op](node, dims) -> a function of the input arrays: the executable spec of every op.

`dims(shape)` turns a shape that may hold symbolic dims into a zero-argument function giving
the concrete shape of the current call. Constant folding evaluates through this same table.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import scipy.special

Kernel = Callable[..., np.ndarray]
Factory = Callable[..., Kernel]
IMPL: dict[str, Factory] = {}


def register(*ops: str):
    def decorate(factory: Factory) -> Factory:
        for op in ops:
            IMPL[op] = factory
        return factory
    return decorate


def _plain(op: str, fn: Kernel) -> None:
    IMPL[op] = lambda node, dims: fn


for _op, _fn in {
    "neg": np.negative, "abs": np.abs, "sign": np.sign, "exp": np.exp, "log": np.log,
    "log1p": np.log1p, "expm1": np.expm1, "sqrt": np.sqrt, "square": np.square,
    "reciprocal": np.reciprocal, "sin": np.sin, "cos": np.cos, "tanh": np.tanh,
    "erf": scipy.special.erf, "floor": np.floor, "ceil": np.ceil,
    "logical_not": np.logical_not, "sigmoid": scipy.special.expit,
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
    "power": np.power, "maximum": np.maximum, "minimum": np.minimum, "equal": np.equal,
    "not_equal": np.not_equal, "less": np.less, "less_equal": np.less_equal,
    "greater": np.greater, "greater_equal": np.greater_equal,
    "logical_and": np.logical_and, "logical_or": np.logical_or, "where": np.where,
    "matmul": np.matmul,
}.items():
    _plain(_op, _fn)

_plain("stop_gradient", lambda x: x)
_plain("rsqrt", lambda x: np.reciprocal(np.sqrt(x)))
_plain("relu", lambda x: np.maximum(x, 0))
_plain("softplus", lambda x: np.logaddexp(x, 0))


@register("cast")
def _cast(node, dims):
    dtype = np.dtype(node.attrs["dtype"])
    return lambda x: x.astype(dtype)


_REDUCERS = {"sum": np.add.reduce, "prod": np.multiply.reduce,
             "max": np.maximum.reduce, "min": np.minimum.reduce}


@register(*_REDUCERS)
def _reduce(node, dims):
    reducer, axes, keepdims = _REDUCERS[node.op], node.attrs["axes"], node.attrs["keepdims"]
    if node.op in ("sum", "prod"):
        dtype = np.dtype(node.dtype)
        return lambda x: reducer(x, axis=axes, dtype=dtype, keepdims=keepdims)
    return lambda x: reducer(x, axis=axes, keepdims=keepdims)


@register("argmax", "argmin")
def _arg(node, dims):
    fn, axis, keepdims = getattr(np, node.op), node.attrs["axis"], node.attrs["keepdims"]
    return lambda x: fn(x, axis=axis, keepdims=keepdims)


@register("shape_size")
def _shape_size(node, dims):
    axes, dtype = node.attrs["axes"], np.dtype(node.dtype)
    return lambda x: np.array(math.prod(x.shape[a] for a in axes), dtype)


@register("reshape")
def _reshape(node, dims):
    shape = dims(node.attrs["shape"])
    return lambda x: x.reshape(shape())


@register("transpose")
def _transpose(node, dims):
    perm = node.attrs["perm"]
    return lambda x: x.transpose(perm)


@register("broadcast_to")
def _broadcast_to(node, dims):
    shape = dims(node.attrs["shape"])
    return lambda x: np.broadcast_to(x, shape())


@register("concatenate")
def _concatenate(node, dims):
    axis = node.attrs["axis"]
    return lambda *xs: np.concatenate(xs, axis=axis)


def _slices(node) -> tuple[slice, ...]:
    return tuple(slice(*s) for s in node.attrs["slices"])


@register("slice")
def _slice(node, dims):
    index = _slices(node)
    return lambda x: x[index]


@register("unslice")
def _unslice(node, dims):
    index, shape, dtype = _slices(node), dims(node.attrs["shape"]), np.dtype(node.dtype)

    def unslice(g):
        out = np.zeros(shape(), dtype)
        out[index] = g
        return out
    return unslice


@register("pad")
def _pad(node, dims):
    pads, value = node.attrs["pads"], node.attrs["value"]
    return lambda x: np.pad(x, pads, constant_values=value)


@register("take")
def _take(node, dims):
    axis = node.attrs["axis"]
    return lambda x, idx: np.take(x, idx, axis=axis)


@register("take_grad")
def _take_grad(node, dims):
    axis, shape, dtype = node.attrs["axis"], dims(node.attrs["shape"]), np.dtype(node.dtype)
    lead = (slice(None),) * axis

    def scatter_add(g, idx):
        out = np.zeros(shape(), dtype)
        np.add.at(out, lead + (idx,), g)
        return out
    return scatter_add


@register("take_along_axis")
def _take_along(node, dims):
    axis = node.attrs["axis"]
    return lambda x, idx: np.take_along_axis(x, idx, axis=axis)


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


@register("take_along_axis_grad")
def _take_along_grad(node, dims):
    axis, shape, dtype = node.attrs["axis"], dims(node.attrs["shape"]), np.dtype(node.dtype)

    def scatter_add(g, idx):
        out = np.zeros(shape(), dtype)
        np.add.at(out, _along_index(idx, axis), g)
        return out
    return scatter_add


@register("one_hot")
def _one_hot(node, dims):
    depth, dtype = node.attrs["depth"], np.dtype(node.attrs["dtype"])
    return lambda idx: (idx[..., None] == np.arange(depth)).astype(dtype)
