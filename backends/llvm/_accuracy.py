"""Measuring vmath against references: input sweeps, reference values, errors in ulps.

Shared by tests/test_llvm_vmath.py and benchmarks/vmath_accuracy.py. References are float64
NumPy for float32 results and long double NumPy (80-bit on x86-64) for float64 results; erf,
which NumPy lacks, comes from scipy (f32) and the C library's erf via `math.erf` (f64).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.special

F32, F64 = np.dtype("float32"), np.dtype("float64")
HAS_WIDE_LONGDOUBLE = np.finfo(np.longdouble).nmant >= 63


def _math_erf(x: np.ndarray) -> np.ndarray:
    return np.frompyfunc(math.erf, 1, 1)(x.astype(np.float64)).astype(np.float64)


@dataclass(frozen=True)
class Case:
    """One function: its NumPy spelling, interesting input ranges per dtype, its budget."""

    name: str
    numpy: Callable[..., np.ndarray]
    ranges: dict[np.dtype, tuple[tuple[float, float], ...]]
    arity: int = 1
    domain: tuple[float, float] | None = None   # the inputs it takes (besides NaN), if limited

    def reference(self, dtype, *xs: np.ndarray) -> np.ndarray:
        """Values accurate well beyond `dtype`'s precision (see the module docstring)."""
        if self.name == "erf":
            return scipy.special.erf(xs[0].astype(np.float64)) if dtype == F32 else _math_erf(xs[0])
        wide = np.float64 if np.dtype(dtype) == F32 else np.longdouble
        with np.errstate(all="ignore"):
            return self.numpy(*[x.astype(wide) for x in xs])

    def expected(self, *xs: np.ndarray) -> np.ndarray:
        """What NumPy (scipy for erf) returns in the inputs' own dtype."""
        with np.errstate(all="ignore"):
            return self.numpy(*xs)


CASES: dict[str, Case] = {c.name: c for c in [
    Case("exp", np.exp, {F32: ((-104.0, 89.0),), F64: ((-746.0, 710.0),)}),
    Case("expm1", np.expm1, {F32: ((-20.0, 89.0),), F64: ((-40.0, 710.0),)}),
    Case("log", np.log, {F32: ((0.0, 3.4e38),), F64: ((0.0, 1.7e308),)}),
    Case("log1p", np.log1p, {F32: ((-1.0, 3.4e38),), F64: ((-1.0, 1.7e308),)}),
    Case("log1p_unit", np.log1p, {F32: ((0.0, 1.0),), F64: ((0.0, 1.0),)}, domain=(0.0, 1.0)),
    Case("sin", np.sin, {F32: ((-1e5, 1e5),), F64: ((-1e9, 1e9),)}),
    Case("cos", np.cos, {F32: ((-1e5, 1e5),), F64: ((-1e9, 1e9),)}),
    Case("tanh", np.tanh, {F32: ((-10.0, 10.0),), F64: ((-20.0, 20.0),)}),
    Case("erf", scipy.special.erf, {F32: ((-4.5, 4.5),), F64: ((-6.5, 6.5),)}),
    Case("sqrt", np.sqrt, {F32: ((0.0, 3.4e38),), F64: ((0.0, 1.7e308),)}),
    Case("pow", np.power, {F32: ((0.0, 1e4), (-30.0, 30.0)), F64: ((0.0, 1e4), (-30.0, 30.0))},
         arity=2),
]}


def _ordered(x: np.ndarray, dtype) -> np.ndarray:
    """Floats to integers in the same order, consecutive floats giving consecutive integers."""
    ity = np.int32 if np.dtype(dtype) == F32 else np.int64
    bits = np.asarray(x, dtype).view(ity).astype(np.int64)
    return np.where(bits < 0, -(bits & np.iinfo(ity).max), bits)


def _from_ordered(keys: np.ndarray, dtype) -> np.ndarray:
    ity = np.int32 if np.dtype(dtype) == F32 else np.int64
    sign = np.iinfo(ity).min
    bits = np.where(keys < 0, (-keys) | sign, keys).astype(ity)
    return bits.view(dtype)


def sweep(lo: float, hi: float, count: int, dtype) -> np.ndarray:
    """`count` inputs in [lo, hi]: half evenly spaced in ulps (every binade, subnormals too),
    half evenly spaced in value (large arguments); both ends included."""
    klo, khi = int(_ordered(lo, dtype)), int(_ordered(hi, dtype))
    keys = np.linspace(klo, khi, count // 2).round().astype(np.int64)
    by_ulp = _from_ordered(np.clip(keys, klo, khi), dtype)  # float64 keys may round past
    t = np.linspace(0.0, 1.0, count - count // 2)
    by_value = (lo * (1 - t) + hi * t).astype(dtype)  # no overflow for lo = -max, hi = max
    return np.concatenate([by_ulp, by_value])


def inputs(case: Case, dtype, count: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """A sweep of each of the case's ranges; for pow, bases against exponents (half integers)."""
    dtype = np.dtype(dtype)
    if case.arity == 1:
        return (np.concatenate([sweep(lo, hi, count, dtype) for lo, hi in case.ranges[dtype]]),)
    (blo, bhi), (elo, ehi) = case.ranges[dtype]
    rng = np.random.default_rng(seed)
    base = sweep(blo, bhi, count, dtype) * rng.choice(np.array([-1, 1], dtype), count)
    expo = rng.uniform(elo, ehi, count)
    expo = np.where(rng.random(count) < 0.5, np.round(expo), expo).astype(dtype)
    return base, expo


def ulp_errors(got: np.ndarray, ref: np.ndarray, dtype) -> np.ndarray:
    """|got - ref| in units of the last place of `dtype` at ref (subnormal ulps below).

    Where ref rounds to inf in `dtype` only that inf is right; nan must match nan, and the
    sign must match the reference's (so an underflow keeps it).
    """
    dtype = np.dtype(dtype)
    info = np.finfo(dtype)
    wide = ref.dtype
    with np.errstate(all="ignore"):
        rounded = ref.astype(dtype)
        _, e = np.frexp(np.abs(ref))
        ulp = np.ldexp(np.ones_like(ref), np.maximum(e - 1, info.minexp) - info.nmant)
        err = np.abs(got.astype(wide) - ref) / ulp
    err = np.where(np.isinf(rounded), np.where(got == rounded, 0.0, np.inf), err)
    err = np.where(np.signbit(got) != np.signbit(ref), np.inf, err)  # zeros have a sign too
    both_nan = np.isnan(got) & np.isnan(ref)
    one_nan = np.isnan(got) != np.isnan(ref)
    return np.where(both_nan, 0.0, np.where(one_nan, np.inf, err)).astype(np.float64)


def special_inputs(dtype, domain: tuple[float, float] | None = None) -> np.ndarray:
    """Values where functions have exact answers or change regime, both signs (those in
    `domain`, and NaN, for a function taking only those; no -0 there)."""
    info = np.finfo(dtype)
    base = [0.0, np.inf, np.nan, 1.0, 0.5, 2.0, float(info.smallest_subnormal),
            float(info.smallest_normal), float(info.max), 1e-30, 1e-10, 1e-5, 0.3, 1.5, 3.0,
            4.0, 6.0, 9.5, 20.0, 50.0, 88.72, 89.0, 103.9, 110.0, 700.0, 709.79, 746.0,
            1e5, 1e10, 1e30]
    values = np.array(base + [-v for v in base], dtype=np.float64)
    if domain is not None:
        lo, hi = domain
        negative_zero = (values == 0) & np.signbit(values)
        values = values[np.isnan(values) | (lo <= values) & (values <= hi) & ~negative_zero]
    with np.errstate(over="ignore"):
        return values.astype(dtype)
