"""IMPL[op](node, dims) -> a function of the input arrays: how the interpreter runs each op.

`dims(shape)` turns a shape that may hold symbolic dims into a zero-argument function giving
the concrete shape of the current call. Elementwise ops run as NumPy ufuncs (fast, and tested
against the core's scalar formulas); the other ops run their core reference implementation
unless a faster kernel is registered here (convolution, pooling, scan).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.special

from graphc import scalar
from graphc.reference import has_reference, reference_kernel
from graphc.registry import OPS

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


UFUNCS: dict[str, Kernel] = {
    "neg": np.negative, "abs": np.abs, "sign": np.sign, "exp": np.exp, "log": np.log,
    "log1p": np.log1p, "expm1": np.expm1, "sqrt": np.sqrt, "square": np.square,
    "reciprocal": np.reciprocal, "sin": np.sin, "cos": np.cos, "tanh": np.tanh,
    "erf": scipy.special.erf, "floor": np.floor, "ceil": np.ceil,
    "logical_not": np.logical_not, "sigmoid": scipy.special.expit,
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.divide,
    "power": scalar.ieee_power, "maximum": np.maximum, "minimum": np.minimum, "equal": np.equal,
    "not_equal": np.not_equal, "less": np.less, "less_equal": np.less_equal,
    "greater": np.greater, "greater_equal": np.greater_equal,
    "logical_and": np.logical_and, "logical_or": np.logical_or, "where": np.where,
}
for _op, _fn in UFUNCS.items():
    _plain(_op, _fn)

_plain("stop_gradient", lambda x: x)
_plain("rsqrt", lambda x: np.reciprocal(np.sqrt(x)))
_plain("relu", lambda x: np.maximum(x, 0))
_plain("softplus", lambda x: np.logaddexp(x, 0))


@register("cast")
def _cast(node, dims):
    dtype = np.dtype(node.attrs["dtype"])
    return lambda x: x.astype(dtype)


def factory(op: str) -> Factory | None:
    """The kernel factory for op: a registered kernel, else the core's reference, else None."""
    if op in IMPL:
        return IMPL[op]
    return reference_kernel if op in OPS and has_reference(op) else None
