"""The moves of the random graph builder (tests/randgraph.py): one op family each.

A move takes the Builder, picks operands from its pool (or makes fitting ones), applies ops
through the public DSL and returns the new Value(s), or None when it does not apply.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

import graphc as gc
from tests.randgraph import (
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
    Builder,
    Feed,
    Interval,
    Need,
    Sym,
    Value,
    _square,
    broadcast,
    corners,
    elements,
    least,
    monotone,
    most,
)

Move = Callable[[Builder], "Value | list[Value] | None"]


def _numeric(v: Value) -> bool:
    return v.dtype in NUMERIC


def _any(v: Value) -> bool:
    return True


def _value(b: Builder, ok: Callable[[Value], bool] = _any, dtype: str | None = None,
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
    v = _value(b, _numeric)
    names = list(UNARY) if v.dtype in FLOATS or b.c.chance(0.5) else list(INT_UNARY)
    name = b.c.choice(names)
    return b.apply(name, b.fit(v, UNARY[name][1]))


def logical_not(b: Builder) -> Value:
    v = _value(b, lambda v: v.dtype == "bool", dtype="bool")
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
    a = b.fit(_value(b, _numeric), need_a)
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
    a = b.fit(_value(b, _numeric), SMALL)
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
        return _square(base)
    if exponent in (1, 3):
        return monotone(lambda x: x ** exponent)(base)
    return corners(np.power)(base, Interval(exponent, exponent))     # base > 0 here


def power(b: Builder) -> Value:
    a = _value(b, _numeric)
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
    a = _value(b)
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
    a = _value(b, lambda v: v.dtype == "bool", dtype="bool")
    other = _partner(b, a, lambda v: v.dtype == "bool")
    if not isinstance(other, Value) or other.dtype != "bool":
        other = b.cast(other if isinstance(other, Value) else b.constant(np.array(other)),
                       "bool")
    fn = b.c.choice([gc.logical_and, gc.logical_or, lambda x, y: x & y, lambda x, y: x | y])
    return b.settle(fn(a.t, other.t), broadcast(a.shape, other.shape), UNIT)


def where(b: Builder) -> Value:
    a = _value(b)
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
    return b.cast(_value(b), b.c.choice(DTYPES))


def clip(b: Builder) -> Value:
    a = _value(b, _numeric)
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
    v = _value(b, _any if op in ("max", "min", "all", "any", "argmax", "argmin", "sum")
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
    v = b.fit(_value(b, lambda v: v.dtype in FLOATS, dtype=b.c.choice(FLOATS), rank=(1, 4)),
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
    v = _value(b)
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
    elif how == "merge_symbol" and len(syms) == 1 and statics:
        # NOTE: (n, 3) -> (-1,) needs dim expressions; graphc may refuse it, which is fine.
        k = b.c.choice(statics)
        sym_at = next(i for i, (d, _) in enumerate(shape) if isinstance(d, Sym))
        merged = shape[sym_at][0].map(lambda s: s * shape[k][0])
        shape = [(merged, -1) if i == sym_at else s for i, s in enumerate(shape) if i != k]
        target = [g for _, g in shape]
        try:
            t = gc.reshape(v.t, tuple(target))
        except gc.ShapeError:
            return None
        return b.settle(t, tuple(d for d, _ in shape), v.span)
    fn = b.c.choice([lambda x, s: gc.reshape(x, s), lambda x, s: x.reshape(s),
                     lambda x, s: x.reshape(*s) if s else x.reshape(())])
    t = fn(v.t, tuple(target))
    return b.settle(t, tuple(d for d, _ in shape), v.span)


def flatten(b: Builder) -> Value | None:
    v = _value(b, rank=(1, 4))
    start = b.c.integer(0, v.ndim - 1)
    rest = v.shape[start:]
    if any(isinstance(d, Sym) for d in rest):
        syms = [d for d in rest if isinstance(d, Sym)]
        statics = math.prod(d for d in rest if isinstance(d, int))
        if len(syms) != 1 or statics != 1:
            return None
        merged = syms[0]
    else:
        merged = math.prod(rest)
    return b.settle(gc.flatten(v.t, start), v.shape[:start] + (merged,), v.span)


def transpose(b: Builder) -> Value | None:
    v = _value(b, rank=(2, 4))
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
    if isinstance(d, Sym) and not b.derived_dims:      # the slices graphc sizes as d or 1
        k = b.c.integer(-n, n - 1)
        return b.c.choice([slice(None, None, -1), slice(k, k + 1 if k != -1 else None)])
    step = b.c.choice([None, 1, 2, -1, 3, -2])
    start = b.c.choice([None, b.c.integer(-n, n - 1)])
    stop = b.c.choice([None, b.c.integer(-n, n)])
    s = slice(start, stop, step)
    return s if least(_slice_size(d, s)) >= 1 else None


def getitem(b: Builder) -> Value:
    v = _value(b, rank=(1, 4))
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
    a = _value(b, rank=(1, 4))
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
    a = _value(b, rank=(0, 3))
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
    a = _value(b, rank=(1, 4))
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
    a = _value(b, rank=(1, 4))
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
    if not b.derived_dims and any(isinstance(d, Sym) for d in a.shape):
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
    a = _value(b, rank=(0, 3))
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
    a = _value(b, rank=(0, 3))
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


# ---- contractions -------------------------------------------------------------------------------

def matmul(b: Builder) -> Value:
    dtype = b.c.weighted([("float32", 4), ("float64", 2), ("int64", 1), ("int32", 1)])
    m, k, n = b.dim(), b.dim(), b.dim()
    form = b.c.choice(["2d", "batched", "broadcast", "vec_mat", "mat_vec", "dot"])
    batch_a = batch_b = ()
    if form == "batched":
        batch_a = batch_b = (b.dim(),)
    elif form == "broadcast":
        batch_a, batch_b = (b.dim(), 1), (b.dim(),)
    sa = batch_a + ((k,) if form in ("vec_mat", "dot") else (m, k))
    sb = batch_b + ((k,) if form in ("mat_vec", "dot") else (k, n))
    need = Need(bound=10)
    x = b.shaped(sa, (dtype,) if b.c.chance(0.7) else NUMERIC, need)
    y = b.shaped(sb, (dtype,) if b.c.chance(0.7) else NUMERIC, need)
    fn = b.c.choice([gc.matmul, lambda p, q: p @ q] + ([gc.dot] if len(sa) <= 2 and len(sb) <= 2
                                                        else []))
    t = fn(x.t, y.t)
    batch = broadcast(sa[:-2], sb[:-2]) if len(sa) > 1 and len(sb) > 1 else ()
    shape = batch + sa[-2:-1] * (len(sa) > 1) + sb[-1:] * (len(sb) > 1)
    bound = most(k) * x.span.bound * y.span.bound
    return b.settle(t, shape, Interval(-bound, bound, x.span.nan or y.span.nan))


def _out_size(n: int, k: int, s: int, d: int, lo: int, hi: int) -> int:
    return (n + lo + hi - d * (k - 1) - 1) // s + 1


def conv(b: Builder) -> Value | None:
    nd = b.c.weighted([(1, 3), (2, 3), (3, 1)])
    groups = b.c.choice([1, 1, 2])
    cin, cout = groups * b.c.integer(1, 2), groups * b.c.integer(1, 2)
    spatial = tuple(b.c.integer(2 if nd == 3 else 3, 3 if nd == 3 else 6) for _ in range(nd))
    kernel = tuple(b.c.integer(1, 3) for _ in range(nd))
    stride = b.c.choice([1, 2, tuple(b.c.integer(1, 2) for _ in range(nd))])
    dilation = b.c.choice([1, 1, 2])
    padding = b.c.choice([0, 1, "same", "valid", tuple((b.c.integer(0, 1), b.c.integer(0, 2))
                                                        for _ in range(nd))])
    if padding == "same" and stride != 1 and b.c.chance(0.5):
        stride = 1
    strides = stride if isinstance(stride, tuple) else (stride,) * nd
    pads = padding if isinstance(padding, tuple) else ((padding, padding) if isinstance(
        padding, int) else (0, 0),) * nd
    if padding != "same" and any(_out_size(n, k, s, dilation, lo, hi) < 1 for n, k, s, (lo, hi)
                                 in zip(spatial, kernel, strides, pads)):
        return None
    dtype = b.c.choice(FLOATS)
    batch = b.dim()
    x = b.shaped((batch, cin) + spatial, (dtype,), Need(bound=3))
    w = b.shaped((cout, cin // groups) + kernel, (dtype,), Need(bound=3)) \
        if b.c.chance(0.5) else b.leaf((cout, cin // groups) + kernel, dtype, "variable")
    bias = b.leaf((cout,), dtype, b.c.choice(["variable", "constant", "placeholder"])) \
        if b.c.chance(0.4) else None
    fn = {1: gc.conv1d, 2: gc.conv2d, 3: gc.conv3d}[nd]
    t = fn(x.t, w.t, None if bias is None else bias.t, stride=stride, padding=padding,
           dilation=dilation, groups=groups)
    bound = cin // groups * math.prod(kernel) * x.span.bound * w.span.bound + 3
    out = tuple(d for d in t.shape[2:])
    return b.settle(t, (batch, cout) + out, Interval(-bound, bound, x.span.nan or w.span.nan))


def pool(b: Builder) -> Value | None:
    how = b.c.weighted([("max_pool", 3), ("avg_pool", 3), ("global", 1)])
    nd = b.c.choice([1, 2])
    spatial = tuple(b.c.integer(2, 5) for _ in range(nd))
    x = b.shaped((b.dim(), b.c.integer(1, 3)) + spatial, FLOATS)
    if how == "global":
        keep = b.c.chance(0.5)
        t = gc.global_avg_pool(x.t, keepdims=keep)
        return b.settle(t, x.shape[:2] + ((1,) * nd if keep else ()), x.span)
    kernel = tuple(b.c.integer(1, min(3, n)) for n in spatial)
    stride = b.c.choice([None, 1, 2])
    padding = b.c.choice([0, 0, 1])
    if padding and min(kernel) < 2:
        padding = 0
    strides = kernel if stride is None else (stride,) * nd
    for n, k, s in zip(spatial, kernel, strides):
        o = _out_size(n, k, s, 1, padding, padding)
        if o < 1 or (o - 1) * s - padding > n - 1:
            return None
    fn = gc.max_pool if how == "max_pool" else gc.avg_pool
    t = fn(x.t, kernel[0] if nd == 1 and b.c.chance(0.5) else kernel, stride=stride,
           padding=padding)
    span = x.span if how == "max_pool" else x.span.hull(Interval(0, 0))
    return b.settle(t, x.shape[:2] + tuple(t.shape[2:]), span)


# ---- gathers ------------------------------------------------------------------------------------

def _indices(b: Builder, bound, shape: tuple | None = None) -> Value:
    """Integer indices valid for a dim of size `bound` (int or Sym), maybe negative."""
    negative = b.c.chance(0.2)
    how = b.c.weighted([("placeholder", 4), ("constant", 2), ("argmax", 1), ("clip", 1)])
    n = least(bound)
    if how == "argmax" and shape is None:
        v = b.pick(lambda v: v.ndim >= 1 and v.dtype != "bool" and most(v.shape[-1]) <= n)
        if v is not None:
            return b.settle(gc.argmax(v.t, axis=-1), v.shape[:-1], Interval(0, n - 1))
    if how == "clip" and shape is None:
        v = b.pick(lambda v: v.dtype in INTS)
        if v is not None:
            return b.settle(gc.clip(v.t, 0, n - 1), v.shape, Interval(0, n - 1))
    shape = b.shape(b.c.weighted([(0, 1), (1, 3), (2, 2)])) if shape is None else shape
    dtype = b.c.choice(INTS)
    if how == "constant" and all(isinstance(d, int) for d in shape):
        values = b.np_rng.integers(-n if negative else 0, n, shape).astype(dtype)
        return b.constant(values)
    return b.placeholder(shape, dtype, Feed(shape, dtype, "index", bound, negative))


def take(b: Builder) -> Value:
    x = _value(b, rank=(1, 3))
    axis = b.c.integer(0, x.ndim - 1)
    idx = _indices(b, x.shape[axis])
    how = b.c.choice(["take", "gather", "getitem"]) if axis == 0 else "take"
    if how == "getitem" and idx.ndim >= 1:
        t = x.t[idx.t]
    else:
        fn = gc.gather if how == "gather" else gc.take
        t = fn(x.t, idx.t, axis=axis - x.ndim if b.c.chance(0.3) else axis)
    return b.settle(t, x.shape[:axis] + idx.shape + x.shape[axis + 1:], x.span)


def take_along_axis(b: Builder) -> Value:
    x = _value(b, rank=(1, 3))
    axis = b.c.integer(0, x.ndim - 1)
    if x.dtype != "bool" and b.c.chance(0.3):
        fn = b.c.choice([gc.argmax, gc.argmin])
        idx = b.settle(fn(x.t, axis=axis, keepdims=True), x.shape[:axis] + (1,)
                       + x.shape[axis + 1:], Interval(0, most(x.shape[axis]) - 1))
    else:
        shape = x.shape[:axis] + (b.c.integer(1, 3),) + x.shape[axis + 1:]
        idx = _indices(b, x.shape[axis], shape)
    t = gc.take_along_axis(x.t, idx.t, axis - x.ndim if b.c.chance(0.3) else axis)
    return b.settle(t, idx.shape, x.span)


def one_hot(b: Builder) -> Value:
    depth = b.c.integer(1, 5)
    idx = _indices(b, depth)
    dtype = b.c.choice(DTYPES)
    return b.settle(gc.one_hot(idx.t, depth, dtype), idx.shape + (depth,), UNIT)


# ---- random draws -------------------------------------------------------------------------------

def random(b: Builder) -> Value | None:
    state = b.random_state()
    how = b.c.choice(["uniform", "normal", "bernoulli", "uniform_like", "normal_like",
                      "bernoulli_like", "dropout"])
    dtype = b.c.choice(FLOATS)
    stream = b.c.integer(0, 2)
    plain = b.c.chance(0.6)
    if how.endswith("_like") or how == "dropout":
        like = _value(b, lambda v: v.dtype in FLOATS, dtype=dtype)
        shape = like.shape
        if how == "dropout":
            rate = b.c.choice([0.0, 0.25, 0.5])
            t = gc.dropout(like.t, rate, state, training=b.c.chance(0.8), stream=stream)
            return b.settle(t, shape, like.span.hull(Interval(0, 0)).hull(
                Interval(like.span.lo * 2, like.span.hi * 2, like.span.nan)))
    else:
        shape = b.shape(b.c.integer(0, 3))
        like = None
    gshape = tuple(b.gdim(d) for d in shape)
    if like is None and any(g is None for g in gshape):
        return None
    if how.startswith("uniform"):
        low, high = (0.0, 1.0) if plain else (-1.0, 2.0)
        t = gc.random_uniform_like(like.t, state, low, high, stream=stream) if like else \
            gc.random_uniform(gshape, state, low, high, dtype=dtype, stream=stream)
        span = Interval(low, high)
    elif how.startswith("normal"):
        mean, std = (0.0, 1.0) if plain else (0.5, 2.0)
        t = gc.random_normal_like(like.t, state, mean, std, stream=stream) if like else \
            gc.random_normal(gshape, state, mean, std, dtype=dtype, stream=stream)
        span = Interval(mean - 10 * std, mean + 10 * std)
    else:
        p = b.c.choice([0.5, 0.1, 0.9])
        out = b.c.choice([dtype, "bool"])
        t = gc.random_bernoulli_like(like.t, state, p, dtype=out, stream=stream) if like else \
            gc.random_bernoulli(gshape, state, p, dtype=out, stream=stream)
        span = UNIT
    value = b.settle(t, shape, span, exact=plain)
    if b.c.chance(0.5):
        b.extra_outputs.append(value)
    return value


# ---- composites: normalization, attention, scan -------------------------------------------------

def norm(b: Builder) -> Value | None:
    if b.c.chance(0.5):
        c = b.c.integer(1, 3)
        rest = b.shape(b.c.integer(0, 2))
        dtype = b.c.choice(FLOATS)
        x = b.shaped((b.dim(), c) + rest, (dtype,), Need(bound=10))
        training = b.c.chance(0.6)
        gamma = b.leaf((c,), dtype, "variable") if b.c.chance(0.6) else None
        beta = b.leaf((c,), dtype, "variable") if b.c.chance(0.6) else None
        mean = b.leaf((c,), dtype, "variable")
        var = b.leaf((c,), dtype, "variable", span=Interval(0.5, 2.0))
        updates: list = []
        t = gc.batch_norm(x.t, gamma and gamma.t, beta and beta.t, mean.t, var.t, training,
                          updates=updates if b.c.chance(0.7) else None)
        for target, value in updates:
            b.update(target, value)
        count = elements(x.shape) // c
        bound = (math.sqrt(count) + 1 if training else 40.0) * 1.5 + 1.5
        return b.settle(t, x.shape, Interval(-bound, bound, x.span.nan))
    x = b.fit(_value(b, lambda v: v.dtype in FLOATS, rank=(1, 3)), Need(bound=10))
    k = b.c.integer(1, x.ndim)
    normalized = x.shape[x.ndim - k:]
    axis = -1 if k == 1 and b.c.chance(0.5) else tuple(range(x.ndim - k, x.ndim))
    static = all(isinstance(d, int) for d in normalized)
    gamma = b.leaf(normalized, x.dtype, "variable") if static and b.c.chance(0.5) else None
    beta = b.leaf(normalized, x.dtype, "constant") if static and b.c.chance(0.5) else None
    t = gc.layer_norm(x.t, gamma and gamma.t, beta and beta.t, axis=axis)
    bound = (math.sqrt(elements(normalized)) + 1) * 1.5 + 1.5
    return b.settle(t, x.shape, Interval(-bound, bound, x.span.nan))


def attention(b: Builder) -> Value:
    dtype = b.c.choice(FLOATS)
    batch = (b.dim(),) if b.c.chance(0.5) else ()
    lq, lk, d, dv = b.dim(), b.dim(), b.c.integer(1, 3), b.dim()
    q = b.shaped(batch + (lq, d), (dtype,), Need(bound=3))
    k = b.shaped(batch + (lk, d), (dtype,), Need(bound=3))
    v = b.shaped(batch + (lk, dv), (dtype,), Need(bound=10))
    mask = None
    if b.c.chance(0.4) and isinstance(lq, int) and lq == lk:
        mask = gc.causal_mask(lq)
    elif b.c.chance(0.3):
        m = b.shaped((lq, lk), ("bool",)) if b.c.chance(0.5) else \
            b.shaped((lq, lk), (dtype,), Need(bound=3))
        mask = m.t
    t = gc.scaled_dot_product_attention(q.t, k.t, v.t, mask)
    shape = broadcast(batch, batch) + (lq, dv)
    return b.settle(t, shape, v.span)


def _squash(b: Builder, v: Value, like: Value) -> Value:
    """v turned into a new carry like `like`: its dtype, shape and a bounded range."""
    if v.shape != like.shape:
        v = b.reduce_all(v) if v.dtype != "bool" else b.reduce_all(b.cast(v, "int32"))
    if v.dtype != like.dtype:
        v = b.cast(b.fit(v, Need(bound=1e6)), like.dtype)
    if like.dtype in FLOATS:
        mixed = b.binary("add", b.binary("multiply", like, 0.5), b.fit(v, SMALL))
        return b.apply(b.c.choice(["tanh", "sin"]), mixed)
    if like.dtype == "bool":
        return b.settle(gc.not_equal(like.t, v.t), like.shape, UNIT)
    mixed = b.binary("add", like, b.fit(v, Need(bound=3)))
    return b.settle(gc.clip(mixed.t, -4, 4), like.shape, Interval(-4, 4))


def scan(b: Builder) -> list[Value] | None:
    length = b.c.choice([1, 2, 3, 4] + b.base_syms())
    seqs = [b.shaped((length,) + b.shape(b.c.integer(0, 2)), b.c.choice([FLOATS, NUMERIC]))
            for _ in range(b.c.integer(1, 2))]
    inits = []
    for _ in range(b.c.weighted([(0, 1), (1, 4), (2, 2)])):
        dtype = b.c.weighted([("float32", 4), ("float64", 2), ("int32", 1), ("bool", 1)])
        init = b.shaped(b.shape(b.c.integer(0, 2)), (dtype,))
        inits.append(b.fit(init, Need(bound=3)) if dtype in FLOATS else init)
    carry_single, seq_single = len(inits) == 1 and b.c.chance(0.7), len(seqs) == 1
    spans = [i.span.hull(Interval(-4, 4)) if i.dtype != "bool" else UNIT for i in inits]
    body_steps = b.c.integer(1, 3)
    num_ys = b.c.integer(0 if inits else 1, 2)
    made: dict[str, list[Value]] = {}

    def fn(carry, x):
        carries = [carry] if carry_single else list(carry or ())
        xs = [x] if seq_single else list(x)
        inner = Builder(b.c, body_steps, outer=b)
        carry_values = [inner.settle(c, i.shape, s) for c, i, s in zip(carries, inits, spans)]
        inner.pool += carry_values
        inner.pool += [inner.settle(t, s.shape[1:], s.span) for t, s in zip(xs, seqs)]
        inner.grow()
        new = [_squash(inner, inner.c.recent(inner.pool), c) for c in carry_values]
        ys = [inner.c.recent(inner.pool) for _ in range(num_ys)]
        made["ys"] = ys
        carry_out = new[0].t if carry_single else tuple(v.t for v in new)
        y_out = None if not ys else (ys[0].t if len(ys) == 1 else tuple(v.t for v in ys))
        return carry_out, y_out

    init_arg = inits[0].t if carry_single else tuple(v.t for v in inits)
    xs_arg = seqs[0].t if seq_single else tuple(s.t for s in seqs)
    final, stacked = gc.scan(fn, init_arg, xs_arg, reverse=b.c.chance(0.3))
    finals = [final] if carry_single else list(final)
    out = [b.settle(t, i.shape, s) for t, i, s in zip(finals, inits, spans)]
    ys = made["ys"]
    stacked = [] if stacked is None else ([stacked] if len(ys) == 1 else list(stacked))
    out += [b.settle(t, (length,) + y.shape, y.span) for t, y in zip(stacked, ys)]
    return out or None


def idiom(b: Builder) -> Value | None:
    """A pattern an algebraic, layout or stability rewrite targets, on operands in its domain.

    The operands stay where the naive and the rewritten forms agree to the comparison's
    tolerance (|x| <= 4 for the sigmoid forms, whose naive form loses bits beyond).
    """
    how = b.c.choice(["exp_log", "log_exp", "neg_neg", "transposes", "reshapes", "sum_broadcast",
                      "casts", "log_softmax", "log_sigmoid", "log_one_minus_sigmoid", "log1p",
                      "expm1", "logsumexp", "one_element", "x_minus_x", "times_zero", "bce"])
    x = b.fit(_value(b, lambda v: v.dtype in FLOATS, dtype=b.c.choice(FLOATS)), Need(bound=4))
    if how == "exp_log":
        return b.apply("exp", b.apply("log", b.fit(x, UNARY["log"][1])))
    if how == "log_exp":
        return b.apply("log", b.apply("exp", x))
    if how == "neg_neg":
        return b.apply("neg", b.apply("neg", x))
    if how in ("transposes", "reshapes"):
        move = transpose if how == "transposes" else reshape
        first = _on(b, x, move)
        return _on(b, first, move) if first is not None else None
    if how == "sum_broadcast":
        wide = _on(b, x, broadcast_to)
        if wide is None:
            return None
        lead = wide.ndim - x.ndim
        axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(x.shape)
                                          if d == 1 and wide.shape[lead + i] != 1)
        if not axes:
            return None
        n = elements(wide.shape)
        return b.settle(gc.sum(wide.t, axis=axes),
                        tuple(d for i, d in enumerate(wide.shape) if i not in axes),
                        Interval.of([x.span.lo, x.span.hi, x.span.lo * n, x.span.hi * n],
                                    x.span.nan))
    if how == "casts":
        other = "float64" if x.dtype == "float32" else "float32"
        return b.cast(b.cast(x, other), x.dtype)
    if how in ("log_softmax", "logsumexp") and x.ndim >= 1:
        axis = b.c.integer(0, x.ndim - 1)
        if how == "log_softmax":
            n = most(x.shape[axis])
            return b.settle(gc.log(gc.softmax(x.t, axis)), x.shape,
                            Interval(-8 - math.log(n), 0.0, x.span.nan))
        n = most(x.shape[axis])
        return b.settle(gc.log(gc.sum(gc.exp(x.t), axis=axis)),
                        tuple(d for i, d in enumerate(x.shape) if i != axis),
                        Interval(x.span.lo, x.span.hi + math.log(n), x.span.nan))
    if how == "log_sigmoid":
        return b.settle(gc.log(gc.sigmoid(x.t)), x.shape, Interval(-5, 0, x.span.nan))
    if how == "log_one_minus_sigmoid":
        return b.settle(gc.log(1 - gc.sigmoid(x.t)), x.shape, Interval(-5, 0, x.span.nan))
    if how == "log1p":
        y = b.fit(x, UNARY["log1p"][1])
        return b.settle(gc.log(1 + y.t) if b.c.chance(0.5) else gc.log(y.t + 1), y.shape,
                        monotone(np.log1p)(y.span))
    if how == "expm1":
        return b.settle(gc.exp(x.t) - 1, x.shape, monotone(np.expm1)(x.span))
    if how == "one_element":
        ones = tuple(1 for _ in range(b.c.integer(1, 3)))
        one = b.settle(gc.reshape(b.reduce_all(x).t, ones), ones, UNKNOWN)
        op = b.c.choice(["sum", "max", "mean", "prod"])
        axis = b.c.choice([None, 0])
        keep = b.c.chance(0.5)
        t = getattr(gc, op)(one.t, axis=axis, keepdims=keep)
        return b.settle(t, tuple(1 for _ in range(t.ndim)), UNKNOWN)
    if how == "x_minus_x":
        return b.binary("subtract", x, x)
    if how == "times_zero":
        zero = b.c.choice([0, 0.0, b.constant(np.zeros((), x.dtype))])
        return b.binary("multiply", x, zero) if b.c.chance(0.5) else \
            b.settle(zero * x.t if not isinstance(zero, Value) else zero.t * x.t, x.shape,
                     Interval(0, 0, x.span.nan or not x.span.finite))
    if how == "bce":
        y = b.shaped(x.shape, (x.dtype,))
        y = b.settle(gc.cast(y.t > 0, x.dtype), x.shape, UNIT)
        p = gc.sigmoid(x.t)
        loss = -(y.t * gc.log(p) + (1 - y.t) * gc.log(1 - p))
        return b.settle(gc.mean(loss), (), Interval(0, 5, x.span.nan))
    return None


class _Given:
    """A Builder whose operand picks return `value` when it fits (composes moves)."""

    def __init__(self, b: Builder, value: Value):
        self._b, self._value, self.used = b, value, False

    def __getattr__(self, name):
        return getattr(self._b, name)

    def operand(self, ok, make, fresh: float = 0.15) -> Value:
        if ok(self._value):
            self.used = True
            return self._value
        return self._b.operand(ok, make, fresh)


def _on(b: Builder, value: Value, move: Move) -> Value | None:
    """What `move` makes of `value` (None when it does not apply to it)."""
    given = _Given(b, value)
    made = move(given)       # type: ignore[arg-type]
    return made if given.used and isinstance(made, Value) else None


def leaf(b: Builder) -> Value:
    if b.c.chance(0.3):
        shape = b.shape(symbolic=False)
        dtype = b.c.choice(NUMERIC)
        value = b.c.choice(SPECIAL + (NONFINITE if b.wild and dtype in FLOATS else ()))
        if dtype in INTS and not float(value).is_integer():
            value = 1
        return b.constant(np.full(shape, value, dtype))
    return b.leaf()


# ---- the tables ---------------------------------------------------------------------------------

MOVES: list[tuple[Move, int]] = [
    (unary, 10), (logical_not, 1), (arithmetic, 10), (scalar_first, 2), (power, 2),
    (compare, 3), (logical, 2), (where, 3), (cast, 3), (clip, 1),
    (reduce, 6), (softmax, 2),
    (reshape, 3), (flatten, 1), (transpose, 2), (getitem, 4), (concatenate, 2), (stack, 1),
    (split, 2), (pad, 2), (broadcast_to, 2), (expand_squeeze, 2),
    (matmul, 3), (conv, 2), (pool, 3),
    (take, 2), (take_along_axis, 1), (one_hot, 1),
    (random, 2), (norm, 1), (attention, 1), (scan, 2), (leaf, 2), (idiom, 5),
]
SCAN_MOVES = [(move, weight) for move, weight in MOVES if move not in (scan, norm, conv)]
