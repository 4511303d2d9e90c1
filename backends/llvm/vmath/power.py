"""pow with C99/NumPy semantics: f32 through f64 exp(y*log|x|), f64 through libm.

An f32 result needs y*log|x| to ~2^-30 relative; computing it in f64 with the f64 routines is
the simplest way there and still vectorizes (4 doubles per ymm). f64 would need double-double
log and exp, so it calls libm's pow (scalar calls, measured in benchmarks/vmath_speed.py).
"""

from __future__ import annotations

from llvmlite import ir

from backends.llvm.vmath.exp_log import exp, log
from backends.llvm.vmath.fir import FloatIR


def pow_(m: FloatIR, x, y):
    """x**y for f32 (scalars or vectors) and f64 (libm)."""
    if m.is_f64:
        return m.call("pow", x, y)
    wide_ty = ir.VectorType(ir.DoubleType(), m.width) if m.width else ir.DoubleType()
    d = m.with_type(wide_ty)
    xd, yd = m.b.fpext(x, wide_ty), m.b.fpext(y, wide_ty)
    magnitude = exp(d, d.mul(yd, log(d, d.fabs(xd))))

    y_int = d.eq(d.floor(yd), yd)  # true for +-inf too
    half_floor = d.floor(d.mul(yd, d.c(0.5)))
    y_odd = d.eq(d.fma(half_floor, d.c(-2.0), yd), d.c(1.0))  # false for inf and nan
    x_negative = m.b.icmp_signed("<", m.as_int(x), m.ci(0))  # sign bit, -0 included
    r = d.select(d.and_(x_negative, y_odd), d.neg(magnitude), magnitude)
    # A finite negative base to a finite non-integer power is nan ...
    bad = d.and_(d.and_(d.lt(xd, d.c(0.0)), d.is_finite(xd)), d.not_(y_int))
    r = d.select(bad, d.c(float("nan")), r)
    # ... (-1)**+-inf is 1, and so are x**0 and 1**y, even for nan x or y.
    r = d.select(d.and_(d.eq(d.fabs(xd), d.c(1.0)), d.not_(d.is_finite(yd))), d.c(1.0), r)
    # (the not-finite test is also true for nan y: 1**nan is 1, and (-1)**nan is caught below.)
    r = d.select(d.and_(d.eq(xd, d.c(-1.0)), d.isnan(yd)), d.c(float("nan")), r)
    r = d.select(d.or_(d.eq(yd, d.c(0.0)), d.eq(xd, d.c(1.0))), d.c(1.0), r)
    return m.b.fptrunc(r, m.ty)
