"""Fusion: the partition is acyclic, valid and maximal; fused graphs compute what they did,
print, parse and render."""
from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

import graphc as gc
from benchmarks.training_steps import MODELS
from graphc.ops.fused import is_epilogue_anchor, is_prologue_anchor
from graphc.passes import group_dag
from graphc.passes.fusion_groups import partition
from graphc.passes.group_dag import GroupDag
from graphc.passes.manager import DEFAULT, elementwise_kernels
from graphc.printing import stored_arrays
from graphc.registry import OPS, Kind
from tests.ir_models import rnn_graph
from tests.test_render import Picture, needs_dot

LEAVES = ("placeholder", "variable", "constant")


# ---- what a partition must be, checked independently of how fusion_groups builds it ----------

def is_elementwise(node) -> bool:
    return OPS[node.op].kind is Kind.ELEMENTWISE


def fusible(p, c) -> bool:
    """Edges groups grow along: elementwise -> elementwise, anchor -> epilogue, prologue ->
    reduction."""
    return ((is_elementwise(p) and is_elementwise(c))
            or (is_elementwise(p) and is_prologue_anchor(c.op))
            or (is_epilogue_anchor(p.op) and is_elementwise(c)))


def valid_group(members, dims) -> bool:
    """One loop shape for the elementwise members, at most one anchor, before or after them,
    connected along fusible edges."""
    ids = {id(m) for m in members}
    elementwise = [m for m in members if is_elementwise(m)]
    anchors = [m for m in members if not is_elementwise(m)]
    loops = {dims.resolve_shape(m.shape) for m in elementwise}
    if len(anchors) > 1 or len(loops) != 1:
        return False
    links = nx.Graph()
    links.add_nodes_from(ids)
    links.add_edges_from((id(i), id(m)) for m in members for i in m.inputs
                         if id(i) in ids and fusible(i, m))
    if not nx.is_connected(links):
        return False
    if not anchors:
        return True
    (a,) = anchors
    loop = loops.pop()
    epilogue = (is_epilogue_anchor(a.op) and dims.resolve_shape(a.shape) == loop
                and not any(id(i) in ids for i in a.inputs))
    prologue = (is_prologue_anchor(a.op) and dims.resolve_shape(a.inputs[0].shape) == loop
                and not any(i is a for m in members for i in m.inputs))
    return epilogue or prologue


def unit_map(graph, groups) -> dict[int, int]:
    """id(node) -> its group's number (a node in no group is a group of its own)."""
    unit = {id(m): k for k, g in enumerate(groups) for m in g}
    for n in graph.nodes:
        unit.setdefault(id(n), len(unit) + len(groups))
    return unit


def acyclic(graph, groups) -> bool:
    unit = unit_map(graph, groups)
    condensed = nx.DiGraph()
    condensed.add_nodes_from(unit.values())
    condensed.add_edges_from((unit[id(i)], unit[id(n)]) for n in graph.nodes for i in n.inputs
                             if unit[id(i)] != unit[id(n)])
    return nx.is_directed_acyclic_graph(condensed)


def check_partition(graph) -> list:
    """The groups of graph, after checking they are valid, acyclic and maximal."""
    groups = [list(g.members) for g in partition(graph)]
    assert acyclic(graph, groups)
    seen = set()
    for g in groups:
        assert len(g) > 1 and valid_group(g, graph.dims)
        assert not seen & {id(m) for m in g}
        seen |= {id(m) for m in g}
        assert all(m.op not in LEAVES for m in g)
    group_of = {id(m): k for k, g in enumerate(groups) for m in g}
    for c in graph.nodes:
        for p in c.inputs:
            if p.op in LEAVES or not fusible(p, c):
                continue
            a, b = group_of.get(id(p)), group_of.get(id(c))
            if a is not None and a == b:
                continue
            merged = (groups[a] if a is not None else [p]) + (groups[b] if b is not None
                                                               else [c])
            rest = [g for k, g in enumerate(groups) if k not in (a, b)]
            assert not (valid_group(merged, graph.dims) and acyclic(graph, rest + [merged])), \
                f"{p.op} -> {c.op} could still be fused"
    return groups


def run(graph, feeds) -> list[np.ndarray]:
    """Outputs and new variable values of one call, variables restored afterwards."""
    saved = [v.value.copy() for v in graph.variables]
    outputs = gc.compile(graph, optimize=False)(*feeds)
    new = [v.value.copy() for v in graph.variables]
    for v, value in zip(graph.variables, saved):
        v.value = value
    return list(outputs) + new


def fuse(graph) -> gc.Graph:
    return gc.optimize(graph, ["fusion"])[0]


def fused_nodes(graph, kind=None) -> list:
    return [n for n in graph.nodes if n.op == "fused" and kind in (None, n.attrs["kind"])]


def members(node) -> list[str]:
    return [n.op for n in node.attrs["body"].nodes if n.op not in ("placeholder", "constant")]


# ---- random graphs ------------------------------------------------------------------------------

UNARY = [gc.exp, gc.tanh, gc.relu, gc.sigmoid, gc.neg, gc.square, gc.abs, gc.stop_gradient]
BINARY = [gc.add, gc.subtract, gc.multiply, gc.maximum]


def _grow(data, pool: list, v, state) -> None:
    pick = lambda: pool[data.draw(st.integers(0, len(pool) - 1))]  # noqa: E731
    a, b = pick(), pick()
    kind = data.draw(st.sampled_from(["unary", "unary", "binary", "binary", "reduce", "matmul",
                                      "layout", "where", "scalar", "random", "cast"]))
    try:
        if kind == "unary":
            out = data.draw(st.sampled_from(UNARY))(a)
        elif kind == "binary":
            out = data.draw(st.sampled_from(BINARY))(a, b)
        elif kind == "reduce":
            fn = data.draw(st.sampled_from([gc.sum, gc.max, gc.mean]))
            axis = data.draw(st.integers(-a.ndim, a.ndim - 1)) if a.ndim else None
            out = fn(a, axis=axis, keepdims=data.draw(st.booleans()))
        elif kind == "matmul":
            out = a @ v
        elif kind == "layout":
            out = gc.transpose(a) if data.draw(st.booleans()) else gc.reshape(a, (-1,))
        elif kind == "where":
            out = gc.where(a > 0.5, a, b)
        elif kind == "scalar":
            out = a * data.draw(st.sampled_from([0.5, -2.0, 3.0]))
        elif kind == "random":
            out = a + gc.random_uniform_like(a, state)
        else:
            out = gc.cast(gc.cast(a, "float64") * 1.5, "float32")
    except gc.GraphcError:
        return
    pool.append(out)


def random_graph(data) -> tuple[gc.Graph, list[np.ndarray]]:
    """Elementwise chains with broadcasting, reductions, matmuls, layout ops and random draws
    over a symbolic batch dim, with a gradient update half the time."""
    x = gc.placeholder((None, 4), "float32", name="x")
    z = gc.placeholder((4,), "float32", name="z")
    v = gc.variable(np.linspace(-1, 1, 16, dtype=np.float32).reshape(4, 4), name="v")
    state = gc.random_state(3, name="rng")
    pool = [x, z, v, x @ v]
    for _ in range(data.draw(st.integers(2, 14))):
        _grow(data, pool, v, state)
    outputs = [pool[-1], pool[data.draw(st.integers(3, len(pool) - 1))]]
    updates = []
    if data.draw(st.booleans()):
        loss = gc.sum(pool[-1] * pool[-1])
        updates = [(v, v - 0.1 * gc.grad(loss, v))]
    feeds = [np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4),
             np.array([0.5, -1.0, 2.0, 0.25], np.float32)]
    try:
        return gc.Graph([x, z], outputs, updates), feeds
    except gc.ShapeError:
        reject()


def _check_random(data) -> None:
    graph, feeds = random_graph(data)
    try:
        want = run(graph, feeds)
    except gc.FeedError:          # ops assumed the batch dim is 4 (or 1), the feeds give 3
        reject()
    groups = check_partition(graph)
    fused = fuse(graph)
    assert len(fused_nodes(fused)) <= len(groups)
    for want, have in zip(want, run(fused, feeds)):
        assert np.array_equal(want, have, equal_nan=True)
    assert str(gc.parse(str(fused), stored_arrays(fused))) == str(fused)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_partitions_are_acyclic_valid_maximal_and_exact(data) -> None:
    _check_random(data)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_many_random_partitions(data) -> None:
    _check_random(data)


# ---- epilogues, prologues and what is never fused -----------------------------------------------

def test_bias_and_activation_after_a_matmul_are_its_epilogue() -> None:
    x = gc.placeholder((None, 8), name="x")
    W = gc.variable(np.ones((8, 4), np.float32), name="W")
    b = gc.variable(np.zeros(4, np.float32), name="b")
    graph = gc.Graph([x], [gc.tanh(x @ W + b)])
    (group,) = check_partition(graph)
    assert [n.op for n in group] == ["matmul", "add", "tanh"]
    (node,) = fused_nodes(fuse(graph), "epilogue")
    assert list(node.inputs) == [x, W, b] and members(node) == ["matmul", "add", "tanh"]


def test_softmax_folds_its_exp_into_the_sum() -> None:
    x = gc.placeholder((None, 10), name="x")
    graph = gc.Graph([x], [gc.softmax(x * 2.0)])
    fused = fuse(graph)
    # x * 2 feeds the max, x * 2 - max the exp, which feeds the sum: two prologues
    first, second = fused_nodes(fused, "prologue")
    assert members(first) == ["multiply", "max"]
    prologue = second
    assert members(prologue) == ["subtract", "exp", "sum"]
    # the exp is also read by the division: a second result of the group
    assert len(prologue.attrs["body"].outputs) == 2
    feeds = [np.random.default_rng(0).standard_normal((5, 10)).astype(np.float32)]
    np.testing.assert_array_equal(run(graph, feeds)[0], run(fused, feeds)[0])


@pytest.mark.parametrize("build, ops", [
    (lambda x: gc.sum(gc.square(x - 1.0), axis=1), ["subtract", "square", "sum"]),
    (lambda x: gc.max(gc.abs(x), axis=0, keepdims=True), ["abs", "max"]),
])
def test_elementwise_producers_fold_into_reductions(build, ops) -> None:
    x = gc.placeholder((None, 6), name="x")
    (node,) = fused_nodes(fuse(gc.Graph([x], [build(x)])), "prologue")
    assert members(node) == ops


@pytest.mark.parametrize("reduce", ["sum", "prod", "max", "min", "argmax", "argmin"])
def test_every_reduction_runs_its_prologue_natively(reduce: str) -> None:
    """The llvm backend lowers each reduction's prologue, storing the member the graph reads."""
    x = gc.placeholder((None, 6), name="x")
    h = gc.exp(x - 1.0)
    graph = gc.Graph([x], [getattr(gc, reduce)(h, axis=1), h])
    (node,) = fused_nodes(fuse(graph), "prologue")
    assert members(node) == ["subtract", "exp", reduce]
    feeds = [np.random.default_rng(1).standard_normal((5, 6)).astype(np.float32)]
    native = gc.compile(graph, backend="llvm")(*feeds)
    for got, want in zip(native, run(graph, feeds)):
        np.testing.assert_allclose(got, want, rtol=1e-5)
        assert got.dtype == want.dtype


def test_layer_norm_statistics_take_their_prologues() -> None:
    x = gc.placeholder((None, 16), name="x")
    graph = gc.Graph([x], [gc.layer_norm(x)])
    groups = check_partition(graph)
    squares = [g for g in groups if {"square", "sum"} <= {n.op for n in g}]
    assert len(squares) == 1 and squares[0][-1].op == "sum"      # var's sum of squares
    fused = fuse(graph)
    feeds = [np.random.default_rng(1).standard_normal((4, 16)).astype(np.float32)]
    np.testing.assert_array_equal(run(graph, feeds)[0], run(fused, feeds)[0])


def test_a_reduction_takes_a_prologue_or_an_epilogue_never_both() -> None:
    x = gc.placeholder((None, 6), name="x")
    graph = gc.Graph([x], [gc.exp(gc.sum(gc.square(x), axis=1)) * 2.0])
    groups = check_partition(graph)
    assert [[n.op for n in g] for g in groups] == [["square", "sum"], ["exp", "multiply"]]


@pytest.mark.parametrize("build, groups", [
    (lambda x, s: gc.relu(gc.transpose(gc.exp(x))), []),                      # layout
    (lambda x, s: gc.exp(x)[1:] * 2.0, []),                                   # slicing
    (lambda x, s: gc.tanh(gc.concatenate([gc.exp(x), x], axis=0)), []),       # concatenation
    (lambda x, s: gc.exp(gc.exp(x) + gc.random_uniform_like(x, s)),           # a random draw
     [["exp", "add", "exp"]]),
    (lambda x, s: gc.exp(gc.take(gc.exp(x), gc.constant(np.array([0, 2])), axis=0)), []),
])
def test_nothing_is_fused_across_other_ops(build, groups) -> None:
    x = gc.placeholder((4, 4), name="x")
    graph = gc.Graph([x], [build(x, gc.random_state(0, name="rng"))])
    assert [[n.op for n in g] for g in check_partition(graph)] == groups


def test_two_anchors_never_share_a_group() -> None:
    x = gc.placeholder((None, 4), name="x")
    W = gc.variable(np.eye(4, dtype=np.float32), name="W")
    graph = gc.Graph([x], [x @ W + x @ (2.0 * W)])
    anchors = [[n.op for n in g if not is_elementwise(n)] for g in check_partition(graph)]
    assert all(len(a) <= 1 for a in anchors) and ["matmul"] in anchors


def test_symbolic_dims_fuse_when_equal_and_not_when_one_may_broadcast() -> None:
    a = gc.placeholder(("n", 4), name="a")
    b = gc.placeholder(("n", 4), name="b")
    c = gc.placeholder((None, 1), name="c")
    same = gc.exp(a) * gc.tanh(b)                      # one loop over (n, 4)
    col = gc.exp(c)                                    # (?, 1): broadcast into (n, 4) below
    graph = gc.Graph([a, b, c], [gc.relu(same + col)])
    groups = [{n.op for n in g} for g in check_partition(graph)]
    assert {"exp", "tanh", "multiply", "add", "relu"} in groups
    fused = fuse(graph)
    feeds = [np.ones((3, 4), np.float32), np.full((3, 4), 0.5, np.float32),
             np.arange(3, dtype=np.float32)[:, None]]
    np.testing.assert_array_equal(run(graph, feeds)[0], run(fused, feeds)[0])
    with pytest.raises(gc.FeedError):                  # the dims the group assumed are checked
        gc.compile(fused, optimize=False)(feeds[0], np.ones((2, 4), np.float32), feeds[2])


def test_results_and_graph_outputs_leave_the_group() -> None:
    x = gc.placeholder((3,), name="x")
    h = gc.exp(x)
    graph = gc.Graph([x], [gc.tanh(h) + 1.0, h, gc.sum(h * 2.0)])
    fused = fuse(graph)
    groups = fused_nodes(fused)
    outs = [len(n.attrs["body"].outputs) for n in groups]
    assert sum(outs) >= 3 and all(n.op == "fused_result" for n in fused.outputs[:2])
    feeds = [np.array([0.0, 1.0, -1.0], np.float32)]
    for want, have in zip(run(graph, feeds), run(fused, feeds)):
        np.testing.assert_array_equal(want, have)


def test_a_loop_recomputes_cheap_values_from_what_it_reads_anyway() -> None:
    """1 - s and 1 - t^2 (an LSTM's gradient factors) are recomputed, exactly, by the loop that
    reads s and t anyway: the loop making s and t neither writes them nor reads them back."""
    x = gc.placeholder((4, 8), name="x")
    w = gc.placeholder((8, 8), name="w")
    s, t = gc.sigmoid(x), gc.tanh(x * 2.0)
    m = (s * t) @ w
    graph = gc.Graph([x, w], [m * s * (1.0 - s) + m * t * (1.0 - gc.square(t))])
    fused = fuse(graph)
    first, epilogue = fused_nodes(fused, "elementwise"), fused_nodes(fused, "epilogue")
    assert [len(n.attrs["body"].outputs) for n in first] == [3]        # s, t and s * t
    assert [len(n.inputs) for n in epilogue] == [4]                    # s * t, w, s, t
    feeds = [np.linspace(-3, 3, 32, dtype=np.float32).reshape(4, 8),
             np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8)]
    np.testing.assert_array_equal(run(graph, feeds)[0], run(fused, feeds)[0])


# ---- scans, the pipeline, the models ------------------------------------------------------------

def _bodies(graph) -> list:
    return [n.attrs["body"] for n in graph.nodes if n.op == "scan"]


def test_scan_bodies_fuse_unless_their_gradient_reads_them() -> None:
    graph = rnn_graph()                       # a scan whose gradient reads its residuals
    fused = fuse(graph)
    forward, *backward = _bodies(fused)
    assert not fused_nodes(forward) and backward and all(fused_nodes(b) for b in backward)
    xs = gc.placeholder((5, None, 3), name="xs")
    W = gc.variable(np.full((3, 3), 0.1, np.float32), name="W")
    h0 = gc.placeholder((None, 3), name="h0")
    _, ys = gc.scan(lambda h, x: (gc.tanh(x @ W + h) * 0.5, h), h0, xs)
    inference = gc.Graph([xs, h0], [ys])
    (body,) = _bodies(fuse(inference))
    (node,) = fused_nodes(body, "epilogue")
    assert members(node) == ["matmul", "add", "tanh", "multiply"]
    feeds = [np.random.default_rng(2).standard_normal((5, 2, 3)).astype(np.float32),
             np.ones((2, 3), np.float32)]
    np.testing.assert_array_equal(run(inference, feeds)[0], run(fuse(inference), feeds)[0])


@pytest.mark.parametrize("name", list(MODELS))
def test_training_steps_compute_what_they_did_without_optimizing(name: str) -> None:
    graph, feeds = MODELS[name](batch=4)
    want = run(graph, feeds)
    optimized, report = gc.optimize(graph)
    fused, fusion_report = gc.optimize(optimized, ["fusion"])
    (fusion,) = fusion_report.passes
    assert fusion.kernels[1] < fusion.kernels[0] == elementwise_kernels(optimized)
    assert sum(fusion.fired.values()) == len(fused_nodes(fused)) + sum(
        len(fused_nodes(b)) for b in _bodies(fused))
    for a, b in zip(want, run(fused, feeds)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    check_partition(optimized)


def test_fusion_is_a_pass_but_not_a_default_one() -> None:
    assert "fusion" not in DEFAULT
    graph, feeds = MODELS["digits-mlp"](batch=4)
    step = gc.compile(graph, optimize=list(DEFAULT) + ["fusion"], verify=feeds)
    assert any(n.op == "fused" for n in step.graph.nodes)


# ---- the ops, text IR and pictures --------------------------------------------------------------

def _mlp_fused() -> gc.Graph:
    graph, _ = MODELS["digits-mlp"](batch=4)
    return fuse(gc.optimize(graph)[0])


def test_fused_training_step_round_trips_through_text(tmp_path: Path) -> None:
    graph, feeds = MODELS["lstm"](batch=3, steps=4)
    fused = fuse(gc.optimize(graph)[0])
    text = str(fused)
    assert 'kind="epilogue"' in text and "fused_result(" in text
    path = gc.save(fused, tmp_path / "step.gcir")
    loaded = gc.load(path)
    assert str(loaded) == text
    for a, b in zip(run(fused, feeds), run(loaded, feeds)):
        np.testing.assert_array_equal(a, b)


def test_members_keep_their_lines_and_scopes_inside_the_body() -> None:
    x = gc.placeholder((None, 3), name="x")
    with gc.scope("block"):
        y = gc.relu(x * 2.0)
    (node,) = fused_nodes(fuse(gc.Graph([x], [y])))
    relu = next(n for n in node.attrs["body"].nodes if n.op == "relu")
    assert relu.scope == ("block",) and relu.loc is not None
    assert relu.loc.file == __file__ and node.scope == ("block",)
    assert f"block @ {relu.loc.file}:{relu.loc.line}" in str(gc.Graph([x], [y]))


@pytest.mark.parametrize("text, error", [
    ('%2 = fused(%x) {body=graph(%a: f32[3]) {\n    %b = exp(%a) : f32[3]\n    return %b\n'
     '  }, kind="sideways"} : bool[]', "kind"),
    ('%2 = fused(%x) {body=graph(%a: f32[4]) {\n    %b = exp(%a) : f32[4]\n    return %b\n'
     '  }, kind="elementwise"} : bool[]', "shape"),
    ('%2 = fused(%x) {body=graph(%a: f32[3]) {\n    %b = sum(%a) {axes=(0,), keepdims=True} '
     ': f32[1]\n    return %b\n  }, kind="elementwise"} : bool[]', "holds a sum"),
    ('%2 = fused(%x) {body=graph(%a: f32[3]) {\n    %b = exp(%a) : f32[3]\n'
     '    %c = sum(%b) {axes=(0,), keepdims=True} : f32[1]\n    %d = exp(%c) : f32[1]\n'
     '    return %d\n  }, kind="prologue"} : bool[]', "read in the group"),
])
def test_malformed_fused_nodes_are_rejected(text: str, error: str) -> None:
    source = f"graph(%x: f32[3]) {{\n  {text}\n  %3 = fused_result(%2) " \
             "{index=0, type=f32[3]} : f32[3]\n  return %3\n}"
    with pytest.raises(gc.ParseError, match=error):
        gc.parse(source)


def test_a_result_index_must_name_a_result() -> None:
    text = str(_mlp_fused()).replace("index=1, type=f32[?1,128]", "index=7, type=f32[?1,128]")
    assert "index=7" in text
    with pytest.raises(gc.ParseError, match="index 7 is out of range"):
        gc.parse(text)


def test_fused_nodes_are_not_differentiable() -> None:
    x = gc.placeholder((3,), name="x")
    fused = fuse(gc.Graph([x], [gc.sum(gc.exp(x) * 2.0)]))
    with pytest.raises(gc.GraphError, match="fused_result is not differentiable"):
        gc.grad(fused.outputs[0], [x])


def test_equal_groups_share_one_body_after_cse() -> None:
    a = gc.placeholder(("n", 3), name="a")
    b = gc.placeholder(("n", 3), name="b")
    graph = gc.Graph([a, b], [gc.relu(a * 2.0) + 1.0, gc.relu(b * 2.0) + 1.0])
    merged = gc.optimize(fuse(graph), ["cse"])[0]
    first, second = fused_nodes(merged)
    assert first.attrs["body"] is second.attrs["body"]


@needs_dot
def test_fused_groups_render_as_clusters_of_their_members(tmp_path: Path) -> None:
    x = gc.placeholder((None, 8), name="x")
    W = gc.variable(np.ones((8, 4), np.float32), name="W")
    b = gc.variable(np.zeros(4, np.float32), name="b")
    W2 = gc.variable(np.ones((4, 2), np.float32), name="W2")
    graph = fuse(gc.Graph([x], [gc.sum(gc.square(gc.relu(x @ W + b) @ W2), axis=1)]))
    pic = Picture(gc.render(graph, tmp_path / "g.svg"))
    titles = {tuple(pic.texts(c)[:1]): t for t, c in pic.clusters.items()}
    assert {("fused epilogue",), ("fused prologue",)} <= set(titles)
    epilogue = titles[("fused epilogue",)]
    ops = {pic.label(t)[0]: t for t in pic.nodes if pic.inside(t, epilogue)}
    assert {"matmul", "add", "relu"} <= set(ops)
    assert f"x->{ops['matmul']}" in pic.edges and f"b->{ops['add']}" in pic.edges
    assert not any(pic.label(t)[0] in ("fused", "fused_result") for t in pic.nodes)
    folded = Picture(gc.render(graph, tmp_path / "f.svg", expand_groups=False))
    assert any(pic_label[:1] == ["fused epilogue"]
               for pic_label in map(folded.label, folded.nodes))


# ---- the graph of groups ------------------------------------------------------------------------

def _check_group_dag(data) -> None:
    """Random merges along edges of a random DAG: each succeeds exactly when the graph of
    groups stays acyclic (networkx decides), and the kept order stays topological."""
    size = data.draw(st.integers(2, 14))
    edges = data.draw(st.sets(st.tuples(st.integers(0, size - 1), st.integers(0, size - 1))
                              .filter(lambda e: e[0] < e[1]), min_size=1, max_size=30))
    operands = [[p for p, c in sorted(edges) if c == i] for i in range(size)]
    users = [[c for p, c in sorted(edges) if p == i] for i in range(size)]
    dag = GroupDag(operands, users)
    groups = {i: {i} for i in range(size)}          # root -> members, as networkx sees them
    for p, c in data.draw(st.lists(st.sampled_from(sorted(edges)), max_size=20)):
        a, b = dag.find(p), dag.find(c)
        if a == b:
            continue
        merged = groups[a] | groups[b]
        rest = [g for r, g in groups.items() if r not in (a, b)] + [merged]
        unit = {n: k for k, g in enumerate(rest) for n in g}
        condensed = nx.DiGraph((unit[u], unit[v]) for u, v in edges if unit[u] != unit[v])
        condensed.add_nodes_from(range(len(rest)))
        root = dag.try_merge(a, b)
        assert (root is not None) == nx.is_directed_acyclic_graph(condensed)
        if root is not None:
            del groups[a], groups[b]
            groups[root] = merged
        for u, v in edges:
            ru, rv = dag.find(u), dag.find(v)
            assert ru == rv or dag.order[ru] < dag.order[rv]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_group_dag_merges_exactly_when_no_cycle_appears(data) -> None:
    _check_group_dag(data)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_group_dag_renumbers_its_order_when_places_run_out(data) -> None:
    default = group_dag.MIN_GAP
    group_dag.MIN_GAP = 0.3            # renumber after almost every move
    try:
        _check_group_dag(data)
    finally:
        group_dag.MIN_GAP = default


def test_benchmark_scripts_run(capsys) -> None:
    from benchmarks import optimize_scaling, pipeline_stats
    rows = pipeline_stats.main()
    assert all(r["same_results"] and r["kernels"][2] < r["kernels"][1] for r in rows)
    (deep,) = optimize_scaling.main([3])
    assert deep["cpu"] > 0 and "fusion" in deep["passes"]
    out = capsys.readouterr().out
    assert "digits-mlp" in out and "us per node" in out


@needs_dot
@pytest.mark.parametrize("name", list(MODELS))
def test_fused_training_steps_render(tmp_path: Path, name: str) -> None:
    """Updates leaving a group (an unconstrained edge out of a nested cluster trips dot)."""
    graph, _ = MODELS[name](batch=4)
    fused = fuse(gc.optimize(graph)[0])
    pic = Picture(gc.render(fused, tmp_path / "step.svg"))
    kinds = [pic.texts(c)[0] for c in pic.clusters.values()
             if pic.texts(c)[0].startswith("fused ")]
    assert len(kinds) == len(fused_nodes(fused)) + sum(len(fused_nodes(b))
                                                       for b in _bodies(fused))
    assert sum(pic.texts(e)[:1] == ["update"] for e in pic.edges.values()) == len(fused.updates)


def _networkx_orders(graph: gc.Graph, groups: list) -> tuple[list, list]:
    """What networkx gave (before graphc sorted by itself): the graph's nodes, lexicographic
    by creation order (constants before their first user), and the fused units' order."""
    dag = nx.DiGraph()
    stack, seen = list(graph.inputs) + list(graph.outputs) + [
        v for pair in graph.updates for v in pair], set()
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            dag.add_node(node)
            for inp in node.inputs:
                dag.add_edge(inp, node)
                stack.append(inp)

    def order(node):
        if node.op != "constant":
            return node.serial
        return min((u.serial for u in dag.successors(node)), default=node.serial) - 0.5
    nodes = list(nx.lexicographical_topological_sort(dag, key=order))
    unit_of = {id(m): g for g in groups for m in g.members}
    condensed = nx.DiGraph()
    for node in graph.nodes:
        unit = unit_of.get(id(node), node)
        condensed.add_node(unit)
        for i in node.inputs:
            source = unit_of.get(id(i), i)
            if source is not unit:
                condensed.add_edge(source, unit)
    return nodes, list(nx.topological_sort(condensed))


@pytest.mark.parametrize("seed", range(0, 400, 5))
def test_graph_orders_are_networkxs(seed: int) -> None:
    """graphc's own topological sorts list nodes and fused units exactly as networkx did, so
    graphs print, cache-key and schedule as before (networkx costs ~60 ms to import)."""
    from graphc.passes.fusion import _units_in_order
    from tests.randgraph import case_from_seed

    graph = case_from_seed(seed).graph
    try:
        graph = gc.optimize(graph)[0]
    except gc.GraphcError:
        pass
    groups = partition(graph)
    nodes, units = _networkx_orders(graph, groups)
    assert [id(n) for n in graph.nodes] == [id(n) for n in nodes]
    assert [id(u) for u in _units_in_order(graph, groups)] == [id(u) for u in units]
