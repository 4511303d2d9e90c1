"""Verify mode: the interpreter checks every pass; a wrong rule is named with its pass and node.

Wrong rules are injected the way a compiler bug would arrive: a temporary pass, or one bad
rule added to a copy of simplify's rule set. Correct pipelines must pass on the example models
(random feeds, symbolic dims, int inputs, random ops) without touching their variables.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc.errors import FeedError, VerifyError
from graphc.passes import PASSES, simplify
from graphc.passes.manager import Pass, rule_pass
from graphc.passes.verify import random_feeds
from graphc.pattern import P, RuleSet
from tests.ir_models import example_feeds, example_graphs

TRIPLE = (P("multiply", P.var("x"), P.const(2)), lambda x: x + x + x, "x*2 is x+x+x")


def line_of(marker: str) -> str:
    """`file:line` of the line of this file that ends with the comment `marker`."""
    lines = Path(__file__).read_text().splitlines()
    (number,) = [n for n, text in enumerate(lines, 1) if text.endswith(marker)]
    return f"{__file__}:{number}"


@pytest.fixture
def wrong_pass(monkeypatch) -> str:
    monkeypatch.setitem(PASSES, "triple", rule_pass("triple", RuleSet([TRIPLE]), "Wrong."))
    return "triple"


def doubled_exp() -> tuple[gc.Tensor, gc.Tensor]:
    x = gc.placeholder((None, 3), "float32", name="x")
    doubled = x * 2.0                                       # the doubled node
    return x, gc.exp(doubled) + 1.0


def test_a_wrong_rule_is_named_with_its_pass_and_node(wrong_pass) -> None:
    x, y = doubled_exp()
    feeds = [np.array([[-1, 0, 0.5], [1, 2, 3]], np.float32)]       # 2 * 0 == 3 * 0
    with pytest.raises(VerifyError) as caught:
        gc.optimize(gc.Graph([x], [y]), ["fold", wrong_pass, "simplify"], verify=feeds)
    message = str(caught.value)
    first, second = message.splitlines()
    assert first.startswith("pass triple changed output 0 (add f32[?1,3] at ")
    assert "values differ" in first
    where = line_of("# the doubled node")
    assert second == (f"  rule 'x*2 is x+x+x' replaced multiply f32[?1,3] at {where} by add "
                      f"f32[?1,3]: -2.0 became -3.0 at [0, 0] (5 of 6 values differ)")


def test_compile_verify_uses_random_feeds(wrong_pass) -> None:
    x, y = doubled_exp()
    with pytest.raises(VerifyError, match=r"(?s)pass triple changed output 0.*rule 'x\*2 is"):
        gc.compile([x], y, optimize=[wrong_pass], verify=True, backend="numpy")
    step = gc.compile([x], y, verify=True, backend="numpy")   # the default pipeline is right
    data = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(step(data), np.exp(2 * data) + 1, rtol=1e-6)


def test_a_wrong_rule_in_the_default_pipeline(monkeypatch) -> None:
    """One bad rule appended to a copy of simplify's rules: the default pipeline names it."""
    rules = simplify.RULES + RuleSet([TRIPLE])
    monkeypatch.setitem(PASSES, "simplify", rule_pass("simplify", rules, "Wrong copy."))
    x, y = doubled_exp()
    with pytest.raises(VerifyError, match=r"(?s)^pass simplify changed .*x\*2 is x\+x\+x"):
        gc.optimize(gc.Graph([x], [y]), verify=True)
    _, report = gc.optimize(gc.Graph([x], [y]))             # unverified, the bug goes through
    assert report.fired["x*2 is x+x+x"] == 1


def test_a_wrong_rule_inside_a_scan_body(monkeypatch) -> None:
    half = (P("tanh", P.var("x")), lambda x: x * 0.5, "tanh is half")
    monkeypatch.setitem(PASSES, "half", rule_pass("half", RuleSet([half]), "Wrong."))
    xs = gc.placeholder((5, None, 3), "float32", name="xs")
    h0 = gc.placeholder((None, 3), "float32", name="h0")
    last, _ = gc.scan(lambda h, x: (gc.tanh(x + h), h), h0, xs)   # the loop body
    with pytest.raises(VerifyError) as caught:
        gc.optimize(gc.Graph([xs, h0], [last]), ["half"], verify=True)
    first, second = str(caught.value).splitlines()
    assert first.startswith("pass half changed output 0 (scan_result f32[")
    assert second == (f"  rule 'tanh is half' replaced tanh f32[?1,3] at "
                      f"{line_of('# the loop body')} by multiply f32[?1,3] inside a subgraph")


def test_passes_that_drop_results_or_break_the_graph(monkeypatch) -> None:
    W = gc.variable(np.ones(3, np.float32), name="W")
    x = gc.placeholder((None, 3), "float32", name="x")
    graph = gc.Graph([x], [gc.sum(x * W), gc.mean(x)], [(W, W - 0.1 * gc.sum(x, axis=0))])

    def drop_updates(g, fired, log):
        return gc.Graph(g.inputs, g.outputs)

    def drop_an_output(g, fired, log):
        return gc.Graph(g.inputs, g.outputs[:1], g.updates)

    def log_of_zero(g, fired, log):
        return gc.Graph(g.inputs, [gc.log(o - o) + o for o in g.outputs], g.updates)

    cases = [(drop_updates, r"changed the update of W \(subtract f32\[3\] at .*\), dropped: "),
             (drop_an_output, "changed which outputs and updates the graph has: 2 outputs "
                              "became 1"),
             (log_of_zero, r"changed output 0 \(sum f32\[\] at .*\): .* became -inf")]
    for fn, message in cases:
        monkeypatch.setitem(PASSES, fn.__name__, Pass(fn.__name__, fn, "Wrong."))
        with pytest.raises(VerifyError, match=f"^pass {fn.__name__} {message}"):
            gc.optimize(graph, [fn.__name__], verify=True)


def test_a_dropped_no_op_update_is_fine() -> None:
    W = gc.variable(np.ones(3, np.float32), name="W")
    V = gc.variable(np.zeros(3, np.float32), name="V")
    x = gc.placeholder((None, 3), "float32", name="x")
    graph = gc.Graph([x], [gc.sum(x * W)], [(W, W), (V, V + gc.mean(x, axis=0))])
    optimized, report = gc.optimize(graph, verify=True)
    assert report.fired["no-op update"] == 1 and len(optimized.updates) == 1


@pytest.mark.parametrize("name", sorted(example_graphs()))
def test_the_pipeline_verifies_on_the_example_models(name) -> None:
    """MLP, XOR, CNN (dropout's random state), RNN (scan): right passes raise nothing, on random
    and on given feeds, and verifying assigns no variable."""
    graph = example_graphs()[name]
    variables = [var for var, _ in graph.updates]
    values = [np.array(var.value) for var in variables]
    feeds = example_feeds(graph)
    expected = gc.compile(graph, backend="numpy", optimize=False)(*[f.copy() for f in feeds])
    for var, value in zip(variables, values):
        var.value = value.copy()
    for verify in (True, feeds):
        gc.optimize(graph, verify=verify)
        for var, value in zip(variables, values):
            np.testing.assert_array_equal(var.value, value, err_msg=var.name)
    got = gc.compile(graph, backend="numpy", verify=feeds)(*feeds)   # the step still runs as before
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-6)


def test_random_feeds_respect_symbolic_dims_and_dtypes() -> None:
    x = gc.placeholder(("n", 4), "float32", name="x")
    labels = gc.placeholder(("n",), "int64", name="labels")
    mask = gc.placeholder((None, 4), "bool", name="mask")          # equal to n by the where
    bias = gc.placeholder((None,), "float64", name="bias")         # 1 or 4: broadcast to x
    scaled = gc.where(mask, x, 0.0) * gc.cast(bias, "float32")
    flat = gc.reshape(scaled[1:], (-1,))                           # a derived dim: 4 (n - 1)
    loss = gc.mean(gc.losses.cross_entropy(scaled, labels))
    graph = gc.Graph([x, labels, mask, bias], [flat, loss])
    feeds = random_feeds(graph)
    assert [(f.dtype.name, f.shape) for f in feeds] == [
        ("float32", (3, 4)), ("int64", (3,)), ("bool", (3, 4)), ("float64", (4,))]
    assert set(np.unique(feeds[1])) <= {0, 1} and feeds[2].any() and not feeds[2].all()
    flat_value, loss_value = gc.compile(graph, backend="numpy", optimize=False)(*feeds)
    assert flat_value.shape == (8,) and np.isfinite(loss_value)
    gc.optimize(graph, verify=True)


def test_a_wrong_rule_on_ints_with_symbolic_dims(monkeypatch) -> None:
    bad = (P("add", P.var("x"), P.var("x")), lambda x: x * 3, "x+x is 3x")
    monkeypatch.setitem(PASSES, "bad", rule_pass("bad", RuleSet([bad]), "Wrong."))
    i = gc.placeholder(("n",), "int32", name="i")
    table = gc.variable(np.arange(16, dtype=np.float32).reshape(8, 2), name="table")
    rows = gc.take(table, i + i, axis=0)
    with pytest.raises(VerifyError, match=r"(?s)pass bad .*rule 'x\+x is 3x' replaced add i32"):
        gc.optimize(gc.Graph([i], [rows]), ["bad"], verify=[np.array([0, 1], np.int32)])
    with pytest.raises(VerifyError, match=r"(?s)pass bad made the graph fail: IndexRangeError.*\n"
                                          r"  rule 'x\+x is 3x' replaced add i32\[n\] at "):
        gc.optimize(gc.Graph([i], [rows]), ["bad"], verify=[np.array([3, 3], np.int32)])


def test_verify_reports_bad_feeds_clearly() -> None:
    x, y = doubled_exp()
    graph = gc.Graph([x], [y])
    with pytest.raises(FeedError, match="verify takes True .* a list with one array per "
                                        "input, got dict"):
        gc.optimize(graph, verify={"x": np.ones((2, 3), np.float32)})
    with pytest.raises(FeedError, match=r"^verify: expected 1 inputs \(x\), got 2"):
        gc.optimize(graph, verify=[np.ones((2, 3), np.float32)] * 2)
    with pytest.raises(FeedError, match="^verify: input 'x' expects f32"):
        gc.optimize(graph, verify=[np.ones((2, 3), np.float64)])
    table = gc.variable(np.ones((1, 2), np.float32), name="table")
    i = gc.placeholder((None,), "int64", name="i")
    with pytest.raises(VerifyError, match=r"fails on the random feeds .*before any pass ran: "
                                          r"IndexRangeError: .*give feeds as verify=\[\.\.\.\]"):
        gc.optimize(gc.Graph([i], [gc.take(table, i, axis=0)]), verify=True)


def test_verifying_leaves_random_state_alone() -> None:
    state = gc.random_state(11, name="rng")
    x = gc.placeholder((None, 4), "float32", name="x")
    noise = gc.random_normal_like(x, state) * 1.0
    graph = gc.Graph([x], [gc.dropout(x, 0.5, state) + noise],
                     [(state, gc.next_random_state(state))])
    before = np.array(state.value)
    _, report = gc.optimize(graph, verify=True)
    np.testing.assert_array_equal(state.value, before)
    assert isinstance(report.fired, Counter)
