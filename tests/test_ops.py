"""Every core op against NumPy: one table of op specs, one parametrized check per concern.

A Case names a graph function, its NumPy reference (None: the same function applied to numpy
arrays, as for operators and indexing) and argument generators. From the one table come:
values in float32 and float64 (dtypes must equal NumPy's, which also checks NumPy 2
promotion), values through constant folding, float64 finite-difference gradients, and one
compiled function with a symbolic leading dim fed two batch sizes (values and gradients).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import scipy.special

import graphc as gc
from graphc.testing import numeric_grad

# ---- argument generators: (shape, rng) -> array, kept away from kinks and ties ----------------


def normal(shape, rng):
    return rng.standard_normal(shape)


def positive(shape, rng):
    return rng.uniform(0.5, 2.0, shape)


def near_one(shape, rng):
    return rng.uniform(0.6, 1.4, shape)


def nonzero(shape, rng):
    """Away from 0, where abs, sign, relu, elu, heaviside and 1/x have kinks or poles."""
    return rng.uniform(0.3, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def fractional(shape, rng):
    """Away from the integers, where floor, ceil and int casts jump."""
    return rng.integers(-3, 3, shape) + rng.uniform(0.2, 0.8, shape)


def distinct(shape, rng):
    """Values at least 0.3 apart and away from 0: no ties for max, min, argmax."""
    n = math.prod(shape)
    return ((rng.permutation(n) + 0.5 - n / 2) * 0.3 + 0.07).reshape(shape)


def banded(shape, rng):
    """Inside (-0.4, 0.4) or outside +-0.6: away from clip bounds at +-0.5."""
    inner = rng.uniform(-0.4, 0.4, shape)
    outer = rng.uniform(0.6, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
    return np.where(rng.random(shape) < 0.5, inner, outer)


def sparse(shape, rng):
    return rng.standard_normal(shape) * (rng.random(shape) < 0.6)


def ints(lo: int, hi: int):
    return lambda shape, rng: rng.integers(lo, hi, shape)


def bools(shape, rng):
    return rng.random(shape) < 0.5


@dataclass(frozen=True)
class Arg:
    """An operand: its shape, how to draw it, and a fixed dtype (None: the float under test)."""

    shape: tuple
    gen: Callable = normal
    dtype: str | None = None

    def make(self, rng, float_dtype: str, batch: int | None = None) -> np.ndarray:
        shape = self.shape if batch is None else (batch,) + self.shape[1:]
        return np.asarray(self.gen(shape, rng)).astype(self.dtype or float_dtype)


def F(*shape, gen=normal) -> Arg:
    return Arg(tuple(shape), gen)


def I(*shape, lo=0, hi=3, dtype="int32") -> Arg:  # noqa: E743
    return Arg(tuple(shape), ints(lo, hi), dtype)


def B(*shape) -> Arg:
    return Arg(tuple(shape), bools, "bool")


@dataclass(frozen=True)
class Case:
    name: str
    fn: Callable
    ref: Callable | None
    args: tuple[Arg, ...]
    grad: bool = True                   # float operands get a finite-difference check
    batch: bool = True                  # the leading dim may be symbolic
    grad_tol: tuple = (1e-6, 1e-5, 1e-6)   # eps, rtol, atol

    @property
    def floats(self) -> list[int]:
        return [i for i, a in enumerate(self.args) if a.dtype is None]

    @property
    def batched(self) -> list[int]:
        """Operands sharing the leading dim of the first highest-rank operand."""
        if not self.args:
            return []
        lead = max(self.args, key=lambda a: len(a.shape))
        if not lead.shape or lead.shape[0] == 1:
            return []
        return [i for i, a in enumerate(self.args)
                if len(a.shape) == len(lead.shape) and a.shape[0] == lead.shape[0]]

    def make(self, float_dtype: str, batch: int | None = None, seed: int = 0) -> list:
        rng = np.random.default_rng(seed)
        return [a.make(rng, float_dtype, batch if i in self.batched else None)
                for i, a in enumerate(self.args)]

    def reference(self, *arrays):
        return (self.ref or self.fn)(*arrays)


CASES: list[Case] = []


def case(name: str, fn, ref, *args: Arg, **options) -> None:
    CASES.append(Case(name, fn, ref, args, **options))


# ---- unary math -------------------------------------------------------------------------------

for _name, _fn, _ref, _gen in [
    ("neg", gc.neg, np.negative, normal), ("abs", gc.abs, np.abs, nonzero),
    ("sign", gc.sign, np.sign, nonzero), ("exp", gc.exp, np.exp, normal),
    ("log", gc.log, np.log, positive), ("log1p", gc.log1p, np.log1p, near_one),
    ("expm1", gc.expm1, np.expm1, normal), ("sqrt", gc.sqrt, np.sqrt, positive),
    ("rsqrt", gc.rsqrt, lambda x: 1 / np.sqrt(x), positive),
    ("square", gc.square, np.square, normal),
    ("reciprocal", gc.reciprocal, np.reciprocal, nonzero), ("sin", gc.sin, np.sin, normal),
    ("cos", gc.cos, np.cos, normal), ("tanh", gc.tanh, np.tanh, normal),
    ("erf", gc.erf, scipy.special.erf, normal), ("floor", gc.floor, np.floor, fractional),
    ("ceil", gc.ceil, np.ceil, fractional),
]:
    case(_name, _fn, _ref, F(3, 4, gen=_gen))
case("exp-scalar", gc.exp, np.exp, F())
case("log1p-negative", gc.log1p, np.log1p, F(5, gen=lambda s, r: r.uniform(-0.5, 0.0, s)))
for _name, _fn, _ref, _dtype in [
    ("neg", gc.neg, np.negative, "int32"), ("abs", gc.abs, np.abs, "int32"),
    ("sign", gc.sign, np.sign, "int64"), ("square", gc.square, np.square, "int64"),
    ("sqrt", gc.sqrt, np.sqrt, "int32"), ("exp", gc.exp, np.exp, "int64"),
]:
    case(f"{_name}-{_dtype}", _fn, _ref, I(3, 4, lo=0 if _name == "sqrt" else -3, hi=4,
                                           dtype=_dtype))

# ---- binary math and comparisons, with broadcasting ---------------------------------------------

SHAPE_PAIRS = {"same": ((3, 4), (3, 4)), "bcast": ((3, 1), (1, 4)), "rank": ((2, 3, 4), (4,)),
               "scalar-left": ((), (3, 4)), "scalar-right": ((3, 4), ())}
for _name, _fn, _ref, _gens in [
    ("add", gc.add, np.add, (normal, normal)), ("subtract", gc.subtract, np.subtract,
                                                (normal, normal)),
    ("multiply", gc.multiply, np.multiply, (normal, normal)),
    ("divide", gc.divide, np.divide, (normal, nonzero)),
    ("power", gc.power, np.power, (positive, normal)),
    ("pow", gc.pow, np.power, (positive, normal)),
    ("maximum", gc.maximum, np.maximum, (normal, normal)),
    ("minimum", gc.minimum, np.minimum, (normal, normal)),
]:
    for _pair, (_sa, _sb) in SHAPE_PAIRS.items():
        case(f"{_name}-{_pair}", _fn, _ref, F(*_sa, gen=_gens[0]), F(*_sb, gen=_gens[1]))
for _name in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal"):
    _fn, _ref = getattr(gc, _name), getattr(np, _name)
    for _pair, (_sa, _sb) in SHAPE_PAIRS.items():
        case(f"{_name}-int-{_pair}", _fn, _ref, I(*_sa), I(*_sb))
    case(f"{_name}-float", _fn, _ref, F(3, 4), F(4), grad=False)
case("logical_and", gc.logical_and, np.logical_and, B(3, 4), B(4))
case("logical_or", gc.logical_or, np.logical_or, B(3, 1), B(1, 4))
case("logical_not", gc.logical_not, np.logical_not, B(3, 4))
case("equal-bool", gc.equal, np.equal, B(3, 4), B(3, 4))
case("maximum-int", gc.maximum, np.maximum, I(3, 4, lo=-5, hi=5), I(4, lo=-5, hi=5))

# ---- where, clip, cast --------------------------------------------------------------------------

case("where", gc.where, np.where, B(3, 4), F(3, 4), F(4))
case("where-bcast", gc.where, np.where, B(3, 1), F(), F(3, 4))
case("where-weak-scalar", lambda c, a: gc.where(c, a, 0.0), lambda c, a: np.where(c, a, 0.0),
     B(3, 4), F(3, 4))
case("where-int-cond", lambda c, a: gc.where(c, a, -a),
     lambda c, a: np.where(c.astype(bool), a, -a), I(3, 4), F(3, 4))
case("clip", lambda x: gc.clip(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5), F(3, 4, gen=banded))
case("clip-hi", lambda x: gc.clip(x, hi=0.5), lambda x: np.clip(x, None, 0.5), F(3, 4, gen=banded))
case("clip-tensor-bounds", gc.clip, np.clip, F(3, 4, gen=banded),
     F(4, gen=lambda s, r: np.full(s, -0.5)), F(4, gen=lambda s, r: np.full(s, 0.5)))
case("cast-float32-roundtrip", lambda x: gc.cast(gc.cast(x, "float32"), x.dtype),
     lambda x: x.astype(np.float32).astype(x.dtype), F(3, 4), grad_tol=(1e-3, 1e-3, 1e-4))
case("cast-int32", lambda x: gc.cast(x, "int32"), lambda x: x.astype(np.int32),
     F(3, 4, gen=fractional), grad=False)
case("cast-int-path-has-no-gradient", lambda x: gc.cast(gc.cast(x, "int32"), x.dtype) * x,
     lambda x: x.astype(np.int32).astype(x.dtype) * x, F(3, 4, gen=fractional))
case("cast-bool", lambda x: gc.cast(x, "bool"), lambda x: x.astype(bool), F(3, 4, gen=sparse),
     grad=False)
case("astype-int-to-float32", lambda i: i.astype("float32"), lambda i: i.astype(np.float32),
     I(3, 4, dtype="int64"))
case("cast-bool-to-float", lambda b, x: gc.cast(b, x.dtype) * x,
     lambda b, x: b.astype(x.dtype) * x, B(3, 4), F(3, 4))

# ---- reductions ---------------------------------------------------------------------------------

REDUCTIONS = {"sum": (gc.sum, np.sum, normal), "mean": (gc.mean, np.mean, normal),
              "max": (gc.max, np.max, distinct), "min": (gc.min, np.min, distinct),
              "prod": (gc.prod, np.prod, near_one), "var": (gc.var, np.var, normal),
              "std": (gc.std, np.std, normal),
              "logsumexp": (gc.logsumexp, scipy.special.logsumexp, normal)}
AXES = {"all": None, "0": 0, "-1": -1, "0,2": (0, 2), "-1,0": (-1, 0)}
for _name, (_fn, _ref, _gen) in REDUCTIONS.items():
    for _axis_id, _axis in AXES.items():
        for _keep in (False, True):
            case(f"{_name}-axis{_axis_id}-{'keep' if _keep else 'drop'}",
                 lambda x, f=_fn, a=_axis, k=_keep: f(x, axis=a, keepdims=k),
                 lambda x, f=_ref, a=_axis, k=_keep: f(x, axis=a, keepdims=k),
                 F(2, 3, 4, gen=_gen))
case("sum-empty-axes", lambda x: gc.sum(x, axis=()), lambda x: np.sum(x, axis=()), F(2, 3))
case("var-ddof1", lambda x: gc.var(x, axis=0, ddof=1), lambda x: np.var(x, axis=0, ddof=1),
     F(3, 4))
case("std-ddof1", lambda x: gc.std(x, axis=-1, ddof=1), lambda x: np.std(x, axis=-1, ddof=1),
     F(3, 4))
case("sum-scalar", gc.sum, np.sum, F())
case("sum-int32", gc.sum, np.sum, I(3, 4))
case("sum-bool", lambda b: gc.sum(b, axis=0), lambda b: np.sum(b, axis=0), B(3, 4))
case("prod-int32", lambda x: gc.prod(x, axis=1), lambda x: np.prod(x, axis=1), I(3, 4, lo=1))
case("max-int32", lambda x: gc.max(x, axis=0), lambda x: np.max(x, axis=0), I(3, 4, hi=9))
case("mean-int32", lambda x: gc.mean(x, axis=-1), lambda x: np.mean(x, axis=-1), I(3, 4, hi=9))
case("all", lambda b: gc.all(b, axis=1), lambda b: np.all(b, axis=1), B(3, 2))
case("any", lambda b: gc.any(b, axis=1), lambda b: np.any(b, axis=1), B(3, 2))
case("methods", lambda x: x.sum(axis=1) + x.mean(axis=1) + x.max(axis=1) + x.min(axis=1),
     None, F(3, 4, gen=distinct))
for _name in ("argmax", "argmin"):
    for _axis_id, _axis in {"all": None, "0": 0, "-1": -1}.items():
        for _keep in (False, True):
            case(f"{_name}-axis{_axis_id}-{'keep' if _keep else 'drop'}",
                 lambda x, f=getattr(gc, _name), a=_axis, k=_keep: f(x, axis=a, keepdims=k),
                 lambda x, f=getattr(np, _name), a=_axis, k=_keep: f(x, axis=a, keepdims=k),
                 F(2, 3, 4, gen=distinct), grad=False)
case("argmax-method", lambda x: x.argmax(1), None, F(3, 4, gen=distinct), grad=False)

# ---- layout -------------------------------------------------------------------------------------

X = F(2, 3, 4)
case("reshape", lambda x: gc.reshape(x, (6, 4)), lambda x: x.reshape(6, 4), X, batch=False)
case("reshape-infer", lambda x: gc.reshape(x, (4, -1)), lambda x: x.reshape(4, -1), X,
     batch=False)
case("reshape-flat", lambda x: gc.reshape(x, -1), lambda x: x.reshape(-1), X, batch=False)
case("reshape-keep-batch", lambda x: gc.reshape(x, (x.shape[0], -1)),
     lambda x: x.reshape(x.shape[0], -1), X)
case("reshape-method", lambda x: x.reshape(x.shape[0], 4, 3), None, X)
case("flatten", gc.flatten, lambda x: x.reshape(x.shape[0], -1), X)
case("transpose", gc.transpose, np.transpose, X)
case("transpose-perm", lambda x: gc.transpose(x, (1, 0, 2)), lambda x: x.transpose(1, 0, 2), X)
case("transpose-negative", lambda x: gc.transpose(x, (-1, 0, 1)),
     lambda x: np.transpose(x, (-1, 0, 1)), X)
case("transpose-method", lambda x: x.transpose(2, 0, 1), None, X)
case("T", lambda x: x.T, None, X)
case("swapaxes", lambda x: gc.swapaxes(x, 0, -1), lambda x: np.swapaxes(x, 0, -1), X)
for _axis in (0, -1, 1, (0, 2), (-1, 1)):
    case(f"expand_dims-{_axis}", lambda x, a=_axis: gc.expand_dims(x, a),
         lambda x, a=_axis: np.expand_dims(x, a), F(2, 3))
for _axis in (None, 1, -1, (1, -1)):
    case(f"squeeze-{_axis}", lambda x, a=_axis: gc.squeeze(x, a),
         lambda x, a=_axis: np.squeeze(x, a), F(2, 1, 4, 1))
case("broadcast_to", lambda x: gc.broadcast_to(x, (2, 3, 4)),
     lambda x: np.broadcast_to(x, (2, 3, 4)), F(3, 1), batch=False)
case("broadcast_to-batch", lambda x: gc.broadcast_to(x, (x.shape[0], 3, 4)),
     lambda x: np.broadcast_to(x, (x.shape[0], 3, 4)), F(2, 1, 4))
case("concatenate-0", lambda a, b, c: gc.concatenate([a, b, c]),
     lambda a, b, c: np.concatenate([a, b, c]), F(2, 3), F(1, 3), F(3, 3), batch=False)
case("concatenate-1", lambda a, b, c: gc.concatenate([a, b, c], axis=1),
     lambda a, b, c: np.concatenate([a, b, c], axis=1), F(2, 3), F(2, 1), F(2, 2))
case("concatenate-negative", lambda a, b: gc.concatenate([a, b], axis=-1),
     lambda a, b: np.concatenate([a, b], axis=-1), F(2, 3, 1), F(2, 3, 2))
case("concatenate-promotes", lambda a, b: gc.concatenate([a, b], axis=1),
     lambda a, b: np.concatenate([a, b], axis=1), I(2, 3), F(2, 2))
case("stack", lambda a, b: gc.stack([a, b]), lambda a, b: np.stack([a, b]), F(2, 3), F(2, 3))
case("stack-negative", lambda a, b: gc.stack([a, b], axis=-1),
     lambda a, b: np.stack([a, b], axis=-1), F(2, 3), F(2, 3))
case("split-sections", lambda x: gc.split(x, 2, axis=-1), lambda x: np.split(x, 2, axis=-1), X)
case("split-indices", lambda x: gc.split(x, [1, 3], axis=2),
     lambda x: np.split(x, [1, 3], axis=2), X)
case("split-axis0", lambda x: gc.split(x, 2), lambda x: np.split(x, 2), F(4, 3), batch=False)
for _name, _index in [
    ("int", lambda x: x[1]), ("negative-int", lambda x: x[-1]),
    ("range", lambda x: x[:, 1:3]), ("reverse", lambda x: x[::-1]),
    ("step", lambda x: x[:, ::2, 1:]), ("negative-bounds", lambda x: x[-2:, -3:-1]),
    ("negative-step", lambda x: x[:, ::-2, 3:0:-1]), ("tail", lambda x: x[1:]),
    ("ellipsis", lambda x: x[..., 1]), ("ellipsis-middle", lambda x: x[0, ..., 2]),
    ("none", lambda x: x[None, :, 0]), ("none-ellipsis", lambda x: x[1:, None, ..., ::2]),
    ("trailing-none", lambda x: x[..., None]), ("scalar", lambda x: x[0, 1, 2]),
    ("ints-and-slices", lambda x: x[:, -1, 1::2]), ("list", lambda x: x[[1, 0, 1]]),
    ("array", lambda x: x[np.array([1, 0])]),
]:
    case(f"index-{_name}", _index, None, X)
case("pad-int", lambda x: gc.pad(x, 1), lambda x: np.pad(x, 1), F(2, 3))
case("pad-pairs", lambda x: gc.pad(x, ((0, 1), (2, 0))), lambda x: np.pad(x, ((0, 1), (2, 0))),
     F(2, 3))
case("pad-value", lambda x: gc.pad(x, (1, 2), constant_value=3.0),
     lambda x: np.pad(x, (1, 2), constant_values=3.0), F(2, 3))

# ---- gather, scatter, one_hot -------------------------------------------------------------------

case("take-axis1", lambda x, i: gc.take(x, i, axis=1), lambda x, i: np.take(x, i, axis=1),
     X, I(5, hi=3, dtype="int64"))
case("take-negative-axis-2d-indices", lambda x, i: gc.take(x, i, axis=-1),
     lambda x, i: np.take(x, i, axis=-1), X, I(2, 3, hi=4))
case("take-negative-indices", lambda x, i: gc.take(x, i, axis=1),
     lambda x, i: np.take(x, i, axis=1), X, I(4, lo=-3, hi=3))
case("take_along_axis-negative-indices", lambda x, i: gc.take_along_axis(x, i, axis=1),
     lambda x, i: np.take_along_axis(x, i, axis=1), X, I(2, 2, 4, lo=-3, hi=3))
case("take-axis0", gc.take, lambda x, i: np.take(x, i, axis=0), F(2, 3), I(3, hi=2))
case("gather", lambda x, i: gc.gather(x, i, axis=1), lambda x, i: np.take(x, i, axis=1),
     F(2, 3), I(4, hi=3))
case("index-tensor", lambda x, i: x[i], None, F(2, 3), I(5, hi=2))
case("take_along_axis", lambda x, i: gc.take_along_axis(x, i, axis=-1),
     lambda x, i: np.take_along_axis(x, i, axis=-1), X, I(2, 3, 2, hi=4, dtype="int64"))
case("take_along_axis-0", lambda x, i: gc.take_along_axis(x, i, axis=0),
     lambda x, i: np.take_along_axis(x, i, axis=0), X, I(3, 3, 4, hi=2))
case("one_hot", lambda i: gc.one_hot(i, 4), lambda i: np.eye(4, dtype=np.float32)[i],
     I(5, hi=4, dtype="int64"))
case("one_hot-2d-float64", lambda i: gc.one_hot(i, 3, "float64"), lambda i: np.eye(3)[i],
     I(2, 4, hi=3))

# ---- matmul and dot -----------------------------------------------------------------------------

for _name, _sa, _sb, _batch in [
    ("2d", (3, 4), (4, 5), True), ("batched", (2, 3, 4), (2, 4, 5), True),
    ("broadcast-rhs", (2, 3, 4), (4, 5), True), ("broadcast-lhs", (3, 4), (2, 4, 5), True),
    ("broadcast-batch", (2, 1, 3, 4), (5, 4, 2), True), ("vec-mat", (4,), (4, 5), False),
    ("mat-vec", (3, 4), (4,), True), ("vec-vec", (4,), (4,), True),
    ("batched-vec", (2, 3, 4), (4,), True), ("vec-batched", (4,), (2, 4, 3), True),
]:
    case(f"matmul-{_name}", gc.matmul, np.matmul, F(*_sa), F(*_sb), batch=_batch)
case("matmul-int", gc.matmul, np.matmul, I(3, 4), I(4, 2))
case("matmul-promotes", gc.matmul, np.matmul, I(3, 4), F(4, 2))
case("dot-2d", gc.dot, np.dot, F(3, 4), F(4, 5))
case("dot-1d", gc.dot, np.dot, F(4), F(4))
case("dot-mat-vec", gc.dot, np.dot, F(3, 4), F(4))

# ---- activations --------------------------------------------------------------------------------


def np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


case("sigmoid", gc.sigmoid, lambda x: 1 / (1 + np.exp(-x)), F(3, 4))
case("relu", gc.relu, lambda x: np.maximum(x, 0), F(3, 4, gen=nonzero))
case("leaky_relu", gc.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x), F(3, 4, gen=nonzero))
case("leaky_relu-slope", lambda x: gc.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x),
     F(3, 4, gen=nonzero))
case("prelu", gc.prelu, lambda x, a: np.where(x > 0, x, a * x), F(3, 4, gen=nonzero), F(4))
case("elu", gc.elu, lambda x: np.where(x > 0, x, np.exp(x) - 1), F(3, 4, gen=nonzero))
case("elu-alpha", lambda x: gc.elu(x, 0.5), lambda x: np.where(x > 0, x, 0.5 * (np.exp(x) - 1)),
     F(3, 4, gen=nonzero))
case("softplus", gc.softplus, lambda x: np.log(1 + np.exp(x)), F(3, 4))
case("gelu", gc.gelu, lambda x: x * 0.5 * (1 + scipy.special.erf(x / math.sqrt(2))), F(3, 4))
case("heaviside", gc.heaviside, lambda x: np.heaviside(x, 1.0), F(3, 4, gen=nonzero))
for _axis in (-1, 0):
    case(f"softmax-{_axis}", lambda x, a=_axis: gc.softmax(x, a),
         lambda x, a=_axis: np_softmax(x, a), F(3, 4))
    case(f"log_softmax-{_axis}", lambda x, a=_axis: gc.log_softmax(x, a),
         lambda x, a=_axis: np.log(np_softmax(x, a)), F(3, 4))

# ---- Python operators and NumPy 2 promotion (the same lambda runs on numpy arrays) --------------

for _name, _fn, _args in [
    ("add", lambda a, b: a + b, (F(3, 4), F(4))), ("sub", lambda a, b: a - b, (F(3, 4), F(4))),
    ("mul", lambda a, b: a * b, (F(3, 1), F(4))),
    ("div", lambda a, b: a / b, (F(3, 4), F(4, gen=nonzero))),
    ("pow", lambda a, b: a ** b, (F(3, 4, gen=positive), F(4))),
    ("pow-2", lambda a: a ** 2, (F(3, 4),)), ("pow-3", lambda a: a ** 3, (F(3, 4),)),
    ("pow-1", lambda a: a ** 1, (F(3, 4),)), ("pow-0.5", lambda a: a ** 0.5,
                                               (F(3, 4, gen=positive),)),
    ("pow--1", lambda a: a ** -1, (F(3, 4, gen=nonzero),)),
    ("pow--0.5", lambda a: a ** -0.5, (F(3, 4, gen=positive),)),
    ("rpow", lambda a: 2.0 ** a, (F(3, 4),)), ("matmul", lambda a, b: a @ b, (F(3, 4), F(4, 2))),
    ("rmatmul-numpy", lambda a: np.ones((2, 4)) @ a.T, (F(3, 4),)),
    ("numpy-left", lambda a: np.full(4, 2.0) * a, (F(3, 4),)),
    ("numpy-scalar-left", lambda a: np.float32(2) * a - np.float64(1), (F(3, 4),)),
    ("iterate", lambda a: [row * i for i, row in enumerate(a)], (F(3, 4),)),
    ("neg", lambda a: -a, (F(3, 4),)), ("pos", lambda a: +a, (F(3, 4),)),
    ("abs", lambda a: abs(a), (F(3, 4, gen=nonzero),)),
    ("radd", lambda a: 1 + a, (F(3, 4),)), ("rsub", lambda a: 1 - a, (F(3, 4),)),
    ("rmul", lambda a: 3 * a, (F(3, 4),)), ("rdiv", lambda a: 1 / a, (F(3, 4, gen=nonzero),)),
    ("chain", lambda a, b: (a * 2 - b) / (a * a + 1) ** 2, (F(3, 4), F(3, 4))),
    ("lt", lambda a, b: a < b, (F(3, 4), F(4))), ("le", lambda a, b: a <= b, (I(3, 4), I(4))),
    ("gt", lambda a, b: a > b, (F(3, 4), F(4))), ("ge", lambda a, b: a >= b, (I(3, 4), I(4))),
    ("eq", lambda a, b: a == b, (I(3, 4), I(4))), ("ne", lambda a, b: a != b, (I(3, 4), I(4))),
    ("eq-scalar", lambda a: a == 1, (I(3, 4),)), ("gt-weak-float", lambda a: a > 0.5, (F(3, 4),)),
    ("and", lambda a, b: a & b, (B(3, 4), B(4))), ("or", lambda a, b: a | b, (B(3, 4), B(3, 4))),
    ("invert", lambda a: ~a, (B(3, 4),)),
]:
    case(f"op-{_name}", _fn, None, *_args, grad=_name not in ("lt", "gt", "gt-weak-float"),
         batch=_name != "iterate")     # iterating needs a static first dim

for _name, _fn, _dtypes in [
    ("f32*0.5", lambda a: a * 0.5, ("float32",)), ("f32+2", lambda a: a + 2, ("float32",)),
    ("2-f32", lambda a: 2 - a, ("float32",)), ("2**f32", lambda a: 2 ** a, ("float32",)),
    ("f32/3", lambda a: a / 3, ("float32",)), ("i32*0.5", lambda a: a * 0.5, ("int32",)),
    ("i32+2", lambda a: a + 2, ("int32",)), ("i32**2", lambda a: a ** 2, ("int32",)),
    ("i32/2", lambda a: a / 2, ("int32",)), ("i32<1.5", lambda a: a < 1.5, ("int32",)),
    ("bool+1", lambda a: a + 1, ("bool",)), ("i32+f64", lambda a, b: a + b, ("int32", "float64")),
    ("i32+f32", lambda a, b: a + b, ("int32", "float32")),
    ("i64*f32", lambda a, b: a * b, ("int64", "float32")),
    ("i32+i64", lambda a, b: a + b, ("int32", "int64")),
    ("f32-f64", lambda a, b: a - b, ("float32", "float64")),
    ("bool*f32", lambda a, b: a * b, ("bool", "float32")),
    ("i32/i32", lambda a, b: a / (b + 1), ("int32", "int32")),
    ("f32+np.float64", lambda a: a + np.float64(1.5), ("float32",)),
    ("f32+np.float32", lambda a: a + np.float32(1.5), ("float32",)),
    ("f32*f64-array", lambda a: a * np.arange(4.0), ("float32",)),
]:
    case(f"promote-{_name}", _fn, None, *(Arg((3, 4), ints(0, 3), d) for d in _dtypes))

# ---- the checks ---------------------------------------------------------------------------------


def assert_matches(got, want, float_dtype: str) -> None:
    """Same dtype and shape as NumPy's result, and close values (exact for ints and bools)."""
    if isinstance(want, (list, tuple)):
        assert isinstance(got, list) and len(got) == len(want)
        for g, w in zip(got, want):
            assert_matches(g, w, float_dtype)
        return
    want = np.asarray(want)
    assert isinstance(got, np.ndarray), f"got {type(got).__name__}, not an array"
    assert got.dtype == want.dtype, f"dtype {got.dtype}, NumPy gives {want.dtype}"
    assert got.shape == want.shape, f"shape {got.shape}, NumPy gives {want.shape}"
    if want.dtype.kind == "f":
        loose = want.dtype == np.float32 or float_dtype == "float32"
        np.testing.assert_allclose(got, want, rtol=2e-5 if loose else 1e-10,
                                   atol=2e-6 if loose else 1e-12)
    else:
        np.testing.assert_array_equal(got, want)


def as_one(out):
    """One Tensor from a case's output (a split gives a list), each element weighted apart."""
    if isinstance(out, (list, tuple)):
        total = gc.sum(gc.square(out[0]))
        for i, part in enumerate(out[1:], 2):
            total = total + gc.sum(gc.square(part)) * i
        return total
    return out


VALUE_PARAMS = [pytest.param(c, d, id=f"{c.name}-{d}" if c.floats else c.name)
                for c in CASES for d in (("float32", "float64") if c.floats else ("float64",))]
GRAD_CASES = [pytest.param(c, id=c.name) for c in CASES if c.grad and c.floats]
BATCH_CASES = [pytest.param(c, id=c.name) for c in CASES if c.batch and c.batched]


def test_case_names_are_unique() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("case, dtype", VALUE_PARAMS)
def test_value_matches_numpy(case: Case, dtype: str, backend: str) -> None:
    arrays = case.make(dtype)
    xs = [gc.placeholder(a.shape, a.dtype) for a in arrays]
    got = gc.compile(xs, case.fn(*xs), backend=backend)(*arrays)
    assert_matches(got, case.reference(*arrays), dtype)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
def test_constant_folding_matches_numpy(case: Case, backend: str) -> None:
    arrays = case.make("float64")
    out = case.fn(*[gc.constant(a) for a in arrays])
    got = gc.compile([], out, backend=backend)()
    assert_matches(got, case.reference(*arrays), "float64")


@pytest.mark.parametrize("case", GRAD_CASES)
def test_gradient_matches_finite_differences(case: Case, backend: str) -> None:
    eps, rtol, atol = case.grad_tol
    gc.testing.check_grad(lambda *xs: as_one(case.fn(*xs)), case.make("float64"),
                          wrt=case.floats, eps=eps, rtol=rtol, atol=atol, backend=backend)


@pytest.mark.parametrize("case", BATCH_CASES)
def test_symbolic_batch_values_and_gradients(case: Case, backend: str) -> None:
    """One compiled function (and its gradient) serves two batch sizes."""
    dim = f"N_{case.name}"    # a name of its own: a named dim means the same size everywhere
    proto = case.make("float64")
    xs = [gc.placeholder((dim,) + a.shape[1:] if i in case.batched else a.shape, a.dtype)
          for i, a in enumerate(proto)]
    out = case.fn(*xs)
    f = gc.compile(xs, out, backend=backend)
    differentiable = case.grad and case.floats
    if differentiable:
        y_out = as_one(out)
        w = gc.placeholder(y_out.shape, y_out.dtype, name="w")
        y = gc.sum(y_out * w)
        f_y = gc.compile(xs + [w], y, backend=backend)
        f_grads = gc.compile(xs + [w], gc.grad(y, [xs[i] for i in case.floats]), backend=backend)
    for batch in (2, 5):
        arrays = case.make("float64", batch=batch, seed=batch)
        want = case.reference(*arrays)
        assert_matches(f(*arrays), want, "float64")
        if differentiable:
            shape = () if isinstance(want, (list, tuple)) else np.shape(want)
            feeds = arrays + [np.random.default_rng(batch).uniform(0.5, 1.5, shape)]
            eps, rtol, atol = case.grad_tol
            for i, g in zip(case.floats, f_grads(*feeds)):
                numeric = numeric_grad(lambda *a: float(f_y(*a)), feeds, i, eps)
                np.testing.assert_allclose(g, numeric, rtol=rtol, atol=atol,
                                           err_msg=f"batch {batch}, argument {i}")


# ---- numerical stability on large inputs --------------------------------------------------------

BIG = [1000.0, 0.0, -1000.0]
STABLE = {   # name: (function, input, expected value, expected gradient of sum(f(x) * [1, 2, 3]))
    "softmax": (gc.softmax, BIG, [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]),
    "softmax-middle": (gc.softmax, [-1000.0, 1000.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]),
    "log_softmax": (gc.log_softmax, BIG, [0.0, -1000.0, -2000.0], [-5.0, 2.0, 3.0]),
    "logsumexp": (lambda x: gc.logsumexp(x * 0 + 1000.0 + x * 1e-9), [1.0, 2.0, 3.0],
                  1000.0 + np.log(3.0), None),
    "sigmoid": (gc.sigmoid, BIG, [1.0, 0.5, 0.0], [0.0, 0.5, 0.0]),
    "softplus": (gc.softplus, BIG, [1000.0, np.log(2.0), 0.0], [1.0, 1.0, 0.0]),
    "tanh": (gc.tanh, BIG, [1.0, 0.0, -1.0], [0.0, 2.0, 0.0]),
    "elu": (gc.elu, [1000.0, 1.0, -1000.0], [1000.0, 1.0, -1.0], [1.0, 2.0, 0.0]),
    "gelu": (gc.gelu, BIG, [1000.0, 0.0, 0.0], [1.0, 1.0, 0.0]),
    "leaky_relu": (gc.leaky_relu, BIG, [1000.0, 0.0, -10.0], [1.0, 0.02, 0.03]),
    "exp-of-log": (lambda x: gc.exp(gc.log_softmax(x)), BIG, [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", STABLE)
def test_no_overflow_or_nan_on_large_inputs(name: str, dtype: str, backend: str) -> None:
    fn, data, want, want_grad = STABLE[name]
    x = gc.placeholder((3,), dtype)
    out = fn(x)
    weights = gc.constant(np.array([1.0, 2.0, 3.0], dtype))
    y = gc.sum(out * weights) if out.ndim else out
    with np.errstate(over="raise", invalid="raise", divide="raise"):   # underflow to 0 is fine
        value, g = gc.compile([x], [out, gc.grad(y, x)], backend=backend)(np.array(data, dtype))
    assert value.dtype == np.dtype(dtype) and np.all(np.isfinite(value)), value
    assert np.all(np.isfinite(g)), g
    np.testing.assert_allclose(value, want, rtol=1e-6, atol=1e-6)
    if want_grad is not None:
        np.testing.assert_allclose(g, want_grad, rtol=1e-6, atol=1e-6)
