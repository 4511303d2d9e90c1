"""Regenerate `coeffs.py`: the minimax polynomials behind vmath, fitted by `remez`.

Run `python -m backends.llvm.vmath.fit > backends/llvm/vmath/coeffs.py` (about a minute). Each
table names what it approximates, on which interval, and its weighted error in units of the
target precision's 2^-24 (f32) or 2^-53 (f64) after rounding the coefficients to that precision.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from decimal import Decimal as D
from decimal import localcontext

import numpy as np

from backends.llvm.vmath import remez

UNIT = {"f32": 2.0 ** -24, "f64": 2.0 ** -53}
LN2_HALF = math.log(2) / 2 * 1.002  # |r| after exp's reduction, with slack for rint's rounding
LOG_ZMAX = 0.0295                   # s^2 for s = f/(2+f), 1+f in [sqrt(1/2), sqrt(2)]
TRIG_ZMAX = (math.pi / 4 * 1.01) ** 2  # r^2 after the quadrant reduction
TANH_SMALL = 0.625  # f32 tanh: odd polynomial below, 1 - 2/(exp(2|x|) + 1) above


def _expm1_p(r: D) -> D:
    """(expm1(r) - r) / r^2."""
    return remez.taylor(r, D(1) / 2, lambda k: r / (k + 3))


def _log_r(z: D) -> D:
    """(2 atanh(s)/s - 2) / s^2 at z = s^2: log(1+f) = f - hfsq + s*(hfsq + z*P(z))."""
    return remez.taylor(z, D(2) / 3, lambda k: z * (2 * k + 3) / (2 * k + 5))


def _sin_s(z: D) -> D:
    """(sin(r) - r) / r^3 at z = r^2."""
    return remez.taylor(z, D(-1) / 6, lambda k: -z / ((2 * k + 4) * (2 * k + 5)))


def _cos_c(z: D) -> D:
    """(cos(r) - 1 + r^2/2) / r^4 at z = r^2."""
    return remez.taylor(z, D(1) / 24, lambda k: -z / ((2 * k + 5) * (2 * k + 6)))


def _tanh_t(z: D) -> D:
    """(tanh(x) - x) / x^3 at z = x^2."""
    x = z.sqrt()
    e = (2 * x).exp()
    return ((e - 1) / (e + 1) - x) / (x * z)


def _erf_small(z: D) -> D:
    """erf(x)/x - 1 at z = x^2 (the -1 keeps 2/sqrt(pi)'s rounding out of the result)."""
    series = remez.taylor(z, D(1), lambda k: -z * (2 * k + 1) / ((k + 1) * (2 * k + 3)))
    return 2 / remez.pi().sqrt() * series - 1


@dataclass(frozen=True)
class Table:
    """One polynomial: f on [a, b] (in the shifted variable t = x - shift) with weight w."""

    name: str
    prec: str
    degree: int
    a: float
    b: float
    f: remez.Fn
    w: remez.Fn
    shift: float = 0.0


def _erfc_log(name: str, prec: str, degree: int, a: float, b: float, shift: float) -> Table:
    """log(erfc(shift + t)), weighted by erfc/erf: its error relative to erf = 1 - erfc."""
    def f(t: D) -> D:
        return (1 - remez.erf(D(shift) + t)).ln()

    def w(t: D) -> D:
        e = remez.erf(D(shift) + t)
        return (1 - e) / e
    return Table(name, prec, degree, a - shift, b - shift, f, w, shift)


def tables() -> list[Table]:
    """Every table vmath uses; degrees chosen so the fit error is a few hundredths of an ulp."""
    out = []
    for prec, (d_exp, d_log, d_sin, d_cos, d_erf) in {"f32": (5, 3, 3, 2, 6),
                                                      "f64": (10, 7, 6, 5, 11)}.items():
        out += [
            Table("EXPM1", prec, d_exp, -LN2_HALF, LN2_HALF, _expm1_p,
                  lambda r: r * r / (r + r * r * _expm1_p(r))),
            Table("LOG", prec, d_log, 0.0, LOG_ZMAX, _log_r,
                  lambda z: D(LOG_ZMAX) / 2 / _log_r(z)),
            Table("SIN", prec, d_sin, TRIG_ZMAX * 1e-4, TRIG_ZMAX, _sin_s,
                  lambda z: z / (1 + z * _sin_s(z))),
            Table("COS", prec, d_cos, TRIG_ZMAX * 1e-4, TRIG_ZMAX, _cos_c,
                  lambda z: z * z / (1 - z / 2 + z * z * _cos_c(z))),
            Table("ERF_SMALL", prec, d_erf, 0.0, 1.0, _erf_small,
                  lambda z: 1 / (1 + _erf_small(z))),
        ]
    # f32 pow works in f64 but needs only ~2^-35: shorter polynomials than f64 log and exp.
    out.append(Table("POW_LOG", "f64", 4, 0.0, LOG_ZMAX, _log_r,
                     lambda z: D(LOG_ZMAX) / 2 / _log_r(z)))
    out.append(Table("POW_EXPM1", "f64", 5, -LN2_HALF, LN2_HALF, _expm1_p,
                     lambda r: r * r / (r + r * r * _expm1_p(r))))
    out.append(Table("TANH", "f32", 5, TANH_SMALL ** 2 * 1e-4, TANH_SMALL ** 2, _tanh_t,
                     lambda z: z / (1 + z * _tanh_t(z))))
    out.append(_erfc_log("ERFC_LOG", "f32", 6, 1.0, 4.0, 1.0))
    out.append(_erfc_log("ERFC_LOG", "f64", 12, 1.0, 2.0, 1.0))
    out.append(_erfc_log("ERFC_LOG", "f64", 12, 2.0, 6.0, 4.0))
    return out


def round_to(prec: str, value: D) -> float:
    """A coefficient rounded to the target precision (as a Python float)."""
    return float(np.float32(float(value))) if prec == "f32" else float(value)


def fit(table: Table, grid: int = 1500) -> tuple[tuple[float, ...], float]:
    """The coefficients rounded to the target precision, and their weighted error in units.

    Rounding every coefficient of the minimax polynomial at once can cost a whole ulp; so each
    coefficient, lowest degree first, is rounded and the higher ones are refitted around it.
    """
    with localcontext() as ctx:
        ctx.prec = remez.PREC
        samples = remez.Samples.of(table.f, table.w, table.a, table.b, grid)
        rest, coeffs = samples, []
        for power in range(table.degree + 1):
            best = rest.minimax(range(power, table.degree + 1))
            coeffs.append(round_to(table.prec, best.coeffs[0]))
            rest = rest.minus(D(coeffs[-1]), power)
        err = max(abs(e) for e in samples.error(range(table.degree + 1), [D(c) for c in coeffs]))
    return tuple(coeffs), float(err) / UNIT[table.prec]


def main() -> None:
    groups: dict[str, dict[str, list[str]]] = {}
    for table in tables():
        coeffs, err = fit(table)
        body = "".join(f'\n            "{c.hex()}",' for c in coeffs)
        lo, hi = table.a + table.shift, table.b + table.shift
        entry = (f"        # error {err:.3g} units of 2^{math.log2(UNIT[table.prec]):.0f}\n"
                 f"        ({lo!r}, {hi!r}, {table.shift!r}, _hex({body}\n        )),")
        groups.setdefault(table.name, {}).setdefault(table.prec, []).append(entry)
        print(f"{table.name} {table.prec}: {err:.3g}", file=sys.stderr)
    print('"""Minimax coefficients for vmath, lowest degree first: generated by fit.py, '
          'do not edit."""\n')
    print("from __future__ import annotations\n\n")
    print("def _hex(*values: str) -> tuple[float, ...]:")
    print("    return tuple(float.fromhex(v) for v in values)\n\n")
    print("# name -> precision -> [(lo, hi, shift, coefficients in t = x - shift)]")
    for name, precs in groups.items():
        print(f"{name} = {{")
        for prec, entries in precs.items():
            print(f'    "{prec}": [')
            print("\n".join(entries))
            print("    ],")
        print("}\n")


if __name__ == "__main__":
    main()
