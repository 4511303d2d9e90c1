"""exp, expm1, log and log1p: Cody-Waite reduction by ln2 or the exponent, then a polynomial."""

from __future__ import annotations

from backends.llvm.vmath import coeffs
from backends.llvm.vmath.consts import LN2, LOG2E, one_piece
from backends.llvm.vmath.fir import FloatIR

INF = float("inf")


def reduce_ln2(m: FloatIR, x):
    """(n, r) with x = n*ln2 + r, |r| <= ln2/2 (x finite, |x| < 2^10 or so)."""
    hi, lo = LN2[m.prec]
    n = m.rint(m.mul(x, m.c(LOG2E[m.prec])))
    neg_n = m.neg(n)
    # NOTE: the first fma is exact (x and n*hi are close), the second rounds once.
    return n, m.fma_exact(neg_n, m.c(lo), m.fma_exact(neg_n, m.c(hi), x))


def expm1_kernel(m: FloatIR, r):
    """expm1(r) for |r| <= ln2/2, within a fraction of an ulp."""
    return m.fma(m.mul(r, r), m.poly(r, one_piece(coeffs.EXPM1, m.prec)), r)


def clamp(m: FloatIR, x, lo: float, hi: float):
    """x limited to [lo, hi]; nan becomes hi (callers restore nan themselves)."""
    x = m.select(m.lt(x, m.c(hi)), x, m.c(hi))
    return m.select(m.gt(x, m.c(lo)), x, m.c(lo))


def exp(m: FloatIR, x):
    """e^x: overflow to inf and gradual underflow come from scaling by 2^n in two steps."""
    # Beyond +-(2^7 or 2^10) exp is inf or 0 anyway; clamping keeps n a small integer.
    bound = 800.0 if m.is_f64 else 110.0
    n, r = reduce_ln2(m, clamp(m, x, -bound, bound))
    y = m.ldexp(m.add(m.c(1.0), expm1_kernel(m, r)), m.to_int(n))
    return m.select(m.isnan(x), x, y)


def exp_normal(m: FloatIR, x):
    """e^x for x known to give a normal result (|x| < 87 for f32): no edge cases, one scaling."""
    n, r = reduce_ln2(m, x)
    return m.mul(m.add(m.c(1.0), expm1_kernel(m, r)), m.pow2(m.to_int(n)))


def expm1(m: FloatIR, x):
    """e^x - 1, accurate near 0: 2^n*expm1(r) + (2^n - 1) with one rounding."""
    lo = -80.0 if m.is_f64 else -40.0  # expm1 rounds to -1 well before
    hi = 800.0 if m.is_f64 else 110.0
    n, r = reduce_ln2(m, clamp(m, x, lo, hi))
    e = expm1_kernel(m, r)
    ni = m.to_int(n)
    big = m.mant_bits + 2  # beyond, the -1 no longer shows and 2^n may overflow
    far = m.b.icmp_signed(">", ni, m.ci(big))
    scale = m.pow2(m.select(far, m.ci(big), ni))
    near_value = m.fma(scale, e, m.sub(scale, m.c(1.0)))
    y = m.select(far, m.ldexp(m.add(m.c(1.0), e), ni), near_value)
    y = m.select(m.eq(x, m.c(0.0)), x, y)  # keeps -0
    return m.select(m.isnan(x), x, y)


def split_exponent(m: FloatIR, x):
    """(k, f) with x = 2^k * (1 + f), 1 + f in [sqrt(1/2), sqrt(2)); x positive and normal."""
    sqrt_half = 0x3FE6A09E667F3BCD if m.is_f64 else 0x3F3504F3
    bits = m.b.sub(m.as_int(x), m.ci(sqrt_half))
    k = m.b.ashr(bits, m.ci(m.mant_bits))
    mant = m.b.and_(bits, m.ci((1 << m.mant_bits) - 1))
    one_plus_f = m.as_float(m.b.add(mant, m.ci(sqrt_half)))
    return m.to_float(k), m.sub(one_plus_f, m.c(1.0))  # exact (Sterbenz)


def log_kernel(m: FloatIR, k, f, c):
    """k*ln2 + log(1+f) + c for 1+f in [sqrt(1/2), sqrt(2)), c a small correction.

    With s = f/(2+f): log(1+f) = f - hfsq + s*(hfsq + R(s^2)), hfsq = f^2/2, the form that
    keeps the rounding of the polynomial part far below f's last bit.
    """
    hi, lo = LN2[m.prec]
    s = m.div(f, m.add(m.c(2.0), f))
    z = m.mul(s, s)
    r = m.mul(z, m.poly(z, one_piece(coeffs.LOG, m.prec)))
    hfsq = m.mul(m.c(0.5), m.mul(f, f))
    tail = m.fma(s, m.add(hfsq, r), m.fma(k, m.c(lo), c))
    return m.fma_exact(k, m.c(hi), m.neg(m.sub(m.sub(hfsq, tail), f)))


def log(m: FloatIR, x):
    """Natural log: -inf at 0, nan below, subnormals scaled up first."""
    tiny = m.lt(x, m.c(2.0 ** (-1022 if m.is_f64 else -126)))
    boost = 54 if m.is_f64 else 25
    xs = m.select(tiny, m.mul(x, m.c(2.0 ** boost)), x)
    k, f = split_exponent(m, xs)
    k = m.select(tiny, m.sub(k, m.c(boost)), k)
    y = log_kernel(m, k, f, m.c(0.0))
    y = m.select(m.eq(x, m.c(INF)), x, y)
    y = m.select(m.eq(x, m.c(0.0)), m.c(-INF), y)
    return m.select(m.lt_or_nan(x, m.c(0.0)), m.c(float("nan")), y)


def log1p(m: FloatIR, x):
    """log(1 + x), accurate near 0: u = 1 + x plus the correction for what u's rounding lost."""
    u = m.add(m.c(1.0), x)
    k, f = split_exponent(m, u)
    # (1 + x) - u, relative to u: 1 - (u - x) is exact when u >= 2, x - (u - 1) when u < 2.
    lost = m.select(m.ge(u, m.c(2.0)), m.sub(m.c(1.0), m.sub(u, x)), m.sub(x, m.sub(u, m.c(1.0))))
    no_shift = m.eq(k, m.c(0.0))
    c = m.select(no_shift, m.c(0.0), m.div(lost, u))
    f = m.select(no_shift, x, f)  # u = 1+x needs no exponent: use x itself, unrounded
    y = log_kernel(m, k, f, c)
    y = m.select(m.eq(x, m.c(INF)), x, y)
    y = m.select(m.eq(x, m.c(-1.0)), m.c(-INF), y)
    y = m.select(m.eq(x, m.c(0.0)), x, y)  # keeps -0
    return m.select(m.lt_or_nan(x, m.c(-1.0)), m.c(float("nan")), y)


def log1p_unit(m: FloatIR, x):
    """log(1 + x) for x in [0, 1] or NaN, as exp of a non-positive number gives (no -0, no
    infinities, nothing below 0): log1p without the checks for what cannot come, which took
    ~8% of W4 (softplus's log1p(exp(-|x|)))."""
    u = m.add(m.c(1.0), x)
    k, f = split_exponent(m, u)
    lost = m.sub(x, m.sub(u, m.c(1.0)))      # (1 + x) - u exactly, as u < 2 (or x = 1: 0)
    no_shift = m.eq(k, m.c(0.0))
    c = m.select(no_shift, m.c(0.0), m.div(lost, u))
    y = log_kernel(m, k, m.select(no_shift, x, f), c)
    return m.select(m.isnan(x), x, y)
