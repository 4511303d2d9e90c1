"""Reductions (axes as an attribute or, from opset 13/18, as an input), ArgMax/ArgMin, CumSum."""
from __future__ import annotations

import numpy as np

import graphc as gc
from frontends.onnx.node import Node
from frontends.onnx.table import converts
from graphc.dtypes import is_float
from graphc.tensor import Tensor

# The first opset taking axes as an input: ReduceSum from 13, the others from 18.
_AXES_INPUT_SINCE = {"ReduceSum": 13}


def _extreme(x: Tensor, axes, keepdims: bool, op) -> Tensor:
    """max/min that gives -inf/+inf (or the int limits) over an empty set, as ONNX does."""
    if all(x.shape[a] != 0 for a in axes):
        return op(x, axes, keepdims)
    if x.dtype == "bool":
        bound = op is gc.min
    elif is_float(x.dtype):
        bound = -np.inf if op is gc.max else np.inf
    else:
        bound = np.iinfo(x.dtype).min if op is gc.max else np.iinfo(x.dtype).max
    shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape)) if keepdims else \
        tuple(d for i, d in enumerate(x.shape) if i not in axes)
    return gc.broadcast_to(gc.constant(np.array(bound, x.dtype)), shape)


_REDUCERS = {
    "ReduceSum": lambda x, a, k: gc.sum(x, a, k),
    "ReduceMean": lambda x, a, k: gc.cast(gc.mean(x, a, k), x.dtype),
    "ReduceMax": lambda x, a, k: _extreme(x, a, k, gc.max),
    "ReduceMin": lambda x, a, k: _extreme(x, a, k, gc.min),
    "ReduceProd": lambda x, a, k: gc.prod(x, a, k),
    "ReduceSumSquare": lambda x, a, k: gc.sum(gc.square(x), a, k),
    "ReduceL1": lambda x, a, k: gc.sum(gc.abs(x), a, k),
    "ReduceL2": lambda x, a, k: _root(gc.sum(gc.square(x), a, k), x.dtype),
    "ReduceLogSum": lambda x, a, k: gc.log(gc.sum(x, a, k)),
    "ReduceLogSumExp": lambda x, a, k: _logsumexp(x, a, k),
}


def _root(s: Tensor, dtype: str) -> Tensor:
    return gc.sqrt(s) if is_float(dtype) else gc.cast(gc.sqrt(gc.cast(s, "float64")), dtype)


def _logsumexp(x: Tensor, axes, keepdims: bool) -> Tensor:
    if all(x.shape[a] != 0 for a in axes):
        return gc.logsumexp(x, axes, keepdims)
    # NOTE: over an empty set: log(0), and max (which logsumexp shifts by) has no identity.
    shape = gc.sum(x, axes, keepdims).shape
    return gc.broadcast_to(gc.constant(np.array(-np.inf, x.dtype)), shape)


@converts(*_REDUCERS, attrs=("axes", "keepdims", "noop_with_empty_axes"))
def reduce(n: Node) -> Tensor:
    x = n.x(0)
    axes = n.ints_input_or_attr(1, "axes", _AXES_INPUT_SINCE.get(n.op_type, 18))
    if not axes:
        if n.attr("noop_with_empty_axes", 0):
            return x
        axes = list(range(x.ndim))
    axes = tuple(sorted({n.axis(a, x.ndim) for a in axes}))
    y = _REDUCERS[n.op_type](x, axes, bool(n.attr("keepdims", 1)))
    return gc.cast(y, x.dtype)


@converts("ArgMax", "ArgMin", attrs=("axis", "keepdims", "select_last_index"))
def arg(n: Node) -> Tensor:
    x = n.x(0)
    axis = n.axis(n.attr("axis", 0), x.ndim)
    keepdims = bool(n.attr("keepdims", 1))
    fn = gc.argmax if n.op_type == "ArgMax" else gc.argmin
    if not n.attr("select_last_index", 0):
        return fn(x, axis, keepdims)
    # The last index of the extremum is the first one in the reversed axis.
    key = [slice(None)] * x.ndim
    key[axis] = slice(None, None, -1)
    return (x.shape[axis] - 1) - fn(x[tuple(key)], axis, keepdims)


@converts("CumSum", attrs=("exclusive", "reverse"))
def cumsum(n: Node) -> Tensor:
    """A product with a triangular 0/1 matrix along the axis (static length)."""
    x = n.x(0)
    axis = n.axis(int(np.asarray(n.static(1)).reshape(-1)[0]), x.ndim)
    size = x.shape[axis]
    if not isinstance(size, int):
        raise n.unsupported(f"a cumulative sum over a symbolic axis of {x.type}")
    k = 1 if n.attr("exclusive", 0) else 0
    tri = np.triu(np.ones((size, size), x.dtype), k)      # tri[i, j] = 1 where i + k <= j
    if n.attr("reverse", 0):
        tri = tri.T
    moved = gc.swapaxes(x, axis, -1)
    return gc.swapaxes(gc.matmul(moved, gc.constant(tri)), axis, -1)


@converts("CumProd", attrs=("exclusive", "reverse"))
def cumprod(n: Node) -> Tensor:
    """A gc.scan along the axis carrying the running product."""
    x = n.x(0)
    axis = n.axis(int(np.asarray(n.static(1)).reshape(-1)[0]), x.ndim)
    moved = gc.swapaxes(x, axis, 0)
    ones = gc.broadcast_to(gc.cast(1, x.dtype), moved.shape[1:])
    exclusive = bool(n.attr("exclusive", 0))

    def step(running, x_t):
        new = running * x_t
        return new, (running if exclusive else new)
    _, products = gc.scan(step, ones, moved, reverse=bool(n.attr("reverse", 0)))
    return gc.swapaxes(products, axis, 0)
