"""sin and cos: Cody-Waite reduction by pi/2 in several parts, then polynomials on [-pi/4, pi/4].

Accuracy (within 4 ulp, about 1.5 measured) holds while the reduction is exact enough: |x| up to
2^23 (8.4e6) for f32 and 2^51 (2.3e15) for f64, tested. Beyond, the result degrades to noise but
stays in [-1, 1]; inf and nan give nan.
"""

from __future__ import annotations

from backends.llvm.vmath import coeffs
from backends.llvm.vmath.consts import PI_2, TWO_OVER_PI, one_piece
from backends.llvm.vmath.exp_log import clamp
from backends.llvm.vmath.fir import FloatIR

R_MAX = coeffs.SIN["f32"][0][1] ** 0.5  # the polynomials' interval: pi/4 with some slack


def _reduce(m: FloatIR, x):
    """(q, r) with x = (4k + q)*pi/2 + r, q in 0..3 as an integer, |r| <= pi/4 or so."""
    x = m.select(m.is_finite(x), x, m.c(0.0))  # callers turn inf and nan into nan
    j = _nearest_quarter_turn(m, x)
    neg_j = m.neg(j)
    r = x
    for part in PI_2[m.prec]:
        r = m.fma_exact(neg_j, m.c(part), r)  # the first one is exact, later ones round once
    # NOTE: j mod 4 in float arithmetic: j may be far beyond the integer range for huge x.
    q = m.sub(j, m.mul(m.c(4.0), m.floor(m.mul(j, m.c(0.25)))))
    return m.b.and_(m.to_int(q), m.ci(3)), clamp(m, r, -R_MAX, R_MAX)


def _nearest_quarter_turn(m: FloatIR, x):
    """rint(x * 2/pi), with the product carried in two parts so j stays right for large x."""
    hi, lo = TWO_OVER_PI[m.prec]
    t = m.mul(x, m.c(hi))
    err = m.fma(x, m.c(lo), m.fma_exact(x, m.c(hi), m.neg(t)))
    j = m.rint(t)
    frac = m.add(m.sub(t, j), err)  # t - j is exact
    j = m.select(m.gt(frac, m.c(0.5)), m.add(j, m.c(1.0)), j)
    return m.select(m.lt(frac, m.c(-0.5)), m.sub(j, m.c(1.0)), j)


def _sin_cos_kernels(m: FloatIR, r):
    """(sin(r), cos(r)) for |r| <= pi/4: both, the quadrant picks one per lane."""
    z = m.mul(r, r)
    sin_r = m.fma(m.mul(r, z), m.poly(z, one_piece(coeffs.SIN, m.prec)), r)
    cos_inner = m.fma(z, m.poly(z, one_piece(coeffs.COS, m.prec)), m.c(-0.5))
    return sin_r, m.fma(z, cos_inner, m.c(1.0))


def _quadrant(m: FloatIR, x, phase: int):
    """sin(x + phase*pi/2): the kernel picked and signed by the quadrant q + phase."""
    q, r = _reduce(m, x)
    sin_r, cos_r = _sin_cos_kernels(m, r)
    q = m.b.add(q, m.ci(phase))
    odd = m.b.icmp_signed("!=", m.b.and_(q, m.ci(1)), m.ci(0))
    negate = m.b.icmp_signed("!=", m.b.and_(q, m.ci(2)), m.ci(0))
    y = m.select(odd, cos_r, sin_r)
    y = m.select(negate, m.neg(y), y)
    return m.select(m.is_finite(x), y, m.c(float("nan")))


def sin(m: FloatIR, x):
    """sin(x); -0 stays -0."""
    return m.select(m.eq(x, m.c(0.0)), x, _quadrant(m, x, 0))


def cos(m: FloatIR, x):
    """cos(x) = sin(x + pi/2)."""
    return _quadrant(m, x, 1)
