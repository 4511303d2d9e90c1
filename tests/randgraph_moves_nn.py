"""Moves of the random graph builder: contractions, gathers, random draws, composites, idioms.

Also the table of every move (with randgraph_moves.py's) and its weight.
"""
from __future__ import annotations

import math

import numpy as np

import graphc as gc
from tests.randgraph import (
    Builder,
    Feed,
    Value,
    broadcast,
    elements,
    least,
    most,
)
from tests.randgraph_moves import (
    Move,
    arithmetic,
    broadcast_to,
    cast,
    clip,
    compare,
    concatenate,
    expand_squeeze,
    flatten,
    getitem,
    logical,
    logical_not,
    pad,
    pick_value,
    power,
    reduce,
    reshape,
    scalar_first,
    softmax,
    split,
    stack,
    transpose,
    unary,
    where,
)
from tests.randgraph_spans import (
    DTYPES,
    FLOATS,
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
    monotone,
)

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
    return b.settle(t, (batch, cout) + tuple(t.shape[2:]),
                    Interval(-bound, bound, x.span.nan or w.span.nan))


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

def _indices(b: Builder, bound, shape: tuple | None = None, may_be_negative: bool = True
             ) -> Value:
    """Integer indices valid for a dim of size `bound` (int or Sym), maybe negative."""
    negative = b.c.chance(0.2) and may_be_negative
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
    x = pick_value(b, rank=(1, 3))
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
    x = pick_value(b, rank=(1, 3))
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
    idx = _indices(b, depth, may_be_negative=False)     # one_hot counts from the start only
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
        like = pick_value(b, lambda v: v.dtype in FLOATS, dtype=dtype)
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
    x = b.fit(pick_value(b, lambda v: v.dtype in FLOATS, rank=(1, 3)), Need(bound=10))
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


MAX_SCANS = 2       # forward scans per graph; their gradients add more


def scan(b: Builder) -> list[Value] | None:
    if len({id(v.t.inputs[0]) for v in b.pool if v.t.op == "scan_result"}) >= MAX_SCANS:
        return None
    length = b.c.choice([1, 2, 3, 4] + b.base_syms())
    seqs = [b.shaped((length,) + b.shape(b.c.integer(0, 2)), b.c.choice([FLOATS, NUMERIC]))
            for _ in range(b.c.integer(1, 2))]
    inits = []
    for _ in range(b.c.weighted([(0, 1), (1, 4), (2, 2)])):
        dtype = b.c.weighted([("float32", 4), ("float64", 2), ("int32", 1), ("bool", 1)])
        init = b.shaped(b.shape(b.c.integer(0, 2)), (dtype,))
        inits.append(b.fit(init, Need(bound=3)) if dtype in FLOATS else init)
    carry_single = len(inits) == 1 and b.c.chance(0.7)
    seq_single = len(seqs) == 1 and b.c.chance(0.8)
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
    syms = set(b.base_syms())       # see Builder's NOTE on scan bodies
    listed = b.pick(lambda v: all(isinstance(d, int) or d in syms for d in v.shape)) \
        if b.c.chance(0.3) else None
    final, stacked = gc.scan(fn, init_arg, xs_arg, params=[listed.t] if listed else (),
                             reverse=b.c.chance(0.3))
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
    x = b.fit(pick_value(b, lambda v: v.dtype in FLOATS, dtype=b.c.choice(FLOATS)), Need(bound=4))
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

# NOTE: hypothesis draws the lowest value of a range more often than the others, so the first
# move is one that costs little and shrinks well: a new leaf.
MOVES: list[tuple[Move, int]] = [
    (leaf, 2), (unary, 10), (logical_not, 1), (arithmetic, 10), (scalar_first, 2), (power, 2),
    (compare, 3), (logical, 2), (where, 3), (cast, 3), (clip, 1),
    (reduce, 6), (softmax, 2),
    (reshape, 3), (flatten, 1), (transpose, 2), (getitem, 4), (concatenate, 2), (stack, 1),
    (split, 2), (pad, 2), (broadcast_to, 2), (expand_squeeze, 2),
    (matmul, 3), (conv, 2), (pool, 3),
    (take, 2), (take_along_axis, 1), (one_hot, 1),
    (random, 2), (norm, 1), (attention, 1), (scan, 2), (idiom, 5),
]
SCAN_MOVES = [(move, weight) for move, weight in MOVES if move not in (scan, norm, conv)]
