"""Moves of the random graph builder (tests/randgraph.py): elementwise, reductions, layout.

A move takes the Builder, picks operands from its pool (or makes fitting ones), applies ops
through the public DSL and returns the new Value(s), or None when it does not apply. The
other moves, and the table of all of them, are in randgraph_moves_nn.py.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

import graphc as gc
from tests.randgraph import (
    Builder,
    Sym,
    Value,
    broadcast,
    least,
    most,
)
from tests.randgraph_spans import (
    ARITHMETIC,
    BOUND,
    COMPARISONS,
    DTYPES,
    FLOATS,
    INT_UNARY,
    INTS,
    NONFINITE,
    NUMERIC,
    SMALL,
    SPECIAL,
    UNARY,
    UNIT,
    UNKNOWN,
    Interval,
    Need,
    corners,
    monotone,
    square_span,
)

Move = Callable[[Builder], "Value | list[Value] | None"]


def _numeric(v: Value) -> bool:
    return v.dtype in NUMERIC


def _any(v: Value) -> bool:
    return True


def pick_value(b: Builder, ok: Callable[[Value], bool] = _any, dtype: str | None = None,
           rank: tuple[int, int] = (0, 4)) -> Value:
    """A pool value passing `ok` with a rank in range, else a new leaf."""
    def fits(v: Value) -> bool:
        return ok(v) and rank[0] <= v.ndim <= rank[1]

    def make() -> Value:
        shape = b.shape(b.c.integer(*rank))
        for _ in range(8):
            v = b.leaf(shape, dtype)
            if fits(v):
                return v
        return b.leaf(shape, dtype or "float32")
    return b.operand(fits, make)


# ---- elementwise --------------------------------------------------------------------------------

def unary(b: Builder) -> Value:
    v = pick_value(b, _numeric)
    names = list(UNARY) if v.dtype in FLOATS or b.c.chance(0.5) else list(INT_UNARY)
    name = b.c.choice(names)
    return b.apply(name, b.fit(v, UNARY[name][1]))


def logical_not(b: Builder) -> Value:
    v = pick_value(b, lambda v: v.dtype == "bool", dtype="bool")
    t = gc.logical_not(v.t) if b.c.chance(0.5) else ~v.t
    return b.settle(t, v.shape, UNIT)


def _partner(b: Builder, a: Value, ok: Callable[[Value], bool]) -> Value | float:
    """A second operand for a: itself, a broadcast-compatible value, a new leaf or a scalar."""
    how = b.c.weighted([("pool", 4), ("leaf", 3), ("self", 1), ("scalar", 3), ("array", 1)])
    if how == "self":
        return a
    if how == "pool":
        found = b.pick(lambda v: v is not a and ok(v) and broadcast(v.shape, a.shape) is not None)
        if found is not None:
            return found
    if how in ("pool", "leaf"):
        cut = b.c.integer(0, a.ndim)
        shape = [1 if b.c.chance(0.3) else d for d in a.shape[cut:]]
        if cut == 0 and b.c.chance(0.2):
            shape.insert(0, b.dim())
        dtype = a.dtype if a.dtype != "bool" and b.c.chance(0.6) else None
        for _ in range(4):
            v = b.leaf(tuple(shape), dtype)
            if ok(v):
                return v
        return b.leaf(tuple(shape), a.dtype if ok(a) else "float32")
    value = b.c.choice(SPECIAL + (NONFINITE if b.wild else ()))
    if a.dtype in INTS and isinstance(value, float) and b.c.chance(0.7):
        value = int(value) if math.isfinite(value) else value
    if how == "scalar":
        return value
    dtype = b.c.choice(FLOATS) if a.dtype in FLOATS or not float(value).is_integer() \
        else b.c.choice(INTS)
    static = [d if isinstance(d, int) else 1 for d in a.shape[b.c.integer(0, a.ndim):]]
    return b.constant(np.full(tuple(static), value, dtype))


def arithmetic(b: Builder) -> Value:
    name = b.c.choice(list(ARITHMETIC))
    _, need_a, need_b, _ = ARITHMETIC[name]
    a = b.fit(pick_value(b, _numeric), need_a)
    other = _partner(b, a, _numeric)
    if isinstance(other, Value):
        if other is a:
            a = other = b.fit(a, need_b)
        else:
            other = b.fit(other, need_b)
    elif not need_b.met(Interval.of([float(other)])) and not b.wild:
        other = b.c.choice([2, 0.5, -1, 3])
    if isinstance(other, Value) and b.c.chance(0.2):
        a, other = other, b.fit(a, need_b)
    return b.binary(name, a, other, use_operator=b.c.chance(0.5))


def scalar_first(b: Builder) -> Value:
    """A Python scalar on the left (2 - x, 1 / x): the reflected operators."""
    a = b.fit(pick_value(b, _numeric), SMALL)
    k = b.c.choice([0, 1, 2, -1, 0.5])
    how = b.c.choice(["sub", "add", "mul", "div"])
    if how == "div":
        a = b.fit(a, Need(bound=BOUND, nonzero=True))
        t, span = k / a.t, UNKNOWN if a.span.lo <= 0 <= a.span.hi else Interval.of(
            [k / a.span.lo, k / a.span.hi], a.span.nan)
    else:
        t = {"sub": lambda: k - a.t, "add": lambda: k + a.t, "mul": lambda: k * a.t}[how]()
        ops = {"sub": lambda x: k - x, "add": lambda x: k + x, "mul": lambda x: k * x}[how]
        span = Interval.of([ops(a.span.lo), ops(a.span.hi)], a.span.nan)
    return b.settle(t, a.shape, span)


def _power_span(base: Interval, exponent: float) -> Interval:
    if exponent == 2:
        return square_span(base)
    if exponent in (1, 3):
        return monotone(lambda x: x ** exponent)(base)
    return corners(np.power)(base, Interval(exponent, exponent))     # base > 0 here


def power(b: Builder) -> Value:
    a = pick_value(b, _numeric)
    if a.dtype in INTS:
        base = b.fit(a, Need(bound=3))
        if b.c.chance(0.4):
            e = b.shaped(base.shape[b.c.integer(0, base.ndim):], (base.dtype,))
            e = b.settle(gc.clip(e.t, 0, 3), e.shape, Interval(0, 3))
            return b.settle(gc.power(base.t, e.t), broadcast(base.shape, e.shape),
                            Interval(-27, 27))
        exponent = b.c.choice([0, 1, 2, 3])
        span = _power_span(base.span, exponent) if exponent else Interval(1, 1)
        return b.settle(gc.power(base.t, exponent), base.shape, span)
    if b.c.chance(0.5):
        exponent = b.c.choice([2, 0.5, -1, -0.5, 1, 3, 1.5])
        need = Need(bound=10) if exponent in (1, 2, 3) else Need(lo=1e-3, bound=10)
        base = b.fit(a, need)
        t = base.t ** exponent if b.c.chance(0.5) else gc.power(base.t, exponent)
        return b.settle(t, base.shape, _power_span(base.span, exponent))
    base = b.fit(a, Need(lo=1e-3, bound=10))
    e = b.fit(b.shaped(base.shape[b.c.integer(0, base.ndim):], (base.dtype,)), Need(bound=3))
    return b.settle(gc.power(base.t, e.t), broadcast(base.shape, e.shape),
                    corners(np.power)(base.span, e.span))


def compare(b: Builder) -> Value:
    a = pick_value(b)
    name = b.c.choice(list(COMPARISONS))
    if a.dtype == "bool" and name not in ("equal", "not_equal"):
        a = b.cast(a, b.c.choice(NUMERIC))
    other = _partner(b, a, lambda v: v.dtype != "bool" or a.dtype == "bool")
    if isinstance(other, Value) and (other.dtype == "bool") != (a.dtype == "bool"):
        other = b.cast(other, a.dtype)
    shape = broadcast(a.shape, other.shape) if isinstance(other, Value) else a.shape
    ot = other.t if isinstance(other, Value) else other
    if a.dtype == "bool" and not isinstance(other, Value):
        ot = bool(other)
    use = b.c.chance(0.5) and name in ("less", "greater_equal")
    t = (a.t < ot if name == "less" else a.t >= ot) if use else COMPARISONS[name](a.t, ot)
    return b.settle(t, shape, UNIT)


def logical(b: Builder) -> Value:
    a = pick_value(b, lambda v: v.dtype == "bool", dtype="bool")
    other = _partner(b, a, lambda v: v.dtype == "bool")
    if not isinstance(other, Value) or other.dtype != "bool":
        other = b.cast(other if isinstance(other, Value) else b.constant(np.array(other)),
                       "bool")
    fn = b.c.choice([gc.logical_and, gc.logical_or, lambda x, y: x & y, lambda x, y: x | y])
    return b.settle(fn(a.t, other.t), broadcast(a.shape, other.shape), UNIT)


def where(b: Builder) -> Value:
    a = pick_value(b)
    cond = b.pick(lambda v: v.dtype == "bool" and broadcast(v.shape, a.shape) is not None)
    if cond is None or b.c.chance(0.2):
        cond = compare(b) if b.c.chance(0.7) else b.constant(np.array(b.c.chance(0.5)))
        if broadcast(cond.shape, a.shape) is None:
            cond = b.constant(np.array(b.c.chance(0.5)))
    other = _partner(b, a, lambda v: (v.dtype == "bool") == (a.dtype == "bool")
                     and broadcast(v.shape, a.shape, cond.shape) is not None)
    if isinstance(other, Value):
        if broadcast(other.shape, a.shape, cond.shape) is None:
            other = b.constant(np.array(0, a.dtype))
        if (other.dtype == "bool") != (a.dtype == "bool"):
            other = b.cast(other, a.dtype)
        ot, span, oshape = other.t, other.span, other.shape
    else:
        ot = bool(other) if a.dtype == "bool" else other
        span, oshape = Interval.of([float(other)], math.isnan(float(other))), ()
    args = (a.t, ot) if b.c.chance(0.5) else (ot, a.t)
    t = gc.where(cond.t, *args)
    return b.settle(t, broadcast(cond.shape, a.shape, oshape), a.span.hull(span))


def cast(b: Builder) -> Value:
    return b.cast(pick_value(b), b.c.choice(DTYPES))


def clip(b: Builder) -> Value:
    a = pick_value(b, _numeric)
    lo = b.c.choice([None, -1, 0, -0.5])
    hi = b.c.choice([None, 1, 2, 0.5]) if lo is not None else b.c.choice([1, 2])
    if a.dtype in INTS:
        lo, hi = (None if lo is None else int(lo)), int(hi) if hi is not None else None

    def clamp(x: float) -> float:
        return min(max(x, -math.inf if lo is None else lo), math.inf if hi is None else hi)
    return b.settle(gc.clip(a.t, lo, hi), a.shape,
                    Interval(clamp(a.span.lo), clamp(a.span.hi), a.span.nan))


# ---- reductions ---------------------------------------------------------------------------------

def _axes(b: Builder, v: Value, multiple: bool = True):
    """None, one axis (maybe negative) or a tuple of axes of v, and the axes it means."""
    if v.ndim == 0 or b.c.chance(0.25):
        return None, tuple(range(v.ndim))
    axes = sorted({b.c.integer(0, v.ndim - 1) for _ in range(b.c.integer(1, 2 if multiple
                                                                          else 1))})
    signed = [a - v.ndim if b.c.chance(0.3) else a for a in axes]
    if len(axes) == 1 and (not multiple or b.c.chance(0.6)):
        return signed[0], tuple(axes)
    return tuple(signed), tuple(axes)


def _kept(v: Value, axes: tuple, keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(v.shape))
    return tuple(d for i, d in enumerate(v.shape) if i not in axes)


def reduce(b: Builder) -> Value | None:
    op = b.c.choice(["sum", "prod", "max", "min", "mean", "var", "std", "logsumexp",
                     "argmax", "argmin", "all", "any"])
    v = pick_value(b, _any if op in ("max", "min", "all", "any", "argmax", "argmin", "sum")
               else _numeric)
    axis, axes = _axes(b, v, multiple=op not in ("argmax", "argmin"))
    keepdims = b.c.chance(0.4)
    count = math.prod(most(v.shape[a]) for a in axes)
    span = v.span
    if op == "logsumexp" and v.dtype not in FLOATS:
        v = b.cast(v, b.c.choice(FLOATS))
    if op in ("var", "std", "mean", "logsumexp", "sum") and v.dtype != "bool":
        v = b.fit(v, SMALL)
        span = v.span
    if op == "prod":
        if v.dtype in INTS and count > 30:
            return None
        # NOTE: a product of at most 1e6 in magnitude, so it overflows in no backend.
        v = b.fit(v, Need(bound=2 if v.dtype in INTS else min(1.5, 10 ** (6 / count))))
        bound = v.span.bound ** count if v.span.bound <= 2 else math.inf
        span = Interval(-bound, bound, v.span.nan)
    ddof = 1 if op in ("var", "std") and b.c.chance(0.3) and \
        math.prod(least(v.shape[a]) for a in axes) >= 2 else 0
    kwargs = {"ddof": ddof} if ddof else {}
    if op in ("argmax", "argmin"):
        t = getattr(gc, op)(v.t, axis=axis, keepdims=keepdims)
        if axis is None:
            shape = (1,) * v.ndim if keepdims else ()
        else:
            shape = _kept(v, axes, keepdims)
        return b.settle(t, shape, Interval(0, max(count - 1, 0)))
    t = getattr(gc, op)(v.t, axis=axis, keepdims=keepdims, **kwargs)
    if op == "sum":
        span = Interval.of([span.lo, span.lo * count, span.hi, span.hi * count], span.nan)
        if v.dtype == "bool":
            span = Interval(0, count)
    elif op in ("var", "std"):
        width = span.hi - span.lo
        span = Interval(0, width * width * 2 if op == "var" else width * 2, span.nan)
    elif op == "logsumexp":
        span = Interval.of([span.lo, span.hi + math.log(count)], span.nan)
    elif op in ("all", "any"):
        span = UNIT
    return b.settle(t, _kept(v, axes, keepdims), span)


def softmax(b: Builder) -> Value:
    v = b.fit(pick_value(b, lambda v: v.dtype in FLOATS, dtype=b.c.choice(FLOATS), rank=(1, 4)),
              SMALL)
    axis = b.c.integer(-v.ndim, v.ndim - 1)
    if b.c.chance(0.5):
        return b.settle(gc.softmax(v.t, axis), v.shape, Interval(0, 1, v.span.nan))
    n = most(v.shape[axis])
    return b.settle(gc.log_softmax(v.t, axis), v.shape,
                    Interval.of([v.span.lo - v.span.hi - math.log(n), 0.0], v.span.nan))


# ---- layout -------------------------------------------------------------------------------------

def _factor(b: Builder, n: int, parts: int) -> list[int]:
    """n as a product of `parts` ints (1s allowed), in a random arrangement."""
    factors, p = [], 2
    while n > 1:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    bins = [1] * max(parts, 1)
    for f in factors:
        bins[b.c.integer(0, len(bins) - 1)] *= f
    return bins


def reshape(b: Builder) -> Value | None:
    v = pick_value(b)
    syms = [(d, g) for d, g in zip(v.shape, v.t.shape) if isinstance(d, Sym)]
    total = math.prod(d for d in v.shape if isinstance(d, int))
    shape = [(f, f) for f in _factor(b, total, b.c.integer(0 if total == 1 else 1, 3))]
    if total == 1 and not b.c.chance(0.5):
        shape = []
    for sym in syms:
        shape.insert(b.c.integer(0, len(shape)), sym)
    target = [g for _, g in shape]
    statics = [i for i, (d, _) in enumerate(shape) if isinstance(d, int)]
    how = b.c.weighted([("plain", 4), ("minus_one", 3), ("merge_symbol", 1)])
    if how == "minus_one" and statics:
        target[b.c.choice(statics)] = -1
    elif how == "minus_one" and syms and len(syms) == len(shape):
        target[b.c.integer(0, len(shape) - 1)] = -1
    elif how == "merge_symbol" and len(syms) == 1 and statics and not b.in_body:
        k = b.c.choice(statics)
        sym_at = next(i for i, (d, _) in enumerate(shape) if isinstance(d, Sym))
        merged = shape[sym_at][0].map(lambda s: s * shape[k][0])
        shape = [(merged, -1) if i == sym_at else s for i, s in enumerate(shape) if i != k]
        target = [g for _, g in shape]
        return b.settle(gc.reshape(v.t, tuple(target)), tuple(d for d, _ in shape), v.span)
    fn = b.c.choice([lambda x, s: gc.reshape(x, s), lambda x, s: x.reshape(s),
                     lambda x, s: x.reshape(*s) if s else x.reshape(())])
    t = fn(v.t, tuple(target))
    return b.settle(t, tuple(d for d, _ in shape), v.span)


def flatten(b: Builder) -> Value | None:
    v = pick_value(b, rank=(1, 4))
    start = b.c.integer(0, v.ndim - 1)
    rest = v.shape[start:]
    if any(isinstance(d, Sym) for d in rest):
        syms = [d for d in rest if isinstance(d, Sym)]
        statics = math.prod(d for d in rest if isinstance(d, int))
        if len(syms) != 1 or statics != 1 and b.in_body:     # see Builder's NOTE
            return None
        merged = syms[0].map(lambda s: s * statics)
    else:
        merged = math.prod(rest)
    return b.settle(gc.flatten(v.t, start), v.shape[:start] + (merged,), v.span)


def transpose(b: Builder) -> Value | None:
    v = pick_value(b, rank=(2, 4))
    perm = list(range(v.ndim))
    for i in range(v.ndim - 1, 0, -1):
        j = b.c.integer(0, i)
        perm[i], perm[j] = perm[j], perm[i]
    how = b.c.choice(["transpose", "T", "swapaxes", "method"])
    if how == "T":
        perm = list(reversed(range(v.ndim)))
        t = v.t.T
    elif how == "swapaxes":
        i, j = b.c.integer(0, v.ndim - 1), b.c.integer(0, v.ndim - 1)
        perm = list(range(v.ndim))
        perm[i], perm[j] = perm[j], perm[i]
        t = gc.swapaxes(v.t, i - v.ndim if b.c.chance(0.3) else i, j)
    elif how == "method":
        t = v.t.transpose(*perm)
    else:
        t = gc.transpose(v.t, [p - v.ndim if b.c.chance(0.2) else p for p in perm])
    return b.settle(t, tuple(v.shape[p] for p in perm), v.span)


def _slice_size(d, s: slice):
    if isinstance(d, int):
        return len(range(*s.indices(d)))
    return d.map(lambda n: len(range(*s.indices(n))))


def _random_slice(b: Builder, d) -> slice | None:
    """A slice of a dim with maybe negative bounds and steps; None if it would be empty."""
    n = least(d)
    if isinstance(d, Sym) and b.in_body:        # the slices that keep d or take one element
        k = b.c.integer(-n, n - 1)
        return b.c.choice([slice(None, None, -1), slice(k, k + 1 if k != -1 else None)])
    step = b.c.choice([None, 1, 2, -1, 3, -2])
    start = b.c.choice([None, b.c.integer(-n, n - 1)])
    stop = b.c.choice([None, b.c.integer(-n, n)])
    s = slice(start, stop, step)
    return s if least(_slice_size(d, s)) >= 1 else None


def getitem(b: Builder) -> Value:
    v = pick_value(b, rank=(1, 4))
    key, shape = [], []
    for d in v.shape:
        how = b.c.weighted([("full", 3), ("slice", 3), ("index", 1)])
        if how == "index":
            k = b.c.integer(-least(d), least(d) - 1)
            key.append(k)
            continue
        s = _random_slice(b, d) if how == "slice" else None
        key.append(s or slice(None))
        shape.append(_slice_size(d, s) if s else d)
    if b.c.chance(0.2):
        at = b.c.integer(0, len(key))
        key.insert(at, None)
        kept = sum(1 for k in key[:at] if not isinstance(k, int) and k is not None)
        shape.insert(kept, 1)
    if b.c.chance(0.2) and key and key[-1] == slice(None):
        while key and key[-1] == slice(None):
            key.pop()
        key.append(Ellipsis)
    t = v.t[tuple(key)] if len(key) != 1 or b.c.chance(0.5) else v.t[key[0]]
    return b.settle(t, tuple(shape), v.span)


def concatenate(b: Builder) -> Value | None:
    a = pick_value(b, rank=(1, 4))
    axes = [i for i, d in enumerate(a.shape) if isinstance(d, int)]
    if not axes:
        return None
    axis = b.c.choice(axes)
    parts = [a]
    for _ in range(b.c.integer(1, 2)):
        how = b.c.choice(["self", "pool", "leaf", "unary"])
        if how == "self":
            parts.append(a)
        elif how == "unary" and a.dtype != "bool":
            parts.append(b.apply(b.c.choice(["neg", "abs", "square"]), b.fit(a, SMALL)))
        else:
            shape = a.shape[:axis] + (b.c.integer(1, 3),) + a.shape[axis + 1:]
            found = b.pick(lambda v: v.ndim == a.ndim and all(
                x == y for i, (x, y) in enumerate(zip(v.shape, shape)) if i != axis)
                and isinstance(v.shape[axis], int)) if how == "pool" else None
            parts.append(found or b.leaf(shape, a.dtype if b.c.chance(0.7) else None))
    size = sum(p.shape[axis] for p in parts)
    span = parts[0].span
    for p in parts[1:]:
        span = span.hull(p.span)
    t = gc.concatenate([p.t for p in parts], axis - a.ndim if b.c.chance(0.3) else axis)
    return b.settle(t, a.shape[:axis] + (size,) + a.shape[axis + 1:], span)


def stack(b: Builder) -> Value:
    a = pick_value(b, rank=(0, 3))
    parts = [a]
    for _ in range(b.c.integer(1, 2)):
        parts.append(b.shaped(a.shape, (a.dtype,)) if b.c.chance(0.5) else a)
    axis = b.c.integer(-(a.ndim + 1), a.ndim)
    span = a.span
    for p in parts[1:]:
        span = span.hull(p.span)
    at = axis % (a.ndim + 1)
    return b.settle(gc.stack([p.t for p in parts], axis),
                    a.shape[:at] + (len(parts),) + a.shape[at:], span)


def split(b: Builder) -> list[Value] | None:
    a = pick_value(b, rank=(1, 4))
    axes = [i for i, d in enumerate(a.shape) if isinstance(d, int) and d >= 2]
    if not axes:
        a = b.leaf(a.shape[:-1] + (b.c.integer(2, 4),), a.dtype)
        axes = [a.ndim - 1]
    axis = b.c.choice(axes)
    n = a.shape[axis]
    divisors = [k for k in range(2, n + 1) if n % k == 0]
    if b.c.chance(0.5):
        sections = b.c.choice(divisors)
        sizes = [n // sections] * sections
    else:
        cuts = sorted({b.c.integer(1, n - 1) for _ in range(b.c.integer(1, 2))})
        sections = cuts
        sizes = [hi - lo for lo, hi in zip([0] + cuts, cuts + [n])]
    pieces = gc.split(a.t, sections, axis - a.ndim if b.c.chance(0.3) else axis)
    values = [b.settle(t, a.shape[:axis] + (s,) + a.shape[axis + 1:], a.span)
              for t, s in zip(pieces, sizes)]
    if len(set(sizes)) == 1 and a.dtype in FLOATS and b.c.chance(0.6):
        # NOTE: pieces recombined like an LSTM's gates: their gradients are unslices to merge.
        total = b.apply(b.c.choice(["sigmoid", "tanh", "sin"]), values[0])
        for v in values[1:]:
            v = b.apply(b.c.choice(["sigmoid", "tanh", "sin", "neg"]), b.fit(v, SMALL))
            total = b.binary(b.c.choice(["add", "multiply"]), total, v)
        values.append(total)
    return values


def pad(b: Builder) -> Value:
    a = pick_value(b, rank=(1, 4))
    how = b.c.choice(["int", "pair", "axes"])
    if how == "int":
        p = b.c.integer(0, 2)
        width, pairs = p, [(p, p)] * a.ndim
    elif how == "pair":
        pair = (b.c.integer(0, 2), b.c.integer(0, 2))
        width, pairs = pair, [pair] * a.ndim
    else:
        pairs = [(b.c.integer(0, 2), b.c.integer(0, 2)) for _ in range(a.ndim)]
        width = pairs
    if b.in_body and any(isinstance(d, Sym) for d in a.shape):
        pairs = [(0, 0) if isinstance(d, Sym) else p for d, p in zip(a.shape, pairs)]
        width = pairs
    values = [0.0, 1.0, -1.0] if a.dtype in INTS + ("bool",) else [0.0, 1.0, -1.0, 2.5]
    value = b.c.choice(values + (list(NONFINITE) if b.wild and a.dtype in FLOATS else []))
    t = gc.pad(a.t, width, value) if value or b.c.chance(0.5) else gc.pad(a.t, width)
    shape = tuple(d + lo + hi if isinstance(d, int) else d.map(lambda s: s + lo + hi)
                  for d, (lo, hi) in zip(a.shape, pairs))
    stored = 1.0 if a.dtype == "bool" and value else value
    return b.settle(t, shape, a.span.hull(Interval.of([stored], math.isnan(stored))))


def broadcast_to(b: Builder) -> Value | None:
    a = pick_value(b, rank=(0, 3))
    shape = [b.dim() if d == 1 and b.c.chance(0.6) else d for d in a.shape]
    for _ in range(b.c.integer(0 if shape != list(a.shape) else 1, 2)):
        shape.insert(0, b.dim())
    lead = len(shape) - a.ndim
    target = [g if d == s else b.gdim(d)
              for d, s, g in zip(shape, (None,) * lead + a.shape, (None,) * lead + a.t.shape)]
    if any(g is None for g in target):
        return None
    return b.settle(gc.broadcast_to(a.t, tuple(target)), tuple(shape), a.span)


def expand_squeeze(b: Builder) -> Value | None:
    a = pick_value(b, rank=(0, 3))
    ones = [i for i, d in enumerate(a.shape) if d == 1]
    if ones and b.c.chance(0.5):
        if b.c.chance(0.3):
            return b.settle(gc.squeeze(a.t), tuple(d for d in a.shape if d != 1), a.span)
        axis = b.c.choice(ones)
        shape = a.shape[:axis] + a.shape[axis + 1:]
        return b.settle(gc.squeeze(a.t, axis - a.ndim if b.c.chance(0.3) else axis), shape,
                        a.span)
    axis = b.c.integer(-(a.ndim + 1), a.ndim)
    at = axis % (a.ndim + 1)
    return b.settle(gc.expand_dims(a.t, axis), a.shape[:at] + (1,) + a.shape[at:], a.span)
