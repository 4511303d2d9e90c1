"""Native code against the interpreter on random graphs (tests/randgraph.py), issue 8.

Each case is optimized once by the default pipeline; the interpreter runs that graph and the
native backend compiles it after its own fusion pass, as gc.compile does for each. Both make
the same calls (the symbolic dims change size between calls, variables carry their updates
over, and a case with index feeds gets a call with one index out of range). They must agree
on every call: the same error class when one raises, else outputs and updated variables of
the same dtypes and shapes, equal where NaN, exactly for ints, bools and raw random draws,
and within RTOL (a few hundred ulps of the least precise float type a value is computed
through, in this call or, through the variables, an earlier one) for floats.

Floats may still differ by more when the graph amplifies rounding or a comparison flips on
an operand one ulp away (both legitimate: the native transcendentals differ from NumPy's by
an ulp or two, its float32 sums accumulate in float64). Such a call is then re-run natively
with every node as an output, and each node is recomputed by the interpreter from the
native values of its operands (tests/randgraph_local.py): the case fails only if some node
is wrong given its own operands, or a result of the call itself (fused otherwise) is.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from llvmlite import ir

import graphc as gc
from graphc.compile import BACKEND_PASSES
from graphc.graph import Graph, topological_order
from tests.randgraph import (
    PROFILE,
    GraphCase,
    case_from_seed,
    concrete,
    describe,
    differs,
    graph_cases,
)
from tests.randgraph_local import local_divergence, probe_nodes

ULPS = 256
RTOL = {dtype: ULPS * float(np.finfo(dtype).eps) for dtype in ("float32", "float64")}
NATIVE_PASSES = BACKEND_PASSES["llvm"]


# ---- running a case -----------------------------------------------------------------------------

@dataclass
class Call:
    """What one call did: its outputs (None if it raised), the variables after it, the error."""
    outputs: list[np.ndarray] | None
    variables: list[np.ndarray]
    error: Exception | None


Calls = list[tuple[dict[str, int], list[np.ndarray]]]


def compile_both(graph: Graph) -> tuple[Graph, Callable, Callable]:
    """The optimized graph, the interpreter on it, and native code for it (fused)."""
    optimized, _ = gc.optimize(graph)
    return (optimized, gc.compile(optimized, optimize=False),
            gc.compile(optimized, backend="llvm", optimize=NATIVE_PASSES))


def run(case: GraphCase, compiled: Callable, calls: Calls) -> list[Call]:
    """Make the calls from the variables' initial values, recording errors instead of raising."""
    case.reset_variables()
    made = []
    with np.errstate(all="ignore"):
        for _, feeds in calls:
            try:
                outputs, error = [np.array(o) for o in compiled(*feeds)], None
            except Exception as exc:        # compared below: same class on both backends
                outputs, error = None, exc
            made.append(Call(outputs, [np.array(v.value) for v in case.graph.variables],
                             error))
    return made


def with_bad_index(case: GraphCase, calls: Calls) -> Calls:
    """The calls and, for a case with index feeds, one between them with an index out of range
    (the last call's feeds, one element of one index feed replaced)."""
    env, feeds = calls[-1]
    spots = [k for k, f in enumerate(case.feeds) if f.kind == "index" and feeds[k].size]
    if not spots:
        return calls
    k = spots[case.feed_seed % len(spots)]
    bad = feeds[k].copy()
    n = concrete(case.feeds[k].bound, env)
    bad.flat[case.feed_seed % bad.size] = -n - 1 if case.feeds[k].negative else n
    return calls[:1] + [(env, feeds[:k] + [bad] + feeds[k + 1:])] + calls[1:]


# ---- comparing ----------------------------------------------------------------------------------

def _error_mismatch(expected: Call, actual: Call) -> str | None:
    e, a = expected.error, actual.error
    if e is not None and not isinstance(e, gc.GraphcError):
        return f"the interpreter raises {type(e).__name__} (not a GraphcError): {e}"
    if a is not None and not isinstance(a, gc.GraphcError):
        return f"native code raises {type(a).__name__} (not a GraphcError): {a}"
    if e is None and a is None:
        return None
    if e is None or a is None or type(e) is not type(a):
        def said(x):
            return "returns" if x is None else f"raises {type(x).__name__}: {x}"
        return f"the interpreter {said(e)}; native code {said(a)}"
    return None


def carried_precision(case: GraphCase) -> tuple[list[str], list[str]]:
    """The outputs' and variables' precisions from the second call on: a variable updated
    from float32 math carries float32 rounding into whatever reads it in later calls."""
    updated = {id(var): value for var, value in case.graph.updates}
    carried: set[int] = set()
    while True:
        grown = {id(v) for v, p in zip(case.graph.variables, case.variable_precision)
                 if p == "float32" or id(v) in updated and _reads(updated[id(v)], carried)}
        if grown == carried:
            break
        carried = grown

    def precision(t: gc.Tensor, own: str) -> str:
        return "float32" if own == "float64" and _reads(t, carried) else own
    return ([precision(t, p) for t, p in zip(case.graph.outputs, case.precision)],
            [precision(updated.get(id(v), v), p)
             for v, p in zip(case.graph.variables, case.variable_precision)])


def _reads(t: gc.Tensor, variables: set[int]) -> bool:
    return any(id(n) in variables for n in topological_order([t]))


def _value_mismatch(case: GraphCase, expected: Call, actual: Call,
                    precisions: tuple[list[str], list[str]]) -> str | None:
    """The first output or variable whose native value is not the interpreter's, and why."""
    pairs = []
    if expected.outputs is not None:
        pairs += [(f"output {i}", precision, e, a) for i, (precision, e, a) in
                  enumerate(zip(precisions[0], expected.outputs, actual.outputs))]
    pairs += [(f"variable {case.graph.variables[i].name or i!r}", precision, e, a) for i, (
        precision, e, a) in enumerate(zip(precisions[1], expected.variables, actual.variables))]
    for what, precision, e, a in pairs:
        why = differs(e, a, precision, RTOL)
        if why:
            return f"{what}: {why}"
    return None


def explain(case: GraphCase, optimized: Graph, feeds: Sequence[np.ndarray],
            start: Sequence[np.ndarray], native: Call) -> str | None:
    """Why the native call's values are wrong, or None when rounding explains them (see the
    module docstring): the first node its operands do not explain, in a probe run (every node
    an output, so fused otherwise), then the first of the call's results the probe's operand
    values do not explain."""
    nodes = probe_nodes(optimized)
    probe = gc.compile(Graph(optimized.inputs, nodes), backend="llvm", optimize=NATIVE_PASSES)
    case.reset_variables(start)
    updated = {id(var): value for var, value in optimized.updates}
    results = list(zip(optimized.outputs, native.outputs)) + [
        (updated[id(v)], after) for v, after in zip(optimized.variables, native.variables)
        if id(v) in updated]
    with np.errstate(all="ignore"):
        values = [np.array(v) for v in probe(*feeds)]
        found = local_divergence(optimized, feeds, values, results)
    return None if found is None else f"first wrong node: {found}"


def check(case: GraphCase) -> None:
    """Native code agrees with the interpreter on every call of the case (module docstring)."""
    calls = with_bad_index(case, case.feed_sets())
    try:
        optimized, interpreter, native = compile_both(case.graph)
    except Exception as exc:
        raise AssertionError(f"compiling fails: {type(exc).__name__}: {exc}\n"
                             f"{describe(case)}") from exc
    expected, actual = run(case, interpreter, calls), run(case, native, calls)
    later = carried_precision(case)
    for k, (e, a) in enumerate(zip(expected, actual)):
        why = _error_mismatch(e, a)
        if why is None:
            precisions = (case.precision, case.variable_precision) if k == 0 else later
            why = _value_mismatch(case, e, a, precisions)
            if why is not None and e.error is None:
                start = case.initial if k == 0 else actual[k - 1].variables
                cause = explain(case, optimized, calls[k][1], start, a)
                if cause is None:
                    continue        # rounding, amplified or flipping a comparison
                why += f"\n{cause}"
        if why is not None:
            sizes = ", ".join(f"{name}={size}" for name, size in calls[k][0].items())
            raise AssertionError(f"call {k} ({sizes or 'static dims'}): {why}\n"
                                 f"optimized graph:\n{optimized}\n{describe(case)}")


# ---- the properties -----------------------------------------------------------------------------
# NOTE: the default run checks ~510 distinct graphs (hypothesis repeats some of its small
# ones); native compilation is most of its cost, ~0.15 s of CPU per graph, whatever its size
# (fewer steps per seeded case save little; one compile of several cases' graphs costs more
# than compiling them apart). The slow variants take bigger graphs.

@settings(max_examples=300, **PROFILE)
@given(graph_cases(max_steps=12))
def test_native_matches_interpreter(case: GraphCase) -> None:
    check(case)


@pytest.mark.parametrize("first", range(0, 350, 50))     # in parts, which workers share
def test_seeded_cases_match_interpreter(first: int) -> None:
    _check_seeds(range(first, first + 50), max_steps=12)


@pytest.mark.slow
@settings(max_examples=2000, **PROFILE)
@given(graph_cases(max_steps=40))
def test_native_matches_interpreter_many(case: GraphCase) -> None:
    check(case)


@pytest.mark.slow
def test_seeded_cases_match_interpreter_many() -> None:
    _check_seeds(range(350, 2350), max_steps=30)


@pytest.mark.slow
def test_wild_seeded_cases_match_interpreter() -> None:
    """NaN and infinities fed and in constants, domains left unguarded."""
    _check_seeds(range(1000), max_steps=20, wild=True)


def _check_seeds(seeds: range, max_steps: int, wild: bool | None = None) -> None:
    """Check plain-random cases; every failing seed is listed (each replays from its int)."""
    failures = []
    for seed in seeds:
        try:
            check(case_from_seed(seed, max_steps=max_steps, wild=wild))
        except AssertionError as exc:
            why = str(exc).split("\noptimized graph:")[0].replace("\n", "\n    ")
            failures.append(f"seed {seed}: {why}")
    assert not failures, f"{len(failures)} failing cases:\n" + "\n".join(failures)


# ---- the check has teeth: wrong native code is caught, amplified rounding is not ------------

@pytest.fixture
def fresh_native_code(monkeypatch: pytest.MonkeyPatch):
    """Native code compiled anew (a patched emitter must not hit code cached before or after)."""
    from backends.llvm import cache
    monkeypatch.setenv("GRAPHC_CACHE_DIR", "")
    cache.clear_memory()
    yield
    cache.clear_memory()


def _off_tanh(emit):
    def wrong(b, x):
        return b.fmul(emit(b, x), ir.Constant(x.type, 1 + 2 ** -12))
    return wrong


def _nan_blind_extremum(self, prim, ops, floating):
    x, y = ops
    compare = self.b.fcmp_ordered if floating else self.b.icmp_signed
    return self.b.select(compare(">" if prim == "max" else "<", x, y), x, y)


# (what is wrong, the attribute patched, its wrong value, the op that shows it, wild cases)
WRONG_CODE = [
    ("tanh 2^-12 too large", "backends.llvm.vmath.EMITTERS", "tanh", _off_tanh, "tanh", None),
    ("max ignores NaN", "backends.llvm.scalar_emit.ScalarEmitter", "_extremum",
     lambda _: _nan_blind_extremum, "maximum", True),
]


@pytest.mark.parametrize("what, target, name, wrong, op, wild", WRONG_CODE,
                         ids=[w[0] for w in WRONG_CODE])
def test_check_catches_wrong_native_code(fresh_native_code, monkeypatch, what, target, name,
                                         wrong, op, wild) -> None:
    """Native code with a bug fails the check on one of the first cases holding the op."""
    import importlib
    module, _, attr = target.rpartition(".")
    owner = getattr(importlib.import_module(module), attr)
    if isinstance(owner, dict):
        monkeypatch.setitem(owner, name, wrong(owner[name]))
    else:
        monkeypatch.setattr(owner, name, wrong(getattr(owner, name)))
    cases = (case_from_seed(seed, max_steps=10, wild=wild) for seed in range(200))
    for case in (c for c in cases if any(n.op == op for n in c.graph.nodes)):
        try:
            check(case)
        except AssertionError as exc:
            assert op in str(exc).split("optimized graph:")[0], str(exc)
            return
    pytest.fail(f"no case caught native code where {what}")


def _tanh_chain() -> Graph:
    x = gc.placeholder((4,), "float32")
    t = gc.tanh(x)
    return Graph([x], [t, (1 - t * t) * 1e5])


def _chain_values(t: np.ndarray) -> list[np.ndarray]:
    square = t * t
    return [t, square, 1 - square, (1 - square) * np.float32(1e5)]


def test_local_check_accepts_amplified_rounding() -> None:
    """1 - tanh(x)^2 near tanh(x) = 1 turns an ulp of tanh into a large relative difference,
    which the end-to-end comparison sees and the node-local check explains."""
    feeds = [np.array([4.0, 5.0, 6.0, 7.0], "float32")]
    t = np.tanh(feeds[0])
    t_off = np.nextafter(t, np.float32(2))          # an ulp more: a native tanh might do that
    values = _chain_values(t_off)
    assert differs(_chain_values(t)[-1], values[-1], "float32", RTOL)   # amplified past RTOL
    assert local_divergence(_tanh_chain(), feeds, values) is None


def test_local_check_finds_the_wrong_node() -> None:
    feeds = [np.array([0.5, 1.0, 1.5, 2.0], "float32")]
    values = _chain_values(np.tanh(feeds[0]))
    values[1] = values[1] * np.float32(1.001)
    found = local_divergence(_tanh_chain(), feeds, values)
    assert found is not None and re.match(r"%\d+ = multiply\((%\d+), \1\)", found), found
