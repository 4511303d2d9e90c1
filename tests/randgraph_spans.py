"""Bounds on the values of a random graph, and the ops the builder applies with their rules.

Every value the builder makes carries an Interval bounding its elements; each op's rule maps
its operands' intervals to the result's, and its Need says where the op is defined (the
builder guards an operand that is not there, as a user would: log(abs(x) + 0.5)).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

import graphc as gc

FLOATS = ("float32", "float64")
INTS = ("int32", "int64")
NUMERIC = FLOATS + INTS
DTYPES = NUMERIC + ("bool",)
BOUND = 1e3            # the largest magnitude a multiplicative op's operand is let grow to


@dataclass(frozen=True)
class Interval:
    """Bounds on a value's elements; `nan` says some may be NaN."""
    lo: float
    hi: float
    nan: bool = False

    @staticmethod
    def of(points: Sequence[float], nan: bool = False) -> Interval:
        if any(math.isnan(p) for p in points):
            return UNKNOWN
        return Interval(min(points), max(points), nan)

    @property
    def bound(self) -> float:
        return max(abs(self.lo), abs(self.hi))

    @property
    def finite(self) -> bool:
        return math.isfinite(self.lo) and math.isfinite(self.hi) and not self.nan

    def hull(self, other: Interval) -> Interval:
        return Interval(min(self.lo, other.lo), max(self.hi, other.hi), self.nan or other.nan)


UNKNOWN = Interval(-math.inf, math.inf, True)
UNIT = Interval(0.0, 1.0)


def _f64(fn, x: float) -> float:
    with np.errstate(all="ignore"):
        return float(fn(np.float64(x)))


def monotone(fn, decreasing: bool = False) -> Callable[[Interval], Interval]:
    def rule(s: Interval) -> Interval:
        a, b = _f64(fn, s.lo), _f64(fn, s.hi)
        return Interval.of([b, a] if decreasing else [a, b], s.nan)
    return rule


def corners(fn) -> Callable[[Interval, Interval], Interval]:
    """A binary rule from the operands' endpoints (right for monotone and bilinear ops)."""
    def rule(a: Interval, b: Interval) -> Interval:
        with np.errstate(all="ignore"):
            points = [float(fn(np.float64(x), np.float64(y)))
                      for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
        return Interval.of(points, a.nan or b.nan)
    return rule


def square_span(s: Interval) -> Interval:
    lo = 0.0 if s.lo <= 0 <= s.hi else min(s.lo * s.lo, s.hi * s.hi)
    return Interval(lo, s.bound * s.bound, s.nan)


def abs_span(s: Interval) -> Interval:
    return Interval(0.0 if s.lo <= 0 <= s.hi else min(abs(s.lo), abs(s.hi)), s.bound, s.nan)


def bounded(lo: float, hi: float) -> Callable[[Interval], Interval]:
    return lambda s: Interval(lo, hi, s.nan)


@dataclass(frozen=True)
class Need:
    """What an operand must satisfy: lo <= x <= hi, |x| <= bound, x != 0."""
    lo: float = -math.inf
    hi: float = math.inf
    bound: float = math.inf
    nonzero: bool = False

    def met(self, s: Interval) -> bool:
        if self.nonzero and s.lo <= 0 <= s.hi:
            return False
        return s.lo >= self.lo and s.hi <= self.hi and s.bound <= self.bound


ANY = Need()
SMALL = Need(bound=BOUND)
POSITIVE = Need(lo=1e-3, bound=BOUND)

# name: (DSL function, operand requirement, interval rule); int operands of float math are
# cast to float64 by the DSL, which the table does not need to know.
UNARY: dict[str, tuple[Callable, Need, Callable[[Interval], Interval]]] = {
    "neg": (gc.neg, ANY, lambda s: Interval(-s.hi, -s.lo, s.nan)),
    "abs": (gc.abs, ANY, abs_span),
    "sign": (gc.sign, ANY, bounded(-1, 1)),
    "exp": (gc.exp, Need(hi=20), monotone(np.exp)),
    "log": (gc.log, POSITIVE, monotone(np.log)),
    "log1p": (gc.log1p, POSITIVE, monotone(np.log1p)),
    "expm1": (gc.expm1, Need(hi=20), monotone(np.expm1)),
    "sqrt": (gc.sqrt, Need(lo=0, bound=1e6), monotone(np.sqrt)),
    "rsqrt": (gc.rsqrt, POSITIVE, monotone(lambda x: 1 / np.sqrt(x), decreasing=True)),
    "square": (gc.square, SMALL, square_span),
    "reciprocal": (gc.reciprocal, POSITIVE, monotone(np.reciprocal, decreasing=True)),
    "sin": (gc.sin, SMALL, bounded(-1, 1)),
    "cos": (gc.cos, SMALL, bounded(-1, 1)),
    "tanh": (gc.tanh, ANY, monotone(np.tanh)),
    "erf": (gc.erf, ANY, bounded(-1, 1)),
    "floor": (gc.floor, ANY, monotone(np.floor)),
    "ceil": (gc.ceil, ANY, monotone(np.ceil)),
    "stop_gradient": (gc.stop_gradient, ANY, lambda s: s),
    "sigmoid": (gc.sigmoid, ANY, bounded(0, 1)),
    "relu": (gc.relu, ANY, monotone(lambda x: np.maximum(x, 0))),
    "softplus": (gc.softplus, ANY, monotone(lambda x: np.logaddexp(x, 0))),
    "leaky_relu": (gc.leaky_relu, ANY, monotone(lambda x: np.where(x > 0, x, 0.01 * x))),
    "elu": (gc.elu, Need(bound=1e6), monotone(lambda x: np.where(x > 0, x, np.expm1(x)))),
    "gelu": (gc.gelu, Need(bound=1e6), lambda s: Interval(-0.2, max(s.hi, 0.0), s.nan)),
    "heaviside": (gc.heaviside, ANY, bounded(0, 1)),
}
INT_UNARY = ("neg", "abs", "sign", "square", "stop_gradient")

ARITHMETIC: dict[str, tuple[Callable, Need, Need, Callable]] = {
    "add": (gc.add, ANY, ANY, corners(np.add)),
    "subtract": (gc.subtract, ANY, ANY, corners(np.subtract)),
    "multiply": (gc.multiply, SMALL, SMALL, corners(np.multiply)),
    "divide": (gc.divide, SMALL, Need(bound=BOUND, nonzero=True), corners(np.divide)),
    "maximum": (gc.maximum, ANY, ANY, corners(np.maximum)),
    "minimum": (gc.minimum, ANY, ANY, corners(np.minimum)),
}
COMPARISONS = {"equal": gc.equal, "not_equal": gc.not_equal, "less": gc.less,
               "less_equal": gc.less_equal, "greater": gc.greater,
               "greater_equal": gc.greater_equal}
OPERATORS = {"add": lambda a, b: a + b, "subtract": lambda a, b: a - b,
             "multiply": lambda a, b: a * b, "divide": lambda a, b: a / b,
             "less": lambda a, b: a < b, "greater_equal": lambda a, b: a >= b}
SPECIAL = (0, 1, -1, 2, 0.5, -0.5, 3)       # constants that enable simplifications
NONFINITE = (math.nan, math.inf, -math.inf)
