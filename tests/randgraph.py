"""Random valid graphs over graphc's whole op set, for property tests of passes and backends.

A `Builder` grows a graph with the public DSL (`import graphc as gc`), one random move at a time
(elementwise math over every dtype with broadcasting, reductions, layout, matmul, conv, pooling,
gathers, random draws, scan, normalization, attention, constants that enable simplifications),
on inputs with static and symbolic dims, then often appends gradients (`gc.grad`, sometimes of
a gradient) and variable updates. Every decision is one integer from a `Chooser`:
`graph_cases()` is a hypothesis strategy drawing them (failures shrink to small graphs), and
`case_from_seed(seed)` draws them from `random.Random(seed)`, so a case replays from an int.

The builder tracks, for every value, its *logical* shape (ints, or a `Sym`: a symbolic dim's
size for each size its base symbol may be fed) and an `Interval` bounding its elements. The
intervals keep operands inside the domains where ops are defined (a guard such as
`log(abs(x) + 0.5)` is inserted when they are not), except in "wild" cases, which also feed
NaN and infinities: those results must then agree with NaN treated as equal to NaN.

`run_case` runs a case under any compiled function and `first_mismatch` compares two runs
(NaN-equal, exact for ints, bools and raw random draws, a tight rtol for floats), so another
backend is checked against the interpreter with

    calls = case.feed_sets()
    expected = run_case(case, gc.compile(case.graph, optimize=False), calls=calls)
    actual = run_case(case, gc.compile(case.graph, backend="llvm"), calls=calls)
    assert first_mismatch(case, expected, actual) is None, describe(case)
"""
from __future__ import annotations

import math
import random
import warnings
from dataclasses import dataclass, field
from typing import Callable, NamedTuple, Sequence

import numpy as np
from hypothesis import HealthCheck
from hypothesis import strategies as st

import graphc as gc
from graphc.graph import topological_order
from graphc.printing import stored_arrays
from tests.randgraph_spans import (
    ANY,
    ARITHMETIC,
    FLOATS,
    INTS,
    NONFINITE,
    OPERATORS,
    UNARY,
    UNIT,
    UNKNOWN,
    Interval,
    Need,
)

CALLS = 2              # each compiled case is called this many times (updates carry over)
RTOL = {"float32": 2e-5, "float64": 1e-10}
# hypothesis settings for properties over random cases: the same examples on every run
PROFILE = dict(derandomize=True, database=None, deadline=None, print_blob=False,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.large_base_example])


# ---- decisions ------------------------------------------------------------------------------

class Chooser:
    """Where the builder's decisions come from: each is one integer, recorded in `trace`.

    Every helper shrinks towards its first option or False, so a shrunk case is a simple one.
    """

    def __init__(self) -> None:
        self.trace: list[int] = []

    def _draw(self, lo: int, hi: int) -> int:
        raise NotImplementedError

    def integer(self, lo: int, hi: int) -> int:
        value = self._draw(lo, hi)
        self.trace.append(value)
        return value

    def choice(self, options: Sequence):
        return options[self.integer(0, len(options) - 1)]

    def chance(self, p: float) -> bool:
        return self.integer(0, 99) >= 100 - round(100 * p)

    def weighted(self, table: Sequence[tuple[object, int]]):
        k = self.integer(0, sum(w for _, w in table) - 1)
        for option, weight in table:
            if k < weight:
                return option
            k -= weight
        raise AssertionError("unreachable")

    def recent(self, items: Sequence):
        """An item, the newest (last) most likely: deep chains as well as wide graphs."""
        n = len(items)
        return items[n - 1 - min(self.integer(0, n - 1), self.integer(0, n - 1))]


class SeededChooser(Chooser):
    def __init__(self, seed: int) -> None:
        super().__init__()
        self.rng = random.Random(seed)

    def _draw(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)


class DrawChooser(Chooser):
    """Decisions drawn by hypothesis (inside a composite strategy)."""

    def __init__(self, draw) -> None:
        super().__init__()
        self.draw = draw

    def _draw(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))


class ReplayChooser(Chooser):
    """The decisions of a recorded trace (clipped to each range; the lowest once it runs out)."""

    def __init__(self, trace: Sequence[int]) -> None:
        super().__init__()
        self.rest = list(trace)

    def _draw(self, lo: int, hi: int) -> int:
        return min(max(self.rest.pop(0), lo), hi) if self.rest else lo


# ---- logical shapes ----------------------------------------------------------

@dataclass(frozen=True)
class Sym:
    """A dim graphc sees as symbolic: its size for each feedable size of its base symbol."""
    base: str
    start: int                  # the base symbol's smallest size; sizes[i] is for start + i
    sizes: tuple[int, ...]

    def map(self, fn: Callable[[int], int]) -> Sym:
        return Sym(self.base, self.start, tuple(fn(s) for s in self.sizes))

    @property
    def least(self) -> int:
        return min(self.sizes)

    @property
    def most(self) -> int:
        return max(self.sizes)


Dim = "int | Sym"


def least(d) -> int:
    return d if isinstance(d, int) else d.least


def most(d) -> int:
    return d if isinstance(d, int) else d.most


def concrete(d, env: dict[str, int]) -> int:
    return d if isinstance(d, int) else d.sizes[env[d.base] - d.start]


def broadcast(*shapes: tuple) -> tuple | None:
    """NumPy broadcasting of logical shapes (equal dims or 1), None when they do not."""
    ndim = max(len(s) for s in shapes)
    result = [1] * ndim
    for shape in shapes:
        for i, d in enumerate((1,) * (ndim - len(shape)) + tuple(shape)):
            if d == 1 or d == result[i]:
                continue
            if result[i] != 1:
                return None
            result[i] = d
    return tuple(result)


def elements(shape: tuple) -> int:
    return math.prod(most(d) for d in shape)




# ---- values and cases -------------------------------------------------------------------------

@dataclass
class Value:
    """A Tensor with its logical shape and the bounds of its elements."""
    t: gc.Tensor
    shape: tuple
    span: Interval
    exact: bool = False         # a raw random draw: backends must agree bit-for-bit

    @property
    def dtype(self) -> str:
        return self.t.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)


@dataclass
class Feed:
    """How to make the array for one input: its logical shape, dtype and kind of values."""
    shape: tuple
    dtype: str
    kind: str                   # "float", "int", "bool" or "index"
    bound: object = None        # for "index": the dim the values index (int or Sym)
    negative: bool = False      # for "index": also negative indices


@dataclass
class GraphCase:
    """A random graph, how to feed it, and how to replay it."""
    graph: gc.Graph
    feeds: list[Feed]
    symbols: dict[str, list[int]]  # each symbolic dim's base and the sizes it is fed
    exact: list[bool]           # per output: must agree bit-for-bit (raw random draws)
    feed_seed: int
    wild: bool                  # non-finite feeds and constants, unguarded domains
    quantized: bool             # feeds on a 1/8 grid (ties for max, argmax, comparisons)
    replay: str
    trace: list[int] = field(default_factory=list)      # the decisions, for case_from_trace
    initial: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.initial = [np.array(v.value) for v in self.graph.variables]
        updated = {id(var): value for var, value in self.graph.updates}
        self.precision = ["exact" if exact else computed_in(t)
                          for t, exact in zip(self.graph.outputs, self.exact)]
        self.variable_precision = [computed_in(updated.get(id(v), v))
                                   for v in self.graph.variables]

    def reset_variables(self, values: Sequence[np.ndarray] | None = None) -> None:
        for var, value in zip(self.graph.variables, values or self.initial):
            var.value = np.array(value)

    def feed_sets(self) -> list[tuple[dict[str, int], list[np.ndarray]]]:
        """CALLS sets of feeds; the symbolic dims take different sizes from one to the next."""
        rng = np.random.default_rng(self.feed_seed)
        offsets = {name: int(rng.integers(len(sizes))) for name, sizes in self.symbols.items()}
        result = []
        for k in range(CALLS):
            env = {name: sizes[(offsets[name] + k) % len(sizes)]
                   for name, sizes in self.symbols.items()}
            result.append((env, [self._array(f, env, rng) for f in self.feeds]))
        return result

    def _array(self, feed: Feed, env: dict[str, int], rng) -> np.ndarray:
        shape = tuple(concrete(d, env) for d in feed.shape)
        if feed.kind == "bool":
            return rng.random(shape) < 0.5
        if feed.kind == "int":
            return rng.integers(-3, 4, shape).astype(feed.dtype)
        if feed.kind == "index":
            n = concrete(feed.bound, env)
            return rng.integers(-n if feed.negative else 0, n, shape).astype(feed.dtype)
        values = rng.uniform(-2, 2, shape)
        if self.quantized:
            values = np.round(values * 8) / 8
        if self.wild:
            values = np.where(rng.random(shape) < 0.15, rng.choice(NONFINITE, shape), values)
        return values.astype(feed.dtype)

    def __repr__(self) -> str:
        return f"<GraphCase {self.replay}: {len(self.graph.nodes)} nodes>"


# ---- the builder ------------------------------------------------------------------------------

class Builder:
    """Grows one random graph; `moves` lists what a step can do, with weights."""

    def __init__(self, chooser: Chooser, steps: int, *, outer: Builder | None = None,
                 wild: bool | None = None):
        self.c = chooser
        self.steps = steps
        # NOTE: no derived dims (n+2, 2*n) in a scan body: the backward scan reads the body's
        # values as inputs, and a body cannot bind the symbols of inputs whose dims are only
        # expressions (see test_passes_random.py's xfails).
        self.in_body = outer is not None
        self.pool: list[Value] = []
        self.outer = outer
        if outer is None:
            self.inputs: list[gc.Tensor] = []
            self.feeds: list[Feed] = []
            self.input_dims: dict[Sym, object] = {}     # logical dim -> a graphc dim bound by feeds
            self.updates: list[tuple[gc.Tensor, gc.Tensor]] = []
            self.updated: set[int] = set()
            self.extra_outputs: list[Value] = []
            self.state: gc.Tensor | None = None
            self.np_rng = np.random.default_rng(chooser.integer(0, 2**31 - 1))
            drawn = chooser.chance(0.12)          # drawn either way, so seeds keep their cases
            self.wild = drawn if wild is None else wild
            self.quantized = chooser.chance(0.3)
            self.symbols: dict[str, range] = {}
            self.naming: dict[str, str] = {}
            for name in ("n", "m")[:chooser.weighted([(0, 5), (1, 4), (2, 2)])]:
                start = chooser.integer(1, 2)
                self.symbols[name] = range(start, start + 4)
                self.naming[name] = chooser.choice(["named", "anonymous", "mixed"])
        else:
            for key in ("inputs", "feeds", "input_dims", "updates", "updated", "np_rng", "wild",
                        "quantized", "symbols", "naming"):
                setattr(self, key, getattr(outer, key))
            self.extra_outputs = []         # draws inside a scan body are not the graph's
            # NOTE: a body that closes over a value whose dims are only expressions (2*n)
            # cannot bind the symbols they name (see test_passes_random.py's xfails).
            syms = set(outer.base_syms())
            self.pool = [v for v in outer.pool
                         if all(isinstance(d, int) or d in syms for d in v.shape)]

    # -- the random state lives in the outermost builder
    @property
    def root(self) -> Builder:
        return self if self.outer is None else self.outer.root

    # -- shapes --------------------------------------------------------------------------------
    def base_syms(self) -> list[Sym]:
        return [Sym(name, r.start, tuple(r)) for name, r in self.symbols.items()]

    def dim(self, symbolic: bool = True):
        syms = self.base_syms() if symbolic else []
        table = [(1, 3), (2, 4), (3, 4), (4, 1)] + [(s, 3) for s in syms]
        return self.c.weighted(table)

    def shape(self, rank: int | None = None, symbolic: bool = True) -> tuple:
        if rank is None:
            rank = self.c.weighted([(0, 2), (1, 4), (2, 5), (3, 3), (4, 1)])
        return tuple(self.dim(symbolic) for _ in range(rank))

    def gdim(self, d):
        """The graphc dim for a logical dim in a shape argument: an int or a bound symbol.

        NOTE: not in a scan body, whose interpreter binds only the symbols of the body's own
        inputs (see test_passes_random.py's xfails).
        """
        if isinstance(d, int):
            return d
        return self.input_dims.get(d) if self.outer is None else None

    def settle(self, t: gc.Tensor, shape: tuple, span: Interval, exact: bool = False) -> Value:
        """A Value for t, checking graphc's type agrees with the logical shape."""
        assert t.ndim == len(shape), f"rank of {t.type} is not that of {shape}"
        settled = []
        for g, d in zip(t.shape, shape):
            if isinstance(g, int):
                same = d == g if isinstance(d, int) else set(d.sizes) == {g}
                assert same, f"graphc's {t.type} disagrees with the logical shape {shape}"
                settled.append(g)
            else:
                assert isinstance(d, Sym), f"graphc's {t.type} has a symbol where {shape} is static"
                settled.append(d)
        return Value(t, tuple(settled), UNIT if t.dtype == "bool" else span, exact)

    # -- leaves --------------------------------------------------------------------------------
    def leaf(self, shape: tuple | None = None, dtype: str | None = None, kind: str = "any",
             span: Interval | None = None) -> Value:
        """A new placeholder, variable or constant (only placeholders have symbolic dims)."""
        shape = self.shape() if shape is None else shape
        dtype = dtype or self.c.weighted([("float32", 6), ("float64", 3), ("int32", 1),
                                          ("int64", 1), ("bool", 1)])
        static = all(isinstance(d, int) for d in shape)
        if kind == "any":
            kind = self.c.weighted([("placeholder", 5), ("variable", 2), ("constant", 2)]) \
                if static else "placeholder"
        if kind == "placeholder":
            return self.placeholder(shape, dtype)
        values = self.values(shape, dtype, span)
        if kind == "variable":
            # NOTE: updates move a float variable by at most 0.1 per call, or keep it in [-1, 1].
            span = span or (Interval(-1.5, 1.5) if dtype in FLOATS else self.span_of(dtype))
            return Value(gc.variable(values), shape, span)
        return self.constant(values)

    def values(self, shape: tuple, dtype: str, span: Interval | None = None) -> np.ndarray:
        if dtype == "bool":
            return self.np_rng.random(shape) < 0.5
        if dtype in INTS:
            return self.np_rng.integers(-3, 4, shape).astype(dtype)
        lo, hi = (-1.0, 1.0) if span is None else (span.lo, span.hi)
        return self.np_rng.uniform(lo, hi, shape).astype(dtype)

    def constant(self, array: np.ndarray) -> Value:
        array = np.asarray(array)
        finite = array[np.isfinite(array)] if array.dtype.kind == "f" else array
        nan = bool(array.dtype.kind == "f" and np.isnan(array).any())
        span = Interval(float(finite.min()), float(finite.max()), nan) if finite.size \
            else UNKNOWN
        if array.dtype.kind == "f" and np.isinf(array).any():
            span = Interval(-math.inf if np.isneginf(array).any() else span.lo,
                            math.inf if np.isposinf(array).any() else span.hi, nan)
        return Value(gc.constant(array), array.shape, span)

    def placeholder(self, shape: tuple, dtype: str, feed: Feed | None = None) -> Value:
        dims = []
        for d in shape:
            named = isinstance(d, Sym) and d.sizes == tuple(self.symbols.get(d.base, ())) and (
                self.naming[d.base] == "named"
                or self.naming[d.base] == "mixed" and self.c.chance(0.5))
            dims.append(d.base if named else (None if isinstance(d, Sym) else d))
        t = gc.placeholder(tuple(dims), dtype, name=f"x{len(self.inputs)}")
        self.inputs.append(t)
        kind = "float" if dtype in FLOATS else ("bool" if dtype == "bool" else "int")
        self.feeds.append(feed or Feed(shape, dtype, kind))
        for d, g in zip(shape, t.shape):
            if isinstance(d, Sym):
                self.input_dims.setdefault(d, g)
        span = self.span_of(dtype)
        if feed is not None and feed.kind == "index":
            span = Interval(-most(feed.bound) if feed.negative else 0, most(feed.bound) - 1)
        return self.settle(t, shape, span)

    def span_of(self, dtype: str) -> Interval:
        if dtype == "bool":
            return UNIT
        if dtype in INTS:
            return Interval(-3, 3)
        return UNKNOWN if self.wild else Interval(-2, 2)

    # -- picking operands ----------------------------------------------------------------------
    def pick(self, ok: Callable[[Value], bool] = lambda v: True) -> Value | None:
        found = [v for v in self.pool if ok(v)]
        return self.c.recent(found) if found else None

    def operand(self, ok: Callable[[Value], bool], make: Callable[[], Value],
                fresh: float = 0.15) -> Value:
        """A pool value passing `ok`, or (when there is none, or by chance) `make()`."""
        found = None if self.c.chance(fresh) else self.pick(ok)
        return found if found is not None else make()

    def shaped(self, shape: tuple, dtypes: Sequence[str] = FLOATS, need: Need = ANY) -> Value:
        """A value of exactly this logical shape: from the pool, or a new leaf (mixed with a
        pool value reduced to a scalar, so gradients still reach the earlier graph)."""
        v = self.operand(lambda v: v.shape == shape and v.dtype in dtypes, lambda: None, 0.3)
        if v is None:
            v = self.leaf(shape, self.c.choice(dtypes))
            other = self.pick(lambda o: o.dtype in FLOATS and v.dtype in FLOATS)
            if other is not None and self.c.chance(0.5):
                scalar = self.apply("tanh", self.reduce_all(other))
                v = self.binary("add", v, self.cast(scalar, v.dtype))
        return self.fit(v, need)

    # -- applying ops with their intervals -----------------------------------------------------
    def apply(self, name: str, v: Value) -> Value:
        fn, _, rule = UNARY[name]
        return self.settle(fn(v.t), v.shape, rule(v.span))

    def binary(self, name: str, a: Value, b: Value | float, use_operator: bool = False) -> Value:
        fn, _, _, rule = ARITHMETIC[name]
        bv = b if isinstance(b, Value) else None
        shape = broadcast(a.shape, bv.shape) if bv else a.shape
        assert shape is not None, (a.shape, bv.shape)
        bspan = bv.span if bv else Interval.of([float(b)], math.isnan(float(b)))
        bt = bv.t if bv else b
        t = OPERATORS[name](a.t, bt) if use_operator and name in OPERATORS else fn(a.t, bt)
        return self.settle(t, shape, rule(a.span, bspan))

    def cast(self, v: Value, dtype: str) -> Value:
        if dtype in INTS and v.dtype in FLOATS:
            v = self.int_safe(v)
        span = v.span
        if dtype == "bool":
            span = UNIT
        elif dtype in INTS:
            span = Interval(math.trunc(span.lo), math.trunc(span.hi))
        elif v.dtype == "bool":
            span = UNIT
        return self.settle(gc.cast(v.t, dtype), v.shape, span)

    def int_safe(self, v: Value) -> Value:
        """Floats that convert to ints: finite and in range, in wild cases too.

        NOTE: float -> int of NaN, inf or a value out of range is undefined in C and LLVM (a
        poison value), so no backend comparison could mean anything there.
        """
        if v.span.nan:
            v = self.settle(gc.where(gc.equal(v.t, v.t), v.t, 0), v.shape,
                            Interval(min(v.span.lo, 0), max(v.span.hi, 0)))
        if not Need(bound=1e6).met(v.span):
            def clamp(x: float) -> float:
                return min(max(x, -1e6), 1e6)
            v = self.settle(gc.clip(v.t, -1e6, 1e6), v.shape,
                            Interval(clamp(v.span.lo), clamp(v.span.hi)))
        return v

    def reduce_all(self, v: Value) -> Value:
        op = self.c.choice(["sum", "mean", "max"])
        t = getattr(gc, op)(v.t)
        span = v.span if op != "sum" else Interval.of(
            [v.span.lo * n for n in (1, elements(v.shape))]
            + [v.span.hi * n for n in (1, elements(v.shape))], v.span.nan)
        if v.dtype == "bool" and op != "max":
            span = Interval(0, elements(v.shape))
        return self.settle(t, (), span)

    def fit(self, v: Value, need: Need) -> Value:
        """v, or v guarded into the domain `need` describes (wild cases sometimes skip it)."""
        if need.met(v.span) or (self.wild and self.c.chance(0.3)):
            return v
        if v.dtype == "bool":
            v = self.cast(v, "int32")
        if v.dtype in INTS:
            return self._fit_int(v, need)
        limit = min(need.bound, need.hi, 5.0)
        if need.lo > -math.inf or need.nonzero:
            limit = min(limit, 3.0)
        guard = self.c.choice(["tanh", "clip", "sin"])
        if not Need(bound=limit).met(v.span):
            if guard == "clip":
                v = self.settle(gc.clip(v.t, -limit, limit), v.shape,
                                Interval(max(v.span.lo, -limit), min(v.span.hi, limit),
                                         v.span.nan))
            else:
                v = self.apply(guard, v)
                if limit > 1 and self.c.chance(0.5):
                    v = self.binary("multiply", v, float(math.floor(limit)))
        if need.lo > -math.inf or need.nonzero:
            how = self.c.choice(["abs", "square", "exp", "softplus", "sigmoid"])
            v = self.apply(how, v)
            if how != "exp" or need.lo > 0.005:
                v = self.binary("add", v, self.c.choice([0.5, 1.0, 0.25]))
            if need.nonzero and need.lo == -math.inf and self.c.chance(0.3):
                v = self.apply("neg", v)
        return v

    def _fit_int(self, v: Value, need: Need) -> Value:
        limit = int(min(need.bound, need.hi, 3))
        if not Need(bound=limit).met(v.span):
            lo, hi = max(v.span.lo, -limit), min(v.span.hi, limit)
            v = self.settle(gc.clip(v.t, -limit, limit), v.shape, Interval(lo, hi))
        if need.lo > -math.inf or need.nonzero:
            v = self.binary("add", self.apply(self.c.choice(["abs", "square"]), v), 1)
        return v

    # -- the steps -----------------------------------------------------------------------------
    def grow(self) -> None:
        from tests.randgraph_moves_nn import MOVES, SCAN_MOVES
        table = MOVES if self.outer is None else SCAN_MOVES
        if not self.pool:
            self.pool.append(self.leaf())
        for _ in range(self.steps):
            for _attempt in range(4):
                move = self.c.weighted(table)
                made = move(self)
                if made is not None:
                    self.pool.extend(made if isinstance(made, list) else [made])
                    break

    def random_state(self) -> gc.Tensor:
        root = self.root
        if root.state is None:
            root.state = gc.random_state(self.c.integer(0, 2**20), name="rng")
        return root.state

    def update(self, var: gc.Tensor, value: gc.Tensor) -> None:
        if id(var) not in self.updated:
            self.updated.add(id(var))
            self.updates.append((var, value))


# ---- finishing a case: outputs, gradients, updates ----------------------------------------------

def _depends(t: gc.Tensor, on: Sequence[gc.Tensor]) -> list[gc.Tensor]:
    ids = {id(n) for n in topological_order([t])}
    return [x for x in on if id(x) in ids]


def _loss(b: Builder, y: Value) -> gc.Tensor:
    how = b.c.choice(["square", "weighted", "sum", "mean", "max"])
    if how == "weighted":
        w = b.shaped(y.shape, (y.dtype,))
        return gc.sum(y.t * w.t)
    if how == "square":
        return gc.sum(gc.square(y.t))
    return getattr(gc, how)(y.t)


def _gradients(b: Builder, outputs: list[gc.Tensor]) -> None:
    """Append d loss / d wrt (and sometimes a second-order gradient) and SGD updates."""
    floats = [v for v in b.pool if v.dtype in FLOATS]
    if not floats:
        return
    y = b.c.recent(floats)
    loss = _loss(b, y)
    leaves = [t for t in b.inputs if t.dtype in FLOATS]
    leaves += [n for n in topological_order([loss]) if n.op == "variable" and n.dtype in FLOATS
               and n is not b.root.state]
    wrt = _depends(loss, leaves)
    chosen = {id(t) for t in wrt}
    others = [t for t in leaves if id(t) not in chosen]
    if others and b.c.chance(0.2):
        wrt.append(b.c.choice(others))
    if not wrt:
        return
    grads = gc.grad(loss, wrt)
    outputs += [loss, *grads]
    for x, g in zip(wrt, grads):
        if x.op == "variable" and b.c.chance(0.5):
            b.update(x, x - 0.1 * gc.tanh(g))
    # NOTE: through a scan, a second-order gradient is a backward scan of backward scans,
    # which every configuration compiles and optimizes again: seconds per case, so rarer.
    through_scan = any(n.op == "scan" for n in topological_order(grads))
    if b.c.chance(0.15 if through_scan else 0.5):
        k = b.c.integer(0, len(wrt) - 1)
        g = grads[k]
        v = gc.sum(g * gc.cos(wrt[k])) if b.c.chance(0.5) else gc.sum(gc.square(g))
        outputs += gc.grad(v, wrt)


def build_case(chooser: Chooser, replay: str | None = None, max_steps: int = 20,
               wild: bool | None = None) -> GraphCase:
    """A random graph case driven by `chooser`; `wild` forces (or forbids) non-finite values.

    `replay` is the call that builds the case again (by default: from the chooser's trace).
    """
    try:
        with warnings.catch_warnings():
            # NOTE: cases mix float32 and float64 on purpose: promotion is part of the test.
            warnings.simplefilter("ignore", gc.PrecisionWarning)
            case = _build(chooser, max_steps, wild)
    except Exception as exc:
        again = replay or f"case_from_trace({chooser.trace}, max_steps={max_steps})"
        raise AssertionError(f"building a random graph fails: {type(exc).__name__}: {exc}\n"
                             f"replay: tests.randgraph.{again}") from exc
    case.trace = chooser.trace
    case.replay = replay or f"case_from_trace({chooser.trace}, max_steps={max_steps})"
    return case


def _build(chooser: Chooser, max_steps: int, wild: bool | None) -> GraphCase:
    b = Builder(chooser, 0, wild=wild)
    b.steps = chooser.integer(1, max_steps)
    b.grow()
    chosen = [b.pool[-1]] + [chooser.choice(b.pool) for _ in range(chooser.integer(0, 2))]
    chosen += [v for v in b.extra_outputs if chooser.chance(0.7)]
    outputs, exact = [v.t for v in chosen], [v.exact for v in chosen]
    if chooser.chance(0.5):
        _gradients(b, outputs)
    if b.state is not None and chooser.chance(0.7):
        b.update(b.state, gc.next_random_state(b.state))
    for v in b.pool:
        if v.t.op == "variable" and v.dtype in FLOATS and chooser.chance(0.2):
            b.update(v.t, gc.tanh(v.t * 0.5 + 0.25))
    graph = gc.Graph(b.inputs, outputs, b.updates)
    exact += [False] * (len(outputs) - len(exact))
    return GraphCase(graph, b.feeds, {k: list(r) for k, r in b.symbols.items()}, exact,
                     chooser.integer(0, 2**31 - 1), b.wild, b.quantized, "")


def case_from_seed(seed: int, max_steps: int = 20, wild: bool | None = None) -> GraphCase:
    """The case seed `seed` names: replays anywhere with `case_from_seed(seed)`."""
    return build_case(SeededChooser(seed), f"case_from_seed({seed}, max_steps={max_steps}, "
                      f"wild={wild})", max_steps, wild)


def case_from_trace(trace: Sequence[int], max_steps: int = 20) -> GraphCase:
    """The case a recorded decision trace (a hypothesis example's) builds."""
    return build_case(ReplayChooser(trace), None, max_steps)


@st.composite
def graph_cases(draw, max_steps: int = 20) -> GraphCase:
    """Hypothesis strategy: random graph cases that shrink towards few, simple steps."""
    return build_case(DrawChooser(draw), None, max_steps)


# ---- running and comparing ----------------------------------------------------------------------

Run = list[tuple[list[np.ndarray], list[np.ndarray]]]   # per call: outputs, variable values after


def run_case(case: GraphCase, compiled: Callable, start: Sequence[np.ndarray] | None = None,
             calls: Sequence | None = None) -> Run:
    """Call a compiled case on its feed sets, from the variables' initial values."""
    case.reset_variables(start)
    run = []
    with np.errstate(all="ignore"):
        for _, feeds in calls or case.feed_sets():
            outputs = compiled(*feeds)
            run.append(([np.array(o) for o in outputs],
                        [np.array(v.value) for v in case.graph.variables]))
    return run


def computed_in(t: gc.Tensor) -> str:
    """How a value must agree: "exact" for ints and bools, else the least precise float type
    it is computed through (a float64 output of float32 math is float32-accurate)."""
    if t.dtype not in FLOATS:
        return "exact"
    seen: set[int] = set()
    stack = [t]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.dtype == "float32":
            return "float32"
        stack.extend(node.inputs)
        stack.extend(out for value in node.attrs.values() if isinstance(value, gc.Graph)
                     for out in value.outputs)
    return "float64"


def differs(expected: np.ndarray, actual: np.ndarray, precision: str,
            rtol: dict[str, float] = RTOL) -> str | None:
    """Why two results differ (None if they agree): NaN equals NaN; floats to a tight rtol."""
    if expected.dtype != actual.dtype or expected.shape != actual.shape:
        return f"expected {expected.dtype}{list(expected.shape)}, " \
               f"got {actual.dtype}{list(actual.shape)}"
    if expected.dtype.kind != "f" or precision == "exact":
        bad = ~((expected == actual) | (np.isnan(expected) & np.isnan(actual))
                if expected.dtype.kind == "f" else expected == actual)
    else:
        tolerance = rtol[precision]
        finite = np.abs(expected[np.isfinite(expected)])
        scale = max(1.0, float(finite.max())) if finite.size else 1.0
        with np.errstate(all="ignore"):
            close = np.abs(expected - actual) <= tolerance * (scale + np.abs(expected))
        bad = ~(close | (expected == actual) | (np.isnan(expected) & np.isnan(actual)))
    if not bad.any():
        return None
    where = tuple(int(i) for i in np.argwhere(bad)[0])
    return f"{int(bad.sum())} of {bad.size} elements differ; first at {where}: " \
           f"expected {expected[where]!r}, got {actual[where]!r}"


class Mismatch(NamedTuple):
    """The first value two runs disagree on: an output or a variable after a call."""
    call: int
    output: int | None
    variable: int | None
    why: str

    def what(self, case: GraphCase) -> str:
        if self.output is not None:
            return f"output {self.output}"
        var = case.graph.variables[self.variable]
        return f"variable {var.name or self.variable!r} after the call"

    def value(self, case: GraphCase) -> gc.Tensor:
        """The node computing the disagreeing value (a variable's update, if it has one)."""
        if self.output is not None:
            return case.graph.outputs[self.output]
        var = case.graph.variables[self.variable]
        return next((value for v, value in case.graph.updates if v is var), var)


def first_mismatch(case: GraphCase, expected: Run, actual: Run) -> Mismatch | None:
    """The first output or variable value that differs between two runs, else None."""
    for call, ((outs_e, vars_e), (outs_a, vars_a)) in enumerate(zip(expected, actual)):
        for i, (e, a) in enumerate(zip(outs_e, outs_a)):
            why = differs(e, a, case.precision[i])
            if why:
                return Mismatch(call, i, None, why)
        for i, (e, a) in enumerate(zip(vars_e, vars_a)):
            why = differs(e, a, case.variable_precision[i])
            if why:
                return Mismatch(call, None, i, why)
    return None


# Ops whose result jumps where their float operands cross a threshold, so that a change of
# rounding there (a rewrite to a more accurate form, another backend's math) may flip it.
DISCONTINUOUS = frozenset({"equal", "not_equal", "less", "less_equal", "greater",
                           "greater_equal", "floor", "ceil", "sign", "argmax", "argmin", "cast",
                           "max_pool_grad", "max_pool_select"})


@dataclass
class Culprit:
    """The earliest node whose value differs between two runs, and why."""
    node: gc.Tensor
    why: str
    rounding: bool      # a discontinuous op whose float operands moved within the tolerance


def localize(case: GraphCase, compile_a: Callable, compile_b: Callable, found: Mismatch,
             expected: Run, calls) -> Culprit | None:
    """The first node (every node made an output) whose value differs on the call of `found`.

    `compile_a` and `compile_b` make the two runs' callables from a graph; both start from the
    variables' values before that call in `expected` (compile_a's run).
    """
    nodes = [n for n in case.graph.nodes
             if n.op not in ("placeholder", "variable", "constant", "scan")]
    probe = gc.Graph(case.graph.inputs, nodes)
    start = case.initial if found.call == 0 else expected[found.call - 1][1]
    try:
        runs = [run_case(case, make(probe), start, calls[found.call:found.call + 1])[0][0]
                for make in (compile_a, compile_b)]
    except Exception:       # a diagnostic only: the failure itself is reported anyway
        return None
    probe_case = GraphCase(probe, case.feeds, case.symbols, [False] * len(nodes), 0, case.wild,
                           case.quantized, case.replay)
    first = first_mismatch(probe_case, [(runs[0], [])], [(runs[1], [])])
    if first is None:
        return None
    node = nodes[first.output]
    feeds = any(n is node for n in topological_order([found.value(case)]))
    return Culprit(node, first.why, feeds and _flipped(node, nodes, runs))


def _flipped(node: gc.Tensor, nodes: list[gc.Tensor], runs: list[list[np.ndarray]]) -> bool:
    """Whether a discontinuous op got float operands that differ (within the tolerance)."""
    if node.op not in DISCONTINUOUS or node.op == "cast" and node.dtype in FLOATS:
        return False
    index = {id(n): i for i, n in enumerate(nodes)}
    return any(t.dtype in FLOATS and id(t) in index and not np.array_equal(
        runs[0][index[id(t)]], runs[1][index[id(t)]], equal_nan=True) for t in node.inputs)


def describe(case: GraphCase) -> str:
    """The case's replay line, text IR and (small) stored arrays, for a failure message."""
    arrays = "\n".join(f"  %{k} = {np.array2string(v, threshold=40)}"
                       for k, v in stored_arrays(case.graph).items() if v.size <= 40)
    sizes = ", ".join(f"{k} in {list(r)}" for k, r in case.symbols.items())
    return (f"replay: tests.randgraph.{case.replay}\n"
            f"wild={case.wild} quantized={case.quantized} symbols: {sizes or 'none'}\n"
            f"{case.graph}\n{arrays}")
