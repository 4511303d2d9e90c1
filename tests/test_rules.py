"""Algebraic and layout rules: each fires where it applies, and not where it must not.

A case builds a graph, runs one pass (`gc.optimize(graph, passes=[name])`) and checks from the
report that its rule fired or did not, that the outputs kept their types, and that the
interpreter gives the same values for the graph before and after. Float feeds hold NaN,
infinities, -0.0, negatives and values that overflow when cubed; int feeds hold values that
wrap around and that float32 or float64 cannot hold: a rule firing where it must not shows as
a changed value, not only in the report.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

import graphc as gc
from graphc.ops.linalg import flagged_matmul
from graphc.passes.facts import known_finite, known_nonneg
from graphc.passes.simplify import represents
from graphc.tensor import make
from graphc.testing import check_grad

NAN, INF = float("nan"), float("inf")
FLOATS = [NAN, INF, -INF, -2.5, -0.0, 0.0, 1.0, 3.75, 0.5, 1e30, -7.0, 2.0, 1e-30]
INTS = {"int32": [-3, 0, 1, 2, 100, 7, 2**24 + 1, -(2**20), 5],
        "int64": [-3, 0, 1, 2, 100, 7, 2**53 + 1, -(2**40), 5]}
SYMBOL_SIZE = 3


@dataclass
class Case:
    """A graph built from placeholders of `inputs` (shape, dtype), one pass, one rule."""

    name: str
    pass_: str
    rule: str
    fires: bool
    build: Callable
    inputs: tuple = (((3,), "float32"),)
    exact: bool = True          # values equal bit for bit (else to rounding)
    normal: bool = False        # standard normal floats instead of the special values


def feed(shape, dtype: str, normal: bool, rng) -> np.ndarray:
    shape = tuple(SYMBOL_SIZE if d is None else d for d in shape)
    size = int(np.prod(shape))
    if dtype == "bool":
        return (np.arange(size) % 3 == 0).reshape(shape)
    if dtype in INTS:
        return np.resize(np.array(INTS[dtype], dtype), size).reshape(shape)
    if normal:
        return rng.standard_normal(shape).astype(dtype)
    return np.resize(np.array(FLOATS, dtype), size).reshape(shape)


def f32(x):
    return gc.cast(x, "float32")


def const(value, dtype="float32"):
    return gc.constant(np.asarray(value, dtype))


def raw(op, *inputs, **attrs):
    """A node built as is (the DSL would simplify some of these forms itself)."""
    return make(op, list(inputs), attrs)


I32, I64, B = ((3,), "int32"), ((3,), "int64"), ((3,), "bool")
M23 = ((2, 3), "float32")
SYM = ((None, 3), "float32")

SIMPLIFY = [
    # x + 0, x - 0, x * 1, x / 1: the operand, unless the constant broadcasts it bigger
    Case("x + 0", "simplify", "x + 0", True, lambda x: x + 0.0),
    Case("0 + x", "simplify", "x + 0", True, lambda x: raw("add", const(0), x)),
    Case("x + zeros(2, 3)", "simplify", "x + 0", False, lambda x: x + const(np.zeros((2, 3)))),
    Case("x - 0", "simplify", "x - 0", True, lambda x: x - 0.0),
    Case("0 - x", "simplify", "x - 0", False, lambda x: raw("subtract", const(0), x)),
    Case("x * 1", "simplify", "x * 1", True, lambda x: 1.0 * x, inputs=(SYM,)),
    Case("x * [1, 2, 1]", "simplify", "x * 1", False, lambda x: x * const([1, 2, 1])),
    Case("x / 1", "simplify", "x / 1", True, lambda x: x / 1.0),
    Case("1 / x", "simplify", "x / 1", False, lambda x: 1.0 / x),
    # x - x and x * 0: ints and finite floats only
    Case("int x - x", "simplify", "x - x", True, lambda i: i - i, inputs=(I32,)),
    Case("cast(int) - itself", "simplify", "x - x", True, lambda i: f32(i) - f32(i),
         inputs=(I64,)),
    Case("one_hot - itself", "simplify", "x - x", True,
         lambda i: gc.one_hot(gc.clip(i, 0, 3), 4) - gc.one_hot(gc.clip(i, 0, 3), 4),
         inputs=(((None,), "int64"),)),     # NOTE: clipped: one_hot refuses indices outside [0, 4)
    Case("sigmoid(cast(int)) - itself", "simplify", "x - x", True,
         lambda i: gc.sigmoid(f32(i)) - gc.sigmoid(f32(i)), inputs=(I32,)),
    Case("float x - x", "simplify", "x - x", False, lambda x: x - x),
    Case("x - y", "simplify", "x - x", False, lambda x, y: x - y, inputs=(M23, M23)),
    Case("int x * 0", "simplify", "x * 0", True, lambda i: i * 0, inputs=(I64,)),
    Case("0 * finite x", "simplify", "x * 0", True,
         lambda i: raw("multiply", const(0), gc.tanh(f32(i))[:2]),
         inputs=(I32,)),
    Case("finite constant * zeros((3, 2))", "simplify", "x * 0", True,
         lambda x: raw("multiply", const([1.5, -2.0]), const(np.zeros((3, 2))))),
    Case("float x * 0", "simplify", "x * 0", False, lambda x: x * 0.0),
    Case("exp(cast(int)) * 0", "simplify", "x * 0", False, lambda i: gc.exp(f32(i)) * 0.0,
         inputs=(I32,)),
    Case("cast(f64 -> f32) * 0", "simplify", "x * 0", False,
         lambda i: gc.cast(gc.cast(i, "float64") * 1e300, "float32") * 0.0, inputs=(I32,)),
    # negation
    Case("--x", "simplify", "--x", True, lambda x: -(-x)),
    Case("-x", "simplify", "--x", False, lambda x: -x),
    # exp(log x): x must be known non-negative; log(exp x): always
    *(Case(f"exp(log({name}))", "simplify", "exp(log x)", True,
           lambda x, f=f: gc.exp(gc.log(f(x))), exact=False)
      for name, f in [("exp * 2", lambda x: gc.exp(x) * 2.0), ("sigmoid", gc.sigmoid),
                      ("softplus", gc.softplus), ("relu", gc.relu), ("abs", gc.abs),
                      ("square", gc.square), ("sqrt", gc.sqrt), ("x*x", lambda x: x * x),
                      ("relu + exp", lambda x: gc.relu(x) + gc.exp(x)),
                      ("maximum(x, 0)", lambda x: gc.maximum(x, 0.0)),
                      ("sum of squares", lambda x: gc.sum(x * x, keepdims=True))]),
    Case("exp(log(cast(bool)))", "simplify", "exp(log x)", True,
         lambda b: gc.exp(gc.log(f32(b))), inputs=(B,)),
    Case("exp(log x)", "simplify", "exp(log x)", False, lambda x: gc.exp(gc.log(x))),
    Case("exp(log(x - 1))", "simplify", "exp(log x)", False,
         lambda x: gc.exp(gc.log(gc.exp(x) - 1.0))),
    Case("exp(log(tanh))", "simplify", "exp(log x)", False, lambda x: gc.exp(gc.log(gc.tanh(x)))),
    Case("log(exp x)", "simplify", "log(exp x)", True, lambda x: gc.log(gc.exp(x)),
         inputs=(SYM,), exact=False, normal=True),
    Case("log(x)", "simplify", "log(exp x)", False, lambda x: gc.log(x)),
    # integer powers
    *(Case(f"{dtype} x ** {k}", "simplify", f"x ** {k}", True,
           lambda x, k=k: raw("power", x, const(k, x.dtype)), inputs=(((2, 3), dtype),),
           exact=dtype != "float32" or k == 2)
      for k in (2, 3, 4) for dtype in ("float32", "int32")),
    Case("x ** 1", "simplify", "x ** 1", True, lambda x: raw("power", x, const(1))),
    Case("nan ** 0", "simplify", "x ** 0", True, lambda x: raw("power", x, const(0))),
    Case("int x ** 0 broadcast", "simplify", "x ** 0", True,
         lambda i: raw("power", i, const(np.zeros((2, 3)), "int64")), inputs=(I64,)),
    Case("x ** -1", "simplify", "x ** -1", True, lambda x: raw("power", x, const(-1))),
    Case("x ** 5", "simplify", "x ** 2", False, lambda x: raw("power", x, const(5))),
    Case("x ** 2.5", "simplify", "x ** 2", False, lambda x: raw("power", x, const(2.5))),
    Case("x ** [2, 3, 2]", "simplify", "x ** 2", False,
         lambda x: raw("power", x, const([2, 3, 2]))),
    Case("x ** full((2, 3), 2)", "simplify", "x ** 2", False,
         lambda x: raw("power", x, const(np.full((2, 3), 2)))),
    # division by a constant
    Case("x / 4", "simplify", "x / 2**k", True, lambda x: x / 4.0),
    Case("x / 0.5", "simplify", "x / 2**k", True, lambda x: x / 0.5, inputs=(SYM,)),
    Case("x / [2, -8, 0.25]", "simplify", "x / 2**k", True, lambda x: x / const([2, -8, 0.25])),
    Case("f64 x / 2**-1000", "simplify", "x / 2**k", True, lambda x: x / const(2.0**-1000, "f8"),
         inputs=(((3,), "float64"),)),
    Case("x / 3", "simplify", "x / 2**k", False, lambda x: x / 3.0),
    Case("x / 0.1", "simplify", "x / 2**k", False, lambda x: x / 0.1),
    Case("x / 0", "simplify", "x / 2**k", False, lambda x: x / 0.0),
    Case("x / [2, 3, 4]", "simplify", "x / 2**k", False, lambda x: x / const([2, 3, 4])),
    Case("f32 x / 2**-140", "simplify", "x / 2**k", False, lambda x: x / const(2.0**-140)),
    # casts
    Case("cast to own dtype", "simplify", "cast to own dtype", True,
         lambda x: raw("cast", x, dtype="float32")),
    Case("cast to f64", "simplify", "cast to own dtype", False, lambda x: gc.cast(x, "float64")),
    *(Case(f"{a} -> {b} -> {c}", "simplify", "cast of exact cast", fires,
           lambda x, b=b, c=c: gc.cast(gc.cast(x, b), c), inputs=(((3,), a),))
      for a, b, c, fires in [
          ("float32", "float64", "float32", True), ("int32", "int64", "float64", True),
          ("int32", "float64", "int32", True), ("bool", "float32", "int32", True),
          ("int32", "int64", "int32", True), ("bool", "int32", "float64", True),
          ("float64", "float32", "float64", False), ("int64", "float64", "int64", False),
          ("float32", "int32", "float32", False), ("int32", "float32", "int32", False),
          ("int64", "int32", "int64", False), ("float32", "bool", "float32", False)]),
    # reductions of one element
    Case("sum over a 1", "simplify", "reduce over ones", True,
         lambda x: gc.sum(gc.reshape(x, (3, 1)), axis=1)),
    *(Case(f"{op} of {dtype} over 1s, keepdims", "simplify", "reduce over ones", True,
           lambda x, op=op: getattr(gc, op)(gc.reshape(x, (1, 3, 1)), axis=(0, 2),
                                            keepdims=True), inputs=(((3,), dtype),))
      for op in ("sum", "prod", "max", "min") for dtype in ("int32", "bool", "float32")
      if not (op in ("max", "min") and dtype == "bool")),
    Case("sum over a symbolic dim", "simplify", "reduce over ones", False,
         lambda x: gc.sum(x, axis=0), inputs=(SYM,)),
    Case("max over 2", "simplify", "reduce over ones", False, lambda x: gc.max(x, axis=0),
         inputs=(M23,)),
    # sum of a broadcast
    Case("sum of a broadcast over its new axis", "simplify", "sum of broadcast", True,
         lambda x: gc.sum(gc.broadcast_to(x, (4, 3)), axis=0)),
    Case("sum of a broadcast over a symbolic new axis", "simplify", "sum of broadcast", True,
         lambda x, y: gc.sum(gc.broadcast_to(x, y.shape), axis=0), inputs=(((3,), "int32"), SYM)),
    Case("sum of a broadcast over every axis", "simplify", "sum of broadcast", True,
         lambda x: gc.sum(gc.broadcast_to(gc.reshape(x, (1, 3, 1)), (4, 3, 5))),
         exact=False),
    Case("sum of a bool broadcast, keepdims", "simplify", "sum of broadcast", True,
         lambda b: gc.sum(gc.broadcast_to(gc.reshape(b, (3, 1)), (3, 6)), 1, keepdims=True),
         inputs=(B,)),
    Case("sum of a broadcast over x's own axis", "simplify", "sum of broadcast", False,
         lambda x: gc.sum(gc.broadcast_to(x, (4, 2, 3)), axis=1), inputs=(M23,)),
    Case("sum of a broadcast of a symbolic dim", "simplify", "sum of broadcast", False,
         lambda x: gc.sum(gc.broadcast_to(gc.reshape(x, (-1, 1, 3)), (x.shape[0], 2, 3)), 0),
         inputs=(SYM,)),
    Case("sum of a broadcast over an empty axis", "simplify", "sum of broadcast", False,
         lambda x: gc.sum(gc.broadcast_to(x, (0, 3)), axis=0)),
    # reshapes
    Case("reshape of reshape", "simplify", "reshape of reshape", True,
         lambda x: gc.reshape(gc.reshape(x, (6,)), (3, 2)), inputs=(M23,)),
    Case("reshape", "simplify", "reshape of reshape", False, lambda x: gc.reshape(x, (6,)),
         inputs=(M23,)),
]

A34, B45, X3 = ((3, 4), "float32"), ((4, 5), "float32"), ((2, 3, 4), "float32")
LAYOUT = [
    Case("transpose of transpose", "layout", "transpose of transpose", True,
         lambda x: gc.transpose(gc.transpose(x, (1, 2, 0)), (2, 0, 1)), inputs=(X3,)),
    Case("transpose of transpose (not the identity)", "layout", "transpose of transpose", True,
         lambda x: gc.transpose(gc.transpose(x, (1, 2, 0)), (1, 0, 2)), inputs=(X3,)),
    Case("transpose", "layout", "transpose of transpose", False, lambda x: gc.transpose(x),
         inputs=(X3,)),
    Case("a.T @ b", "layout", "transpose into matmul", True, lambda a, b: a.T @ b,
         inputs=(((4, 3), "float32"), B45), normal=True),
    Case("a @ b.T", "layout", "transpose into matmul", True, lambda a, b: a @ b.T,
         inputs=(A34, ((5, 4), "float32")), normal=True),
    Case("a.T @ b.T, symbolic", "layout", "transpose into matmul", True, lambda a, b: a.T @ b.T,
         inputs=(((4, None), "float32"), ((5, 4), "float32")), normal=True),
    Case("batched swapaxes @ b", "layout", "transpose into matmul", True,
         lambda a, b: gc.swapaxes(a, -1, -2) @ b, inputs=(((2, 4, 3), "float64"),
                                                          ((4, 5), "float64")), normal=True),
    Case("a.T @ a, symbolic", "layout", "transpose into matmul", True, lambda a: a.T @ a,
         inputs=(SYM,), normal=True),
    Case("transpose meets a set flag", "layout", "transpose into matmul", True,
         lambda a, b: flagged_matmul(a.T, b, transpose_a=True), inputs=(A34, B45), normal=True),
    Case("batch axes permuted", "layout", "transpose into matmul", False,
         lambda a, b: gc.transpose(a, (1, 0, 2)) @ b,
         inputs=(((3, 2, 4), "float32"), B45), normal=True),
    Case("all axes reversed", "layout", "transpose into matmul", False,
         lambda a, b: gc.transpose(a) @ b, inputs=(((4, 2, 2), "float32"), B45), normal=True),
    Case("a @ b", "layout", "transpose into matmul", False, lambda a, b: a @ b,
         inputs=(A34, B45), normal=True),
    Case("(a @ b).T", "layout", "transpose of matmul", True, lambda a, b: (a @ b).T,
         inputs=(A34, B45), normal=True),
    Case("(a.T @ b).T, batched", "layout", "transpose of matmul", True,
         lambda a, b: gc.swapaxes(flagged_matmul(a, b, transpose_a=True), -1, -2),
         inputs=(((2, 4, 3), "float32"), ((2, 4, 5), "float32")), normal=True),
    Case("(a @ b).T and a @ b", "layout", "transpose of matmul", False,
         lambda a, b: [(a @ b).T, a @ b], inputs=(A34, B45), normal=True),
    Case("(a @ b) permuted", "layout", "transpose of matmul", False,
         lambda a, b: gc.transpose(a @ b, (1, 0, 2)), inputs=(X3, B45), normal=True),
]

CASES = SIMPLIFY + LAYOUT


def build(case: Case) -> tuple[gc.Graph, list[np.ndarray]]:
    xs = [gc.placeholder(shape, dtype, name=f"in{i}") for i, (shape, dtype) in
          enumerate(case.inputs)]
    outputs = case.build(*xs)
    rng = np.random.default_rng(0)
    feeds = [feed(shape, dtype, case.normal, rng) for shape, dtype in case.inputs]
    return gc.Graph(xs, outputs if isinstance(outputs, list) else [outputs]), feeds


def assert_same_values(before: gc.Graph, after: gc.Graph, feeds, exact: bool) -> None:
    with np.errstate(all="ignore"):
        want = gc.compile(before, optimize=False)(*feeds)
        got = gc.compile(after, optimize=False)(*feeds)
    for w, g in zip(want, got):
        assert w.dtype == g.dtype and w.shape == g.shape
        if exact:
            np.testing.assert_array_equal(g, w)
        else:
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rule(case: Case) -> None:
    graph, feeds = build(case)
    new, report = gc.optimize(graph, passes=[case.pass_])
    assert (report.fired[case.rule] > 0) == case.fires, dict(report.fired)
    assert [t.type for t in new.outputs] == [t.type for t in graph.outputs]
    assert_same_values(graph, new, feeds, case.exact)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_default_pipeline_converges_and_keeps_values(case: Case) -> None:
    graph, feeds = build(case)
    new, _ = gc.optimize(graph)
    assert_same_values(graph, new, feeds, exact=False)


# ---- what a firing rule leaves ----------------------------------------------------------------

def optimized(outputs, inputs, passes) -> gc.Graph:
    return gc.optimize(gc.Graph(inputs, outputs), passes=passes)[0]


def test_fired_rules_leave_no_work_behind() -> None:
    x = gc.placeholder((None, 3), "float32", name="x")
    i = gc.placeholder((None, 3), "int32", name="i")
    graph = optimized([raw("power", x, const(4)), x / 8.0, f32(i) - f32(i),
                       gc.sum(gc.broadcast_to(x, (5,) + x.shape), axis=0)], [x, i],
                      ["simplify"])
    fourth, eighth, zeros, total = graph.outputs
    assert fourth.op == "multiply" and fourth.inputs[0] is fourth.inputs[1]
    assert fourth.inputs[0].inputs == (x, x)                     # (x*x) * (x*x): two products
    assert eighth.op == "multiply" and eighth.inputs[1].value == np.float32(0.125)
    assert zeros.op == "broadcast_to" and zeros.inputs[0].value == 0
    assert total.op == "multiply" and total.inputs == (x, total.inputs[1])
    assert total.inputs[1].value == 5


def test_matmul_flags_replace_every_transpose() -> None:
    a = gc.placeholder((None, 3), "float32", name="a")
    w = gc.variable(np.ones((4, 3), np.float32), name="w")
    y = gc.sum(gc.tanh(a @ w.T))
    # NOTE: the first run rebuilds w's gradient product, whose users it then cannot know; the
    # second moves the transpose of that product into its flags.
    graph = optimized(gc.grad(y, [a, w]) + [y], [a], ["layout", "layout"])
    assert not [n for n in graph.nodes if n.op == "transpose"]
    flags = {(n.attrs["transpose_a"], n.attrs["transpose_b"]) for n in graph.nodes
             if n.op == "matmul"}
    assert flags == {(False, True), (False, False), (True, False)}


def test_log_of_exp_removes_the_overflow() -> None:
    x = gc.placeholder((3,), "float32", name="x")
    y = gc.log(gc.exp(x))
    xv = np.array([100.0, -200.0, 1.0], np.float32)
    with np.errstate(all="ignore"):
        plain = gc.compile([x], y, optimize=False)(xv)
    assert np.isinf(plain[:2]).all()
    np.testing.assert_allclose(gc.compile([x], y)(xv), xv)


def test_negative_int_power_is_left_to_fail_at_run_time() -> None:
    i = gc.placeholder((3,), "int64", name="i")
    graph = gc.Graph([i], [raw("power", i, const(-1, "int64"))])
    new, report = gc.optimize(graph, passes=["simplify"])
    assert report.fired["x ** -1"] == 0
    for g in (graph, new):
        with pytest.raises(ValueError, match="negative integer powers"):
            gc.compile(g, optimize=False)(np.array([1, 2, 3]))


# ---- the facts rules rely on ------------------------------------------------------------------

def _facts_cases():
    x = gc.placeholder((3,), "float32", name="x")
    i = gc.placeholder((3,), "int32", name="i")
    return [  # node, known finite, known non-negative
        (x, False, False),
        (const([1.0, -2.0]), True, False),
        (const([1.0, INF]), False, True),
        (const([NAN, 2.0]), False, True),
        (f32(i), True, False),
        (f32(i > 0), True, True),
        (gc.exp(x), False, True),
        (gc.sigmoid(x), False, True),
        (gc.sigmoid(f32(i)), True, True),
        (gc.tanh(f32(i)) * 2.0, False, False),     # a product may overflow
        (gc.one_hot(i, 3), True, True),
        (gc.sqrt(x), False, True),
        (gc.rsqrt(x), False, False),               # rsqrt(-0.0) = -inf
        (gc.reciprocal(gc.exp(x)), False, False),
        (gc.square(i), True, False),               # int squares wrap around
        (gc.cast(gc.cast(i, "float64"), "float32"), False, False),   # f64 -> f32 narrows
        (gc.where(x > 0, f32(i), 1.0), True, False),
        (gc.pad(f32(i), 1, INF), False, False),
        (gc.pad(f32(i), 1, 0.0), True, False),
        (gc.maximum(x, 0.0), False, True),
        (gc.sum(gc.abs(x)), False, True),
        (gc.sum(gc.abs(i)), True, False),          # |int32 min| wraps
        (gc.random_uniform((3,), gc.random_state(0)), True, True),
    ]


def test_known_finite_and_known_nonneg() -> None:
    for node, finite, nonneg in _facts_cases():
        assert (known_finite(node), known_nonneg(node)) == (finite, nonneg), node


@pytest.mark.parametrize("wide, narrow, exact", [
    ("float64", "float32", True), ("float32", "float64", False),
    ("int64", "int32", True), ("int32", "int64", False),
    ("float64", "int32", True), ("float32", "int32", False), ("float64", "int64", False),
    ("int64", "float32", False), ("float32", "bool", True), ("bool", "int32", False),
    ("int32", "int32", True),
])
def test_represents(wide, narrow, exact) -> None:
    assert represents(wide, narrow) == exact


# ---- matmul with transposed operands ----------------------------------------------------------

FLAGS = [(False, False), (False, True), (True, False), (True, True)]
SHAPES = [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (3, 4, 5))]


def _operand(shape, transposed):
    return shape[:-2] + (shape[-1], shape[-2]) if transposed else shape


@pytest.mark.parametrize("flags", FLAGS)
@pytest.mark.parametrize("shapes", SHAPES)
def test_flagged_matmul_matches_numpy(flags, shapes) -> None:
    rng = np.random.default_rng(1)
    (ta, tb), (sa, sb) = flags, shapes
    av = rng.standard_normal(_operand(sa, ta))
    bv = rng.standard_normal(_operand(sb, tb))
    a = gc.placeholder(av.shape, "float64", name="a")
    b = gc.placeholder(bv.shape, "float64", name="b")
    y = flagged_matmul(a, b, ta, tb)
    want = np.matmul(av.swapaxes(-1, -2) if ta else av, bv.swapaxes(-1, -2) if tb else bv)
    assert y.shape == want.shape
    np.testing.assert_allclose(gc.compile([a, b], y)(av, bv), want, rtol=1e-12)


@pytest.mark.parametrize("flags", FLAGS)
@pytest.mark.parametrize("shapes", SHAPES[:2] + [((2, 1, 3, 4), (4, 5))])
def test_flagged_matmul_gradient(flags, shapes) -> None:
    rng = np.random.default_rng(2)
    (ta, tb), (sa, sb) = flags, shapes
    args = [rng.standard_normal(_operand(sa, ta)), rng.standard_normal(_operand(sb, tb))]
    check_grad(lambda a, b: flagged_matmul(a, b, ta, tb), args)


def test_flagged_matmul_shape_errors_name_the_flags() -> None:
    a = gc.placeholder((3, 4), "float32", name="a")
    with pytest.raises(gc.ShapeError, match=r"\(transpose_a, transpose_b\)"):
        flagged_matmul(a, a, transpose_a=True, transpose_b=True)
    assert flagged_matmul(a, a, transpose_a=True).shape == (4, 4)
    assert flagged_matmul(a, a, transpose_b=True).shape == (3, 3)
    with pytest.raises(gc.GraphError, match="transpose_a"):
        make("matmul", [a, a], {"transpose_a": 1})


def test_flags_print_when_set_and_parse_back() -> None:
    a = gc.placeholder((None, 3), "float32", name="a")
    b = gc.placeholder((4, 3), "float32", name="b")
    graph = gc.Graph([a, b], [flagged_matmul(a, b, transpose_b=True), a @ b.T])
    text = str(graph)
    assert "matmul(%a, %b) {transpose_b=True} : f32[?1,4]" in text
    assert "transpose_a" not in text and "transpose_b=False" not in text   # defaults left out
    assert str(gc.parse(text)) == text
