"""pow with C99/NumPy semantics: f32 through exp(y*log|x|) in f64, f64 through libm.

An f32 result needs y*log|x| to about 2^-35; in f64 arithmetic that takes only short
polynomials (POW_LOG, POW_EXPM1) and still vectorizes (4 doubles per ymm). f64 would need
double-double log and exp, so it calls libm's pow (scalar calls, measured in
benchmarks/vmath_speed.py).
"""

from __future__ import annotations

from llvmlite import ir

from backends.llvm.vmath import coeffs
from backends.llvm.vmath.consts import LN2, LOG2E, one_piece
from backends.llvm.vmath.exp_log import clamp, split_exponent
from backends.llvm.vmath.fir import FloatIR

INF = float("inf")


def pow_(m: FloatIR, x, y):
    """x**y for f32 (scalars or vectors) and f64 (libm)."""
    if m.is_f64:
        return m.call("pow", x, y)
    d = m.with_type(ir.VectorType(ir.DoubleType(), m.width) if m.width else ir.DoubleType())
    xd, yd = m.b.fpext(x, d.ty), m.b.fpext(y, d.ty)
    ax = d.fabs(xd)
    magnitude = _exp_f64_short(d, clamp(d, d.mul(yd, _log_f64_short(d, ax)), -200.0, 200.0))

    # |x|^y where the logarithm does not apply: x = 0, x = inf, y = inf, nan.
    y_neg, y_pos = d.lt(yd, d.c(0.0)), d.gt(yd, d.c(0.0))
    inf_or_zero = [d.c(INF), d.c(0.0)]
    magnitude = d.select(d.eq(ax, d.c(0.0)), d.select(y_neg, *inf_or_zero), magnitude)
    magnitude = d.select(d.eq(ax, d.c(INF)), d.select(y_pos, *inf_or_zero), magnitude)
    grows = m.b.icmp_unsigned("==", d.gt(ax, d.c(1.0)), y_pos)
    at_inf = d.select(d.eq(ax, d.c(1.0)), d.c(1.0), d.select(grows, *inf_or_zero))
    magnitude = d.select(d.eq(d.fabs(yd), d.c(INF)), at_inf, magnitude)
    magnitude = d.select(m.b.fcmp_unordered("uno", xd, yd), d.c(float("nan")), magnitude)

    y_int = d.eq(d.floor(yd), yd)  # true for +-inf too
    y_odd = d.eq(d.fma(d.floor(d.mul(yd, d.c(0.5))), d.c(-2.0), yd), d.c(1.0))  # not inf, nan
    x_negative = m.b.icmp_signed("<", m.as_int(x), m.ci(0))  # the sign bit: -0 too
    r = d.select(d.and_(x_negative, y_odd), d.neg(magnitude), magnitude)
    # A finite negative base to a finite non-integer power is nan; x**0 and 1**y are 1 always.
    bad = d.and_(d.and_(d.lt(xd, d.c(0.0)), d.is_finite(xd)), d.not_(y_int))
    r = d.select(bad, d.c(float("nan")), r)
    r = d.select(d.or_(d.eq(yd, d.c(0.0)), d.eq(xd, d.c(1.0))), d.c(1.0), r)
    return m.b.fptrunc(r, m.ty)


def _log_f64_short(d: FloatIR, ax):
    """log(ax) to about 2^-40 for ax positive, finite and normal in f64."""
    k, f = split_exponent(d, ax)
    s = d.div(f, d.add(d.c(2.0), f))
    z = d.mul(s, s)
    log1p_f = d.fma(d.mul(s, z), d.poly(z, one_piece(coeffs.POW_LOG, "f64")), d.add(s, s))
    return d.fma(k, d.c(LN2["f64"][0]), log1p_f)


def _exp_f64_short(d: FloatIR, t):
    """exp(t) to about 2^-31 for |t| <= 200 (one ln2 part suffices at that range)."""
    n = d.rint(d.mul(t, d.c(LOG2E["f64"])))
    r = d.fma_exact(d.neg(n), d.c(LN2["f64"][0]), t)
    p = d.add(d.c(1.0), d.fma(d.mul(r, r), d.poly(r, one_piece(coeffs.POW_EXPM1, "f64")), r))
    return d.mul(p, d.pow2(d.to_int(n)))
