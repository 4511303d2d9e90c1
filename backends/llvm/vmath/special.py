"""tanh and erf: odd functions computed on |x| and signed at the end."""

from __future__ import annotations

from backends.llvm.vmath import coeffs
from backends.llvm.vmath.consts import one_piece
from backends.llvm.vmath.exp_log import clamp, exp_normal, expm1
from backends.llvm.vmath.fir import FloatIR


def tanh(m: FloatIR, x):
    """tanh(x), odd: see the f32 and f64 variants; nan stays nan."""
    y = _tanh_f64(m, x) if m.is_f64 else _tanh_f32(m, x)
    return m.select(m.isnan(x), x, y)


def _tanh_f64(m: FloatIR, x):
    """tanh(|x|) = t/(t + 2) with t = expm1(2|x|), accurate down to 0; +-1 from 19.1 on.

    The quotient is corrected for the rounding of t + 2 and of the division itself, which
    otherwise add up to an ulp and a half.
    """
    t = expm1(m, m.mul(m.c(2.0), clamp(m, m.fabs(x), 0.0, 40.0)))
    d = m.add(t, m.c(2.0))
    t_bigger = m.gt(t, m.c(2.0))
    big, small = m.select(t_bigger, t, m.c(2.0)), m.select(t_bigger, m.c(2.0), t)
    d_err = m.add(m.sub(big, d), small)  # t + 2 - d exactly (Fast2Sum)
    q = m.div(t, d)
    rem = m.fma(m.neg(q), d_err, m.fma_exact(m.neg(q), d, t))  # t - q*(d + d_err)
    return m.copysign(m.fma(rem, m.div(m.c(1.0), d), q), x)


def _tanh_f32(m: FloatIR, x):
    """An odd polynomial below 0.625, 1 - 2/(e^(2|x|) + 1) above: cheaper than expm1."""
    (_, z_top, _, cs), = coeffs.TANH["f32"]
    a = m.fabs(x)
    z = m.mul(a, a)
    small = m.fma(m.mul(a, z), m.poly(z, cs), a)
    e = exp_normal(m, m.mul(m.c(2.0), clamp(m, a, 0.0, 10.0)))  # tanh rounds to 1 from 9.1
    large = m.sub(m.c(1.0), m.div(m.c(2.0), m.add(e, m.c(1.0))))
    return m.copysign(m.select(m.lt(z, m.c(z_top)), small, large), x)


def erf(m: FloatIR, x):
    """erf(x): x + x*P(x^2) up to 1, then 1 - exp(Q(|x| - shift)), Q fitted to log(erfc)."""
    a = m.fabs(x)
    near_zero = m.fma(a, m.poly(m.mul(a, a), one_piece(coeffs.ERF_SMALL, m.prec)), a)

    pieces = coeffs.ERFC_LOG[m.prec]
    top = pieces[-1][1]  # erf rounds to 1 from there on (erfc < half an ulp of 1)
    ac = clamp(m, a, pieces[0][0], top)
    # Pick each piece's coefficients by interval: selects, so the code stays straight-line.
    shift, cs = m.c(pieces[0][2]), [m.c(c) for c in pieces[0][3]]
    for lo, _, piece_shift, piece_cs in pieces[1:]:
        beyond = m.ge(ac, m.c(lo))
        shift = m.select(beyond, m.c(piece_shift), shift)
        cs = [m.select(beyond, m.c(c), old) for c, old in zip(piece_cs, cs)]
    # NOTE: t is exact up to 2*shift (Sterbenz), where erfc matters; beyond, erfc is so small
    # next to 1 that t's rounding does not show.
    t = m.sub(ac, shift)
    far = m.sub(m.c(1.0), exp_normal(m, m.poly(t, cs)))

    y = m.select(m.lt(a, m.c(pieces[0][0])), near_zero, far)
    y = m.select(m.ge(a, m.c(top)), m.c(1.0), y)
    y = m.copysign(y, x)
    return m.select(m.isnan(x), x, y)
