"""tanh and erf: odd functions computed on |x| and signed at the end."""

from __future__ import annotations

from backends.llvm.vmath import coeffs
from backends.llvm.vmath.exp_log import clamp, exp, expm1
from backends.llvm.vmath.fir import FloatIR


def tanh(m: FloatIR, x):
    """tanh(|x|) = t/(t + 2) with t = expm1(2|x|); +-1 once that rounds to 1."""
    a = m.fabs(x)
    saturated = 40.0 if m.is_f64 else 20.0  # tanh rounds to 1 from 19.1 (f64), 9.1 (f32)
    t = expm1(m, m.mul(m.c(2.0), clamp(m, a, 0.0, saturated)))
    y = m.copysign(m.div(t, m.add(t, m.c(2.0))), x)
    return m.select(m.isnan(x), x, y)


def erf(m: FloatIR, x):
    """erf(x): x + x*P(x^2) up to 1, then 1 - exp(Q(|x| - shift)), Q fitted to log(erfc)."""
    prec = "f64" if m.is_f64 else "f32"
    a = m.fabs(x)
    (_, _, _, small), = coeffs.ERF_SMALL[prec]
    near_zero = m.fma(a, m.poly(m.mul(a, a), small), a)

    pieces = coeffs.ERFC_LOG[prec]
    top = pieces[-1][1]  # erf rounds to 1 from there on (erfc < half an ulp of 1)
    ac = clamp(m, a, pieces[0][0], top)
    # Pick each piece's coefficients by interval: selects, so the code stays straight-line.
    degree = len(pieces[0][3])
    shift, cs = m.c(pieces[0][2]), [m.c(c) for c in pieces[0][3]]
    for lo, _, piece_shift, piece_cs in pieces[1:]:
        beyond = m.ge(ac, m.c(lo))
        shift = m.select(beyond, m.c(piece_shift), shift)
        cs = [m.select(beyond, m.c(c), old) for c, old in zip(piece_cs, cs)]
    t = m.sub(ac, shift)  # exact: shifts sit in the middle of their pieces
    log_erfc = cs[degree - 1]
    for c in reversed(cs[:degree - 1]):
        log_erfc = m.fma(log_erfc, t, c)
    far = m.sub(m.c(1.0), exp(m, log_erfc))

    y = m.select(m.lt(a, m.c(pieces[0][0])), near_zero, far)
    y = m.select(m.ge(a, m.c(top)), m.c(1.0), y)
    y = m.copysign(y, x)
    return m.select(m.isnan(x), x, y)
