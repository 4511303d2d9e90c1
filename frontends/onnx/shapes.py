"""Shape values with symbolic dims: what Shape gives for a tensor whose batch dim is a symbol.

PyTorch exports with a dynamic batch compute reshape targets at run time:
Shape -> Gather -> Mul -> Unsqueeze -> Concat -> Reshape. graphc has no shape-valued tensors,
so the loader carries such a value as a SymbolicShape, an array of dims (ints, symbols and
expressions such as batch * heads, graphc/dims.py), through the shape ops below, and the
consumers (Reshape, Expand, ConstantOfShape) read it as a shape with symbolic dims. Any other
use needs its value at load time and is reported.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

import graphc as gc
from graphc import dims


class SymbolicShape:
    """An int64 vector (or scalar) whose entries are ints or symbolic dim names."""

    dtype = "int64"

    def __init__(self, entries: np.ndarray):
        self.entries = np.asarray(entries, dtype=object)

    @property
    def shape(self) -> tuple:
        return self.entries.shape

    @property
    def ndim(self) -> int:
        return self.entries.ndim

    def __repr__(self) -> str:
        return f"SymbolicShape({self.entries.tolist()})"


def as_value(entries: np.ndarray):
    """A constant when every entry is an int, else a SymbolicShape."""
    entries = np.asarray(entries, dtype=object)
    if all(isinstance(v, (int, np.integer)) for v in entries.reshape(-1)):
        return gc.constant(entries.astype(np.int64))
    return SymbolicShape(entries)


def _divide(a, b):
    """a / b of dims as ONNX's integer Div computes sizes: exact, or floored by an int."""
    exact = dims.divide_exact(a, b)
    if exact is not None:
        return exact
    if isinstance(b, int) and b > 0:
        return dims.floordiv(a, b)
    raise ValueError(f"cannot divide the dim {a} by {b}")


def _arithmetic(fn):
    """An elementwise dim operation on arrays of dims (ints, symbols, expressions)."""
    elementwise = np.frompyfunc(lambda a, b: fn(_plain(a), _plain(b)), 2, 1)
    return lambda n, xs: elementwise(np.asarray(xs[0], object), np.asarray(xs[1], object))


def _plain(v):
    return int(v) if isinstance(v, (int, np.integer)) else v


def _ints(values) -> list[int]:
    return [int(v) for v in np.asarray(values).reshape(-1)]


def _slice(a, starts, ends, axes=None, steps=None):
    key = [slice(None)] * a.ndim
    axes = range(len(_ints(starts))) if axes is None else _ints(axes)
    steps = [1] * len(_ints(starts)) if steps is None else _ints(steps)
    for s, e, ax, st in zip(_ints(starts), _ints(ends), axes, steps):
        key[ax] = slice(s, e, st)
    return a[tuple(key)]


def _unsqueeze(a, axes):
    for ax in sorted(_ints(axes)):
        a = np.expand_dims(a, ax if ax >= 0 else ax + a.ndim + 1)
    return a


def _squeeze(a, axes=None):
    return np.squeeze(a, None if axes is None else tuple(_ints(axes)))


# op -> fn(node, entries of input 0 or the list of inputs' entries) evaluated on object arrays
EVALUATORS: dict[str, Callable] = {
    "Identity": lambda n, xs: xs[0],
    "Cast": lambda n, xs: xs[0],
    "Gather": lambda n, xs: np.take(xs[0], np.asarray(xs[1], np.int64), axis=n.attr("axis", 0)),
    "Concat": lambda n, xs: np.concatenate(xs, axis=n.attr("axis", 0)),
    "Slice": lambda n, xs: _slice(xs[0], *xs[1:]) if n.opset >= 10 else
    _slice(xs[0], n.attr("starts"), n.attr("ends"), n.attr("axes")),
    "Unsqueeze": lambda n, xs: _unsqueeze(xs[0], xs[1] if n.opset >= 13 else n.attr("axes")),
    "Squeeze": lambda n, xs: _squeeze(xs[0], xs[1] if n.opset >= 13 and len(xs) > 1
                                      else n.attr("axes")),
    "Reshape": lambda n, xs: np.reshape(xs[0], _ints(xs[1])),
    "Add": _arithmetic(dims.add),
    "Sub": _arithmetic(dims.sub),
    "Mul": _arithmetic(dims.mul),
    "Div": _arithmetic(_divide),
}
