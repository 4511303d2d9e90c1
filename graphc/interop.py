"""What NumPy and Python do with a graph Tensor: operators build nodes, the rest says what to do.

A Tensor has no value until a compiled function computes it, so float(t), np.asarray(t) or
np.mean(t) cannot work; each raises gc.GraphError naming the graphc function to use instead
(gc.mean) or how to get a value (compile and call). NumPy's operators on a Tensor operand
(`array * t`, `array @ t`, `array < t`) build graph nodes, as the Tensor's own operators do.
"""
from __future__ import annotations

import numpy as np

from graphc.errors import GraphError
from graphc.ops import elementwise as ew
from graphc.ops import linalg
from graphc.tensor import Tensor

_NO_VALUE = ("a graph Tensor has no value until a compiled function computes it "
             "(f = gc.compile(inputs, outputs), then f(arrays) gives the values)")

# The ufuncs NumPy calls for its operators with a Tensor operand, and the functions they mean.
_OPERATORS = {
    np.add: ew.add, np.subtract: ew.subtract, np.multiply: ew.multiply,
    np.true_divide: ew.divide, np.power: ew.pow, np.matmul: linalg.matmul,
    np.less: ew.less, np.less_equal: ew.less_equal, np.greater: ew.greater,
    np.greater_equal: ew.greater_equal, np.equal: ew.equal, np.not_equal: ew.not_equal,
    np.bitwise_and: ew.logical_and, np.bitwise_or: ew.logical_or, np.negative: ew.neg,
    np.absolute: ew.abs, np.invert: ew.logical_not}


def _refusal(kind: str, name: str) -> GraphError:
    """`numpy.mean cannot compute a graph Tensor: use gc.mean(...) ...` and why."""
    import graphc
    public = {"absolute": "abs", "true_divide": "divide"}.get(name, name)
    hint = f"use gc.{public}(...) to build it into the graph; " if hasattr(graphc, public) else ""
    return GraphError(f"numpy.{name} {kind} a graph Tensor: {hint}{_NO_VALUE}")


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    if method == "__call__" and not kwargs and ufunc in _OPERATORS:
        return _OPERATORS[ufunc](*inputs)
    if "out" in kwargs:
        raise _refusal("cannot write into an array from", ufunc.__name__)
    raise _refusal("cannot compute", ufunc.__name__)


def _array_function(self, func, types, args, kwargs):
    raise _refusal("cannot compute", func.__name__)


def _no_value(what: str):
    def refuse(self, *args, **kwargs):
        raise GraphError(f"{what} of {self!r}: {_NO_VALUE}")
    refuse.__name__ = f"no_{what}"
    return refuse


Tensor.__array_ufunc__ = _array_ufunc
Tensor.__array_function__ = _array_function
Tensor.__array__ = _no_value("numpy.asarray")
Tensor.__float__ = _no_value("float()")
Tensor.__int__ = _no_value("int()")
Tensor.__complex__ = _no_value("complex()")
Tensor.__index__ = _no_value("an index value")
