"""Constants split into sums of floats of the target precision, for exact argument reduction."""

from __future__ import annotations

from decimal import Decimal as D
from decimal import localcontext

import numpy as np

from backends.llvm.vmath import remez


def one_piece(table: dict, prec: str) -> tuple[float, ...]:
    """The coefficients of a `coeffs` table that has a single interval."""
    (_, _, _, cs), = table[prec]
    return cs


def split(value: D, prec: str, parts: int) -> tuple[float, ...]:
    """`parts` floats of precision `prec` ('f32'/'f64') whose exact sum is closest to `value`."""
    out = []
    with localcontext() as ctx:
        ctx.prec = remez.PREC
        rest = value
        for _ in range(parts):
            head = float(rest)
            head = float(np.float32(head)) if prec == "f32" else head
            out.append(head)
            rest -= D(head)
    return tuple(out)


with localcontext() as _ctx:
    _ctx.prec = remez.PREC
    _LN2 = D(2).ln()
    _PI_2 = remez.pi() / 2

LN2 = {p: split(_LN2, p, 2) for p in ("f32", "f64")}
LOG2E = {p: split(1 / _LN2, p, 1)[0] for p in ("f32", "f64")}
# NOTE: four f32 parts carry 96 bits of pi/2 (f32 sin/cos stay accurate up to about 1e5 and
# degrade beyond); three f64 parts carry 159 bits.
PI_2 = {"f32": split(_PI_2, "f32", 4), "f64": split(_PI_2, "f64", 3)}
TWO_OVER_PI = {p: split(1 / _PI_2, p, 2) for p in ("f32", "f64")}
