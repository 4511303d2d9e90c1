"""Casts to the narrow types graphc computes in a wider dtype: round or wrap in the graph.

A float8/float4/bfloat16/float16 value lives in float32 but only takes values its format
has: a cast rounds to the nearest one (ties to even), saturating to the largest finite value
when asked. A 2- to 16-bit or unsigned integer lives in int32/int64 and wraps around.
"""
from __future__ import annotations

import math

import ml_dtypes
import numpy as np

import graphc as gc
from graphc.tensor import Tensor


def round_half_even(x: Tensor) -> Tensor:
    """Round to the nearest integer, ties to even (ONNX's Round; NumPy's rint)."""
    r = gc.floor(x + 0.5)
    odd = gc.not_equal(r - gc.floor(r * 0.5) * 2, 0)
    return r - gc.cast(gc.equal(r - x, 0.5) & odd, x.dtype)


def is_float_format(np_dtype) -> bool:
    """Whether an ONNX numpy dtype is a float format (ml_dtypes' are not numpy kind 'f')."""
    return "float" in np.dtype(np_dtype).name


def round_to_float(x: Tensor, np_dtype: np.dtype, saturate: bool) -> Tensor:
    """x (float) rounded to the values of a narrow float format, ties to even."""
    info = ml_dtypes.finfo(np_dtype)
    x = gc.cast(x, "float32") if x.dtype != "float32" else x
    biggest = float(info.max)
    if saturate:
        x = gc.clip(x, -biggest, biggest)
    a = gc.abs(x)
    safe = gc.where(a > 0, a, 1.0)
    e = gc.floor(gc.log(safe) * (1 / math.log(2)))
    # NOTE: log rounds; fix an exponent one off near a power of two.
    e = gc.where(gc.power(gc.cast(2.0, "float32"), e) > safe, e - 1, e)
    e = gc.where(gc.power(gc.cast(2.0, "float32"), e + 1) <= safe, e + 1, e)
    e = gc.maximum(e, float(info.minexp))
    step = gc.power(gc.cast(2.0, "float32"), e - float(info.nmant))
    rounded = round_half_even(a / step) * step
    if not saturate:
        over = gc.cast(math.inf if _has_inf(np_dtype) else math.nan, "float32")
        rounded = gc.where(rounded > biggest, over, rounded)
    y = gc.where(x < 0, -rounded, rounded)
    return gc.where(gc.not_equal(x, x) | gc.equal(a, math.inf), x, y)


def _has_inf(np_dtype) -> bool:
    return bool(np.isinf(np.array(np.inf, np.float32).astype(np_dtype)))


def wrap_int(x: Tensor, np_dtype: np.dtype, dtype: str) -> Tensor:
    """x (an int) wrapped into the range of a narrow integer type, as a C cast does."""
    info = ml_dtypes.iinfo(np_dtype)
    span = float(int(info.max) - int(info.min) + 1)
    v = gc.cast(x, "float64") - float(info.min)
    return gc.cast(v - gc.floor(v / span) * span + float(info.min), dtype)


def cast_to(x: Tensor, np_dtype: np.dtype, dtype: str, saturate: bool = True) -> Tensor:
    """x cast to the ONNX type whose numpy dtype is np_dtype, computed in graphc's `dtype`."""
    np_dtype = np.dtype(np_dtype)
    if np_dtype == np.dtype(dtype) or np_dtype == np.bool_ or np_dtype.itemsize >= 8:
        return gc.cast(x, dtype)
    if not is_float_format(np_dtype):
        if x.dtype.startswith("float"):
            x = gc.cast(x, "int64")
        return wrap_int(x, np_dtype, dtype)
    # NOTE: saturation is defined for the 8- and 4-bit formats only; bfloat16 overflows to inf.
    return round_to_float(x, np_dtype, saturate and np_dtype.itemsize == 1)
