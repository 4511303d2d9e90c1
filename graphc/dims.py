"""Dims: an int, a symbol (str, bound by a feed) or an expression of symbols (`n - 1`, `3*n`).

Derived dims are kept exact instead of being replaced by fresh symbols, so the size of every
value follows from the inputs' dims before anything runs. An expression is an integer
polynomial over atoms: symbols, and `a // k`, `max(a, b)`, `min(a, b)` calls. It is stored in
a canonical form (sorted terms, like terms merged), so equal dims compare equal, and it is
always as simple as its value allows: a constant is an int and a lone symbol a str.
Symbols stand for sizes, so they are never negative; simplification relies on that.
"""
from __future__ import annotations

import math
from typing import Callable, Iterator, Mapping, Union

Atom = Union[str, "Call"]
Monomial = tuple  # a sorted tuple of atoms; () is the constant term


class Call:
    """An atom that is not a plain symbol: fn(args) for fn in floordiv, max, min."""

    __slots__ = ("fn", "args", "_key")

    def __init__(self, fn: str, args: tuple):
        self.fn, self.args = fn, args
        self._key = (fn, tuple(sort_key(a) for a in args))

    def __eq__(self, other) -> bool:
        return isinstance(other, Call) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return format_dim(self)


class DimExpr:
    """A compound dim: the sum of coeff * monomial over `terms` (canonical, hashable)."""

    __slots__ = ("terms", "_hash")

    def __init__(self, terms: tuple[tuple[Monomial, int], ...]):
        self.terms = terms
        self._hash = hash(terms)

    def __eq__(self, other) -> bool:
        return isinstance(other, DimExpr) and self.terms == other.terms

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return format_dim(self)

    __str__ = __repr__


Dim = Union[int, str, DimExpr]
Poly = dict  # Monomial -> coefficient, the working form of every dim


def sort_key(x) -> tuple:
    """A total order on atoms and dims (for canonical sorting)."""
    if isinstance(x, int):
        return (0, x)
    if isinstance(x, str):
        return (1, x)
    if isinstance(x, Call):
        return (2, x._key)
    return (3, tuple((tuple(sort_key(a) for a in m), c) for m, c in x.terms))


def is_static(d) -> bool:
    return isinstance(d, int)


def is_dim(d) -> bool:
    return (isinstance(d, int) and not isinstance(d, bool)) or isinstance(d, (str, DimExpr))


# ---- the polynomial form ----------------------------------------------------------------------

def _poly(d: Dim | Call) -> Poly:
    if isinstance(d, bool):
        raise TypeError(f"{d!r} is not a dim")
    if isinstance(d, int):
        return {(): d} if d else {}
    if isinstance(d, (str, Call)):
        return {(d,): 1}
    if isinstance(d, DimExpr):
        return dict(d.terms)
    raise TypeError(f"{d!r} is not a dim")


def _dim(p: Poly) -> Dim:
    """The simplest dim equal to polynomial p."""
    terms = tuple(sorted(((m, c) for m, c in p.items() if c), key=lambda t: (
        not t[0], tuple(sort_key(a) for a in t[0]))))    # the constant last: `n-1`
    if not terms:
        return 0
    if len(terms) == 1:
        (mono, coeff), = terms
        if mono == ():
            return coeff
        if coeff == 1 and len(mono) == 1 and isinstance(mono[0], str):
            return mono[0]
    return DimExpr(terms)


def _add(p: Poly, q: Poly, sign: int = 1) -> Poly:
    out = dict(p)
    for m, c in q.items():
        out[m] = out.get(m, 0) + sign * c
    return out


def _mul(p: Poly, q: Poly) -> Poly:
    out: Poly = {}
    for m1, c1 in p.items():
        for m2, c2 in q.items():
            m = tuple(sorted(m1 + m2, key=sort_key))
            out[m] = out.get(m, 0) + c1 * c2
    return out


# ---- arithmetic on dims -----------------------------------------------------------------------

def add(a: Dim, b: Dim) -> Dim:
    return _dim(_add(_poly(a), _poly(b)))


def sub(a: Dim, b: Dim) -> Dim:
    return _dim(_add(_poly(a), _poly(b), -1))


def mul(a: Dim, b: Dim) -> Dim:
    return _dim(_mul(_poly(a), _poly(b)))


def product(dims) -> Dim:
    total: Dim = 1
    for d in dims:
        total = mul(total, d)
    return total


def floordiv(a: Dim, k: int) -> Dim:
    """a // k for a positive int k (exact when every coefficient divides)."""
    if k <= 0:
        raise ValueError(f"floordiv by {k}")
    p = _poly(a)
    if k == 1:
        return a
    if all(c % k == 0 for c in p.values()):
        return _dim({m: c // k for m, c in p.items()})
    constant = p.get((), 0)
    rest = {m: c for m, c in p.items() if m}
    if rest and all(c % k == 0 for c in rest.values()) and is_nonneg(_dim(rest)):
        # (k q + c) // k == q + c // k for any int c
        return add(_dim({m: c // k for m, c in rest.items()}), constant // k)
    return _dim({(Call("floordiv", (a, k)),): 1})


def divide_exact(a: Dim, b: Dim) -> Dim | None:
    """a / b when b divides a exactly as polynomials (b a constant or a monomial), else None."""
    q = _poly(b)
    if len(q) != 1:
        return None
    (mono, coeff), = q.items()
    out: Poly = {}
    for m, c in _poly(a).items():
        rest = list(m)
        for atom in mono:
            if atom not in rest:
                return None
            rest.remove(atom)
        if coeff == 0 or c % coeff:
            return None
        out[tuple(rest)] = c // coeff
    return _dim(out)


def maximum(a: Dim, b: Dim) -> Dim:
    diff = sub(a, b)
    if is_nonneg(diff):
        return a
    if is_nonneg(neg(diff)):
        return b
    return _dim({(Call("max", _ordered(a, b)),): 1})


def minimum(a: Dim, b: Dim) -> Dim:
    diff = sub(a, b)
    if is_nonneg(diff):
        return b
    if is_nonneg(neg(diff)):
        return a
    return _dim({(Call("min", _ordered(a, b)),): 1})


def _ordered(a: Dim, b: Dim) -> tuple:
    """The arguments of a commutative call in canonical order, ints last: `max(n-1,0)`."""
    return tuple(sorted((a, b), key=lambda x: (isinstance(x, int), sort_key(x))))


def neg(a: Dim) -> Dim:
    return _dim({m: -c for m, c in _poly(a).items()})


def _atom_nonneg(atom: Atom) -> bool:
    if isinstance(atom, str):
        return True
    if atom.fn == "max":
        return any(is_nonneg(x) for x in atom.args)
    if atom.fn == "min":
        return all(is_nonneg(x) for x in atom.args)
    return is_nonneg(atom.args[0])           # floordiv by a positive int


def is_nonneg(d: Dim) -> bool:
    """Whether d >= 0 for every value of its symbols (a sufficient test, not a complete one).

    A polynomial with non-negative coefficients over non-negative atoms is; otherwise a lone
    max or min term is replaced by its arguments: rest - max(p, q) >= 0 when both rest - p
    and rest - q are, rest - min(p, q) >= 0 when either is (and the mirror cases for +).
    """
    p = _poly(d)
    if all(c >= 0 for c in p.values()) and all(_atom_nonneg(a) for m in p for a in m):
        return True
    for mono, coeff in p.items():
        if len(mono) == 1 and isinstance(mono[0], Call) and mono[0].fn in ("max", "min"):
            rest = _dim({m: c for m, c in p.items() if m != mono})
            cases = [is_nonneg(add(rest, mul(coeff, a))) for a in mono[0].args]
            needs_both = (mono[0].fn == "max") == (coeff < 0)
            return all(cases) if needs_both else any(cases)
    return False


# ---- reading dims -----------------------------------------------------------------------------

def symbols(d) -> set[str]:
    """The symbols a dim (or atom) mentions."""
    if isinstance(d, int):
        return set()
    if isinstance(d, str):
        return {d}
    if isinstance(d, Call):
        return set().union(*(symbols(a) for a in d.args if not isinstance(a, int)))
    return set().union(*(symbols(a) for m, _ in d.terms for a in m))


def atoms(d: Dim) -> Iterator[Atom]:
    if isinstance(d, DimExpr):
        for m, _ in d.terms:
            yield from m
    elif isinstance(d, str):
        yield d


def substitute(d: Dim, value_of: Callable[[str], Dim]) -> Dim:
    """d with each symbol s replaced by value_of(s)."""
    if isinstance(d, int):
        return d
    if isinstance(d, str):
        return value_of(d)
    total: Dim = 0
    for mono, coeff in d.terms:
        term: Dim = coeff
        for atom in mono:
            term = mul(term, _substitute_atom(atom, value_of))
        total = add(total, term)
    return total


def _substitute_atom(atom: Atom, value_of: Callable[[str], Dim]) -> Dim:
    if isinstance(atom, str):
        return value_of(atom)
    args = [substitute(a, value_of) for a in atom.args]
    if atom.fn == "floordiv":
        return floordiv(args[0], atom.args[1])
    return (maximum if atom.fn == "max" else minimum)(*args)


def evaluate(d: Dim, bindings: Mapping[str, int]) -> int:
    """The value of d given every symbol's value (KeyError names a missing symbol)."""
    if isinstance(d, int):
        return d
    if isinstance(d, str):
        return bindings[d]
    return sum(c * math.prod(_evaluate_atom(a, bindings) for a in m) for m, c in d.terms)


def _evaluate_atom(atom: Atom, bindings: Mapping[str, int]) -> int:
    if isinstance(atom, str):
        return bindings[atom]
    args = [evaluate(a, bindings) for a in atom.args]
    if atom.fn == "floordiv":
        return args[0] // args[1]
    return max(args) if atom.fn == "max" else min(args)


def python_source(d: Dim, name_of: Callable[[str], str]) -> str:
    """A Python expression computing d, each symbol read through name_of(symbol)."""
    return format_dim(d, name_of, python=True)


# ---- text -------------------------------------------------------------------------------------

def format_dim(d, name_of: Callable[[str], str] = str, python: bool = False) -> str:
    """`3*n-1`, `max(n-2,0)`, `(n+1)//2`: the text IR's form (parsed back by the IR parser)."""
    if isinstance(d, str):
        return name_of(d)
    if not isinstance(d, (Call, DimExpr)):
        return str(d)          # an int, or whatever a user passed as a dim (for messages)
    if isinstance(d, Call):
        if d.fn == "floordiv":
            inner = format_dim(d.args[0], name_of, python)
            if not isinstance(d.args[0], (int, str)):
                inner = f"({inner})"
            return f"{inner}//{d.args[1]}"
        return f"{d.fn}({','.join(format_dim(a, name_of, python) for a in d.args)})"
    out = ""
    for i, (mono, coeff) in enumerate(d.terms):
        factors = [format_dim(a, name_of, python) for a in mono]
        if len(mono) > 1 or abs(coeff) != 1:     # a // binds like *: keep it whole
            factors = [f"({f})" if isinstance(a, Call) and a.fn == "floordiv" else f
                       for a, f in zip(mono, factors)]
        if not mono:
            body = str(abs(coeff))
        elif abs(coeff) == 1:
            body = "*".join(factors)
        else:
            body = "*".join([str(abs(coeff))] + factors)
        if i == 0:
            out = ("-" if coeff < 0 else "") + body
        else:
            out += ("-" if coeff < 0 else "+") + body
    return out
