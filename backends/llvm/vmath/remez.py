"""Weighted minimax polynomials by the Remez exchange, in 60-digit decimal arithmetic.

Offline tool: `python -m backends.llvm.vmath.fit` uses it to regenerate `coeffs.py`. Pure Python
(the `decimal` module), so the tables can be rebuilt without extra dependencies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal as D
from decimal import getcontext, localcontext

Fn = Callable[[D], D]
PREC = 60


@dataclass(frozen=True)
class Fit:
    """p(t) = sum(coeffs[k] * t**powers[k]) minimizing max |(f(t) - p(t)) * w(t)| on [a, b]."""

    powers: tuple[int, ...]
    coeffs: tuple[D, ...]
    error: D  # the weighted minimax error on the grid, before rounding the coefficients


def pi() -> D:
    """pi to the current precision, by Machin's formula."""
    with localcontext() as ctx:
        ctx.prec += 10
        value = 16 * _arctan_inv(5) - 4 * _arctan_inv(239)
    return +value


def _arctan_inv(n: int) -> D:
    x = D(1) / n
    return taylor(x, x, lambda k: -x * x * (2 * k + 1) / (2 * k + 3))


def taylor(x: D, first: D, ratio: Callable[[int], D]) -> D:
    """sum of terms t0 = first, t(k+1) = t(k) * ratio(k) until they vanish at this precision."""
    total, term, k = D(0), first, 0
    while term and (not total or abs(term) > abs(total).scaleb(-getcontext().prec - 3)):
        total += term
        term *= ratio(k)
        k += 1
    return total


def sin(x: D) -> D:
    return taylor(x, x, lambda k: -x * x / ((2 * k + 2) * (2 * k + 3)))


def cos(x: D) -> D:
    return taylor(x, D(1), lambda k: -x * x / ((2 * k + 1) * (2 * k + 2)))


def erf(x: D) -> D:
    """erf by its Maclaurin series at 40 extra digits (the series cancels for |x| up to 6)."""
    with localcontext() as ctx:
        ctx.prec += 40
        series = taylor(x, x, lambda k: -x * x * (2 * k + 1) / ((k + 1) * (2 * k + 3)))
        value = 2 / pi().sqrt() * series
    return +value


def atanh(x: D) -> D:
    return ((1 + x) / (1 - x)).ln() / 2


def minimax(f: Fn, w: Fn, a: float, b: float, powers: Sequence[int], grid: int = 3000,
            iters: int = 40) -> Fit:
    """The weighted minimax fit of f on [a, b] over the monomials t**powers."""
    with localcontext() as ctx:
        ctx.prec = PREC
        samples = Samples.of(f, w, a, b, grid)
        return samples.minimax(powers, iters)


@dataclass(frozen=True)
class Samples:
    """f and its weight w sampled once on a Chebyshev grid of [a, b] (f is the costly part)."""

    ts: tuple[D, ...]
    fs: tuple[D, ...]
    ws: tuple[D, ...]

    @staticmethod
    def of(f: Fn, w: Fn, a: float, b: float, grid: int) -> Samples:
        ts = _grid(a, b, grid)
        return Samples(tuple(ts), tuple(f(t) for t in ts), tuple(w(t) for t in ts))

    def minus(self, coeff: D, power: int) -> Samples:
        """The samples of f - coeff * t**power."""
        return Samples(self.ts, tuple(f - coeff * t ** power for t, f in zip(self.ts, self.fs)),
                       self.ws)

    def error(self, powers: Sequence[int], coeffs: Sequence[D]) -> list[D]:
        return [(f - _eval(coeffs, powers, t)) * w for t, f, w in zip(self.ts, self.fs, self.ws)]

    def minimax(self, powers: Sequence[int], iters: int = 40) -> Fit:
        """Remez exchange over the grid (call inside a PREC-digit decimal context)."""
        n, grid = len(powers), len(self.ts)
        refs = [round(j * (grid - 1) / n) for j in range(n + 1)]
        best = None
        for _ in range(iters):
            rows = [[self.ts[i] ** p for p in powers] + [D(-1) ** k / self.ws[i]]
                    for k, i in enumerate(refs)]
            sol = _solve(rows, [self.fs[i] for i in refs])
            coeffs, level = sol[:n], abs(sol[n])
            errs = self.error(powers, coeffs)
            peak = max(abs(e) for e in errs)
            if best is None or peak < best.error:
                best = Fit(tuple(powers), tuple(coeffs), peak)
            if peak - level <= peak * D("1e-6"):
                break
            refs = _exchange(errs, n + 1)
        return best


def _grid(a: float, b: float, size: int) -> list[D]:
    """Chebyshev-distributed points of [a, b], ascending, ends included."""
    lo, hi = D(a), D(b)
    half_pi = pi()
    return sorted((lo + hi) / 2 + (hi - lo) / 2 * cos(half_pi * j / (size - 1))
                  for j in range(size))


def _eval(coeffs: Sequence[D], powers: Sequence[int], t: D) -> D:
    return sum(c * t ** p for c, p in zip(coeffs, powers))


def _solve(rows: list[list[D]], rhs: list[D]) -> list[D]:
    """Gaussian elimination with partial pivoting."""
    m = [row + [r] for row, r in zip(rows, rhs)]
    size = len(m)
    for col in range(size):
        piv = max(range(col, size), key=lambda r: abs(m[r][col]))
        m[col], m[piv] = m[piv], m[col]
        for r in range(col + 1, size):
            factor = m[r][col] / m[col][col]
            m[r] = [x - factor * y for x, y in zip(m[r], m[col])]
    sol = [D(0)] * size
    for r in reversed(range(size)):
        acc = m[r][size] - sum(m[r][c] * sol[c] for c in range(r + 1, size))
        sol[r] = acc / m[r][r]
    return sol


def _exchange(errs: list[D], count: int) -> list[int]:
    """`count` grid indices of alternating-sign error extrema, largest kept."""
    peaks: list[int] = []
    for j, e in enumerate(errs):
        if peaks and (e >= 0) == (errs[peaks[-1]] >= 0):
            if abs(e) > abs(errs[peaks[-1]]):
                peaks[-1] = j
        else:
            peaks.append(j)
    while len(peaks) > count:
        k = min(range(len(peaks)), key=lambda i: abs(errs[peaks[i]]))
        if k in (0, len(peaks) - 1) or len(peaks) == count + 1:
            end = 0 if abs(errs[peaks[0]]) < abs(errs[peaks[-1]]) else -1
            peaks.pop(end)
        else:
            nb = k - 1 if abs(errs[peaks[k - 1]]) < abs(errs[peaks[k + 1]]) else k + 1
            for i in sorted((k, nb), reverse=True):
                peaks.pop(i)
    if len(peaks) < count:
        raise ArithmeticError(f"Remez exchange found {len(peaks)} extrema, needs {count}")
    return peaks
