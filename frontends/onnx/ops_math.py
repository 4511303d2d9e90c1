"""Elementwise math, activations, comparisons and logic, casts, MatMul and Gemm."""
from __future__ import annotations

import functools
import math

import ml_dtypes
import numpy as np
from onnx import TensorProto

import graphc as gc
from frontends.onnx.dtypes import graphc_dtype, numpy_dtype
from frontends.onnx.narrow import cast_to, round_half_even, wrap_int
from frontends.onnx.node import Node
from frontends.onnx.table import converts
from graphc.dtypes import is_float
from graphc.tensor import Tensor

_BROADCAST_ATTRS = ("broadcast", "axis", "consumed_inputs")   # opset < 7 forms


def _old_broadcast(n: Node, a: Tensor, b: Tensor) -> Tensor:
    """Before opset 7, broadcast=1 with axis aligned b's dims with a's dims from axis on."""
    if n.opset < 7 and n.attr("broadcast", 0) and n.attr("axis") is not None:
        axis = n.axis(n.attr("axis"), a.ndim)
        return gc.reshape(b, b.shape + (1,) * (a.ndim - axis - b.ndim))
    return b


def _operands(n: Node) -> tuple[Tensor, Tensor]:
    a, b = n.same_dtype(n.x(0), n.x(1))
    return a, _old_broadcast(n, a, b)


_ARITHMETIC = {"Add": gc.add, "Sub": gc.subtract, "Mul": gc.multiply}
_COMPARE = {"Equal": gc.equal, "Less": gc.less, "Greater": gc.greater,
            "LessOrEqual": gc.less_equal, "GreaterOrEqual": gc.greater_equal}
_LOGIC = {"And": gc.logical_and, "Or": gc.logical_or, "Xor": gc.not_equal}


@converts(*_ARITHMETIC, *_COMPARE, *_LOGIC, attrs=_BROADCAST_ATTRS)
def binary(n: Node) -> Tensor:
    a, b = _operands(n)
    fn = {**_ARITHMETIC, **_COMPARE, **_LOGIC}[n.op_type]
    return fn(a, b)


@converts("Div", attrs=_BROADCAST_ATTRS)
def div(n: Node) -> Tensor:
    a, b = _operands(n)
    if is_float(a.dtype):
        return a / b
    return gc.cast(_trunc(gc.cast(a, "float64") / gc.cast(b, "float64")), a.dtype)


def _trunc(q: Tensor) -> Tensor:
    return gc.where(q < 0, gc.ceil(q), gc.floor(q))


@converts("Mod", attrs=("fmod",))
def mod(n: Node) -> Tensor:
    """fmod=1: C's fmod (the dividend's sign); fmod=0: Python's % (the divisor's sign)."""
    a, b = n.same_dtype(n.x(0), n.x(1))
    fa, fb = (a, b) if is_float(a.dtype) else (gc.cast(a, "float64"), gc.cast(b, "float64"))
    q = fa / fb
    rem = fa - (_trunc(q) if n.attr("fmod", 0) else gc.floor(q)) * fb
    if not is_float(a.dtype):
        return gc.cast(rem, a.dtype)
    # A finite x over an infinite y: x itself, or (Python's %, signs differing) y.
    finite_by_infinite = gc.equal(gc.abs(b), math.inf) & gc.less(gc.abs(a), math.inf)
    if n.attr("fmod", 0):
        return gc.where(finite_by_infinite, a, rem)
    same_side = gc.greater_equal(gc.sign(a) * gc.sign(b), 0)
    return gc.where(finite_by_infinite, gc.where(same_side, a, b), rem)


@converts("Pow", attrs=_BROADCAST_ATTRS)
def pow_(n: Node) -> Tensor:
    a, b = n.x(0), _old_broadcast(n, n.x(0), n.x(1))
    if is_float(a.dtype):
        return gc.power(a, gc.cast(b, a.dtype))
    if is_float(b.dtype):
        return gc.cast(gc.power(gc.cast(a, "float64"), gc.cast(b, "float64")), a.dtype)
    return gc.power(a, gc.cast(b, a.dtype))


def _variadic(fn):
    def convert(n: Node) -> Tensor:
        xs = n.same_dtype(*[t for t in n.inputs if t is not None])
        return functools.reduce(fn, xs)
    return convert


converts("Max", attrs=("consumed_inputs",))(_variadic(gc.maximum))
converts("Min", attrs=("consumed_inputs",))(_variadic(gc.minimum))
converts("Sum", attrs=("consumed_inputs",))(_variadic(gc.add))


@converts("Mean", attrs=("consumed_inputs",))
def mean(n: Node) -> Tensor:
    xs = [t for t in n.inputs if t is not None]
    return _variadic(gc.add)(n) / len(xs)



_UNARY = {
    "Abs": gc.abs, "Neg": gc.neg, "Sign": gc.sign, "Exp": gc.exp, "Log": gc.log,
    "Sqrt": gc.sqrt, "Reciprocal": gc.reciprocal, "Floor": gc.floor, "Ceil": gc.ceil,
    "Sin": gc.sin, "Cos": gc.cos, "Tanh": gc.tanh, "Sigmoid": gc.sigmoid, "Erf": gc.erf,
    "Softplus": gc.softplus, "Not": gc.logical_not,
    "Tan": lambda x: gc.sin(x) / gc.cos(x),
    "Sinh": lambda x: (gc.exp(x) - gc.exp(-x)) * 0.5,
    "Cosh": lambda x: (gc.exp(x) + gc.exp(-x)) * 0.5,
    "Asinh": lambda x: gc.log(x + gc.sqrt(gc.square(x) + 1)),
    "Acosh": lambda x: gc.log(x + gc.sqrt(gc.square(x) - 1)),
    "Atanh": lambda x: gc.log((x + 1) / (1 - x)) * 0.5,
    "Softsign": lambda x: x / (gc.abs(x) + 1),
    "Mish": lambda x: x * gc.tanh(gc.softplus(x)),
    "IsNaN": lambda x: gc.not_equal(x, x),
    "Identity": lambda x: x,
}


@converts(*_UNARY, attrs=("consumed_inputs",))
def unary(n: Node) -> Tensor:
    return _UNARY[n.op_type](n.x(0))


@converts("Relu", attrs=("consumed_inputs",))
def relu(n: Node) -> Tensor:
    x = n.x(0)
    return gc.relu(x) if is_float(x.dtype) else gc.maximum(x, 0)


@converts("Round")
def round_(n: Node) -> Tensor:
    return round_half_even(n.x(0))


@converts("IsInf", attrs=("detect_negative", "detect_positive"))
def isinf(n: Node) -> Tensor:
    x = n.x(0)
    found = gc.equal(x, 0) & gc.equal(x, 1)       # all false
    if n.attr("detect_positive", 1):
        found = found | gc.equal(x, math.inf)
    if n.attr("detect_negative", 1):
        found = found | gc.equal(x, -math.inf)
    return found


# ---- activations with parameters --------------------------------------------------------------

@converts("LeakyRelu", attrs=("alpha", "consumed_inputs"))
def leaky_relu(n: Node) -> Tensor:
    return gc.leaky_relu(n.x(0), n.attr("alpha", 0.01))


@converts("PRelu", attrs=("consumed_inputs",))
def prelu(n: Node) -> Tensor:
    x, slope = n.same_dtype(n.x(0), n.x(1))
    if n.opset < 7 and slope.ndim == 1 and x.ndim > 2 and slope.shape[0] == x.shape[1]:
        slope = gc.reshape(slope, (-1,) + (1,) * (x.ndim - 2))
    return gc.where(x > 0, x, x * slope)


@converts("Elu", attrs=("alpha", "consumed_inputs"))
def elu(n: Node) -> Tensor:
    return gc.elu(n.x(0), n.attr("alpha", 1.0))


@converts("Selu", attrs=("alpha", "gamma", "consumed_inputs"))
def selu(n: Node) -> Tensor:
    alpha = n.attr("alpha", 1.67326319217681884765625)
    gamma = n.attr("gamma", 1.05070102214813232421875)
    return gc.elu(n.x(0), alpha) * gamma


@converts("Celu", attrs=("alpha",))
def celu(n: Node) -> Tensor:
    x, alpha = n.x(0), n.attr("alpha", 1.0)
    return gc.maximum(x, 0) + gc.minimum(gc.expm1(gc.minimum(x, 0) / alpha) * alpha, 0)


@converts("HardSigmoid", attrs=("alpha", "beta", "consumed_inputs"))
def hard_sigmoid(n: Node) -> Tensor:
    return gc.clip(n.x(0) * n.attr("alpha", 0.2) + n.attr("beta", 0.5), 0, 1)


@converts("HardSwish")
def hard_swish(n: Node) -> Tensor:
    x = n.x(0)
    return x * gc.clip(x * (1 / 6) + 0.5, 0, 1)


@converts("ThresholdedRelu", attrs=("alpha",))
def thresholded_relu(n: Node) -> Tensor:
    x = n.x(0)
    return gc.where(x > n.attr("alpha", 1.0), x, 0)


@converts("Swish", attrs=("alpha",))
def swish(n: Node) -> Tensor:
    x = n.x(0)
    return x * gc.sigmoid(x * n.attr("alpha", 1.0))


@converts("Shrink", attrs=("bias", "lambd"))
def shrink(n: Node) -> Tensor:
    x, bias, lambd = n.x(0), n.attr("bias", 0.0), n.attr("lambd", 0.5)
    zero = x * 0
    return gc.where(x < -lambd, x + bias, gc.where(x > lambd, x - bias, zero))


@converts("Gelu", attrs=("approximate",))
def gelu(n: Node) -> Tensor:
    x = n.x(0)
    if n.attr("approximate", "none") == "tanh":
        inner = (x + gc.power(x, gc.cast(3, x.dtype)) * 0.044715) * math.sqrt(2 / math.pi)
        return x * 0.5 * (gc.tanh(inner) + 1)
    return gc.gelu(x)


@converts("Clip", attrs=("min", "max", "consumed_inputs"))
def clip(n: Node) -> Tensor:
    x = n.x(0)
    if n.opset < 11:
        lo, hi = n.attr("min"), n.attr("max")
    else:
        lo = gc.cast(n.x(1), x.dtype) if n.has(1) else None
        hi = gc.cast(n.x(2), x.dtype) if n.has(2) else None
    return gc.clip(x, lo, hi)


# ---- casts and selection ------------------------------------------------------------------------

@converts("Cast", attrs=("to", "saturate", "round_mode"))
def cast(n: Node) -> Tensor:
    to = n.attr("to")
    if isinstance(to, str):      # opset 1-5 spelled the type as a string
        to = TensorProto.DataType.Value(to.upper())
    return cast_to(n.x(0), numpy_dtype(to), graphc_dtype(to), bool(n.attr("saturate", 1)))


@converts("CastLike", attrs=("saturate", "round_mode"))
def cast_like(n: Node) -> Tensor:
    like = n.input_types[1]
    if like is None:
        return gc.cast(n.x(0), n.x(1).dtype)
    return cast_to(n.x(0), numpy_dtype(like), n.x(1).dtype, bool(n.attr("saturate", 1)))


@converts("Where")
def where(n: Node) -> Tensor:
    a, b = n.same_dtype(n.x(1), n.x(2))
    return gc.where(n.x(0), a, b)


# ---- contractions -----------------------------------------------------------------------------

@converts("MatMul")
def matmul(n: Node) -> Tensor:
    return gc.matmul(*n.same_dtype(n.x(0), n.x(1)))


@converts("Gemm", attrs=("alpha", "beta", "transA", "transB", "broadcast"))
def gemm(n: Node) -> Tensor:
    a, b = n.same_dtype(n.x(0), n.x(1))
    a = gc.transpose(a) if n.attr("transA", 0) else a
    b = gc.transpose(b) if n.attr("transB", 0) else b
    y = gc.matmul(a, b)
    alpha, beta = n.attr("alpha", 1.0), n.attr("beta", 1.0)
    if alpha != 1:
        y = y * gc.cast(alpha, y.dtype)
    if n.has(2) and beta != 0:
        c = gc.cast(n.x(2), y.dtype)
        y = y + (c if beta == 1 else c * gc.cast(beta, y.dtype))
    return y


@converts("BitShift", attrs=("direction",))
def bit_shift(n: Node) -> Tensor:
    """Shifts as products and floored quotients by powers of two, wrapped to the type.

    A count outside [0, bits) shifts everything out (0, or -1 for a negative x shifted right).
    """
    x, y = n.same_dtype(n.x(0), n.x(1))
    declared = numpy_dtype(n.input_types[0]) if n.input_types[0] else np.dtype(x.dtype)
    bits = ml_dtypes.iinfo(declared).bits
    out_of_range = (y < 0) | (y >= bits)
    scale = gc.power(gc.cast(2.0, "float64"), gc.cast(gc.where(out_of_range, bits, y),
                                                      "float64"))
    direction = n.attr("direction")
    if direction == "RIGHT":
        return gc.cast(gc.floor(gc.cast(x, "float64") / scale), x.dtype)
    if direction != "LEFT":
        raise n.fail(f"direction {direction!r}, not LEFT or RIGHT")
    shifted = gc.cast(x, "float64") * scale
    wrapped = wrap_int(shifted, declared, x.dtype) if bits < 64 else gc.cast(shifted, x.dtype)
    return gc.where(out_of_range, gc.cast(0, x.dtype), wrapped)
