"""Row groups (graphc/passes/row_groups.py) and their native pieces (kernels/row_pieces.py)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import graphc as gc
from backends.llvm import parallel
from frontends import textir
from graphc import rows
from graphc.errors import IndexRangeError
from graphc.graph import Graph
from graphc.passes import optimize
from graphc.printing import graph_to_text, stored_arrays
from tests.test_render import needs_dot

RNG = np.random.default_rng(7)
BACKEND = ["splits", "fusion", "row_groups"]


def lowered(inputs, outputs) -> Graph:
    """The graph the native backend plans: the default pipeline, then its own passes."""
    return optimize(optimize(Graph(inputs, outputs))[0], BACKEND)[0]


def groups(graph: Graph) -> list:
    return [n for n in graph.nodes if n.op == "fused" and n.attrs["kind"] == "rows"]


def row_steps(native) -> list:
    return [s for s in native.plan.steps
            if s.node is not None and s.node.op == "fused" and s.node.attrs["kind"] == "rows"]


def mlp_step(batch=None):
    """Loss and gradients of a 2-layer classifier: rows between the batch's reductions."""
    x = gc.placeholder((batch, 48), "float32", name="x")
    labels = gc.placeholder((x.shape[0],), "int64", name="labels")
    w1 = gc.variable(RNG.normal(size=(48, 64)).astype("float32") * 0.2, name="w1")
    w2 = gc.variable(RNG.normal(size=(64, 5)).astype("float32") * 0.2, name="w2")
    logits = gc.tanh(gc.relu(x @ w1) @ w2)
    loss = gc.mean(gc.losses.cross_entropy(logits, labels))
    return [x, labels], [loss, *gc.grad(loss, [w1, w2])]


def mlp_feeds(n: int):
    return [RNG.normal(size=(n, 48)).astype("float32"), RNG.integers(0, 5, n)]


def test_a_training_step_falls_into_groups_each_keeping_rows_apart() -> None:
    """Every group's body is row-separable; the products over the batch (weight gradients)
    and the loss's mean stay outside."""
    graph = lowered(*mlp_step())
    found = groups(graph)
    assert found
    env = graph.dims
    symbol = env.resolve(graph.inputs[0].shape[0])
    for g in found:
        body = g.attrs["body"]
        assert rows.separable(body, symbol, body.dims) is not None
    outside = [n for n in graph.nodes if n.op == "matmul"]
    assert outside and all(n.attrs["transpose_a"] for n in outside)   # x^T @ dz: over rows


def test_a_batch_of_fixed_size_forms_no_groups() -> None:
    assert not groups(lowered(*mlp_step(batch=16)))


def test_light_rows_form_no_group() -> None:
    """An XOR net's rows (2-8-1, some 50 operations each) would need 20,000 of them to make
    work for two threads; the group's calls would only cost."""
    x = gc.placeholder((None, 2), "float32", name="x")
    w1 = gc.variable(RNG.normal(size=(2, 8)).astype("float32"), name="w1")
    w2 = gc.variable(RNG.normal(size=(8, 1)).astype("float32"), name="w2")
    y = gc.placeholder((x.shape[0], 1), "float32", name="y")
    loss = gc.mean(gc.square(gc.sigmoid(gc.tanh(x @ w1) @ w2) - y))
    assert not groups(lowered([x, y], [loss, *gc.grad(loss, [w1, w2])]))


def test_a_path_through_a_batch_reduction_separates_groups() -> None:
    """y depends on a's rows and on their mean over the batch: a's region ends before the
    mean, y's begins after it, and the native step takes the interpreter's values."""
    x = gc.placeholder((None, 32), "float32", name="x")
    w1 = gc.constant(RNG.normal(size=(32, 64)).astype("float32"))
    w2 = gc.constant(RNG.normal(size=(64, 16)).astype("float32") * 0.3)
    a = gc.softmax(gc.relu(x @ w1), axis=1)
    y = gc.tanh((a - gc.mean(a, axis=0)) @ w2) * 3.0
    graph = lowered([x], [y])
    found = groups(graph)
    assert len(found) == 2
    env = graph.dims
    symbol = env.resolve(x.shape[0])
    first, second = found
    barrier = [n for n in graph.nodes if n.op not in ("fused_result", "rows")
               and all(n is not g for g in found)
               and any(i.op == "fused_result" and i.inputs[0] is first for i in n.inputs)]
    assert barrier and all(rows.node_classes(graph, symbol, env)[id(n)] != rows.ROWS
                           for n in barrier)
    native = gc.compile([x], [y], backend="llvm")
    for n in (0, 1, 20, 70):
        data = RNG.normal(size=(n, 32)).astype("float32")
        np.testing.assert_allclose(native(data), gc.compile([x], [y])(data),
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n", [0, 1, 7, 16, 33, 50, 100])
def test_an_unrolled_lstm_step_in_pieces_takes_the_interpreters_values(n) -> None:
    """Forward and backward regions of 5 unrolled steps run in pieces (1 to 4 of them); the
    bits are the same on one thread and two."""
    x = gc.placeholder((None, 5, 6), "float32", name="x")
    lstm = gc.nn.LSTM(6, 8, unroll=True, seed=1)
    loss = gc.sum(gc.square(lstm(x)))
    outputs = [loss, *gc.grad(loss, lstm.trainable_variables)]
    native = gc.compile([x], outputs, backend="llvm")
    steps = row_steps(native)
    assert len(steps) >= 2 and all(s.scratch["rows"] is not None for s in steps)
    data = RNG.normal(size=(n, 5, 6)).astype("float32")
    results = {}
    for threads in (1, 2):
        with parallel.settings(threads=threads, min_work=0):
            results[threads] = native(data)
    for alone, shared, want in zip(results[1], results[2], gc.compile([x], outputs)(data)):
        np.testing.assert_array_equal(shared, alone)
        np.testing.assert_allclose(alone, want, rtol=2e-4, atol=1e-5)


@pytest.mark.parametrize("n", [8, 40, 64, 200])
def test_heavy_rows_cut_or_whole_take_the_interpreters_values(n) -> None:
    """Rows of 170,000 operations: a few dozen of them run in pieces, more run whole (each
    product then shared by the team); the same values either way, on 1 thread and 2."""
    x = gc.placeholder((None, 256), "float32", name="x")
    w1 = gc.constant(RNG.normal(size=(256, 512)).astype("float32") * 0.05)
    w2 = gc.constant(RNG.normal(size=(512, 64)).astype("float32") * 0.05)
    y = gc.tanh(gc.relu(x @ w1) @ w2) * 2.0
    native = gc.compile([x], [y], backend="llvm")
    assert row_steps(native)
    data = RNG.normal(size=(n, 256)).astype("float32")
    results = {}
    for threads in (1, 2):
        with parallel.settings(threads=threads, min_work=0):
            results[threads] = native(data)
    np.testing.assert_array_equal(results[2], results[1])
    np.testing.assert_allclose(results[1], gc.compile([x], [y])(data), rtol=1e-4, atol=1e-5)


def test_steps_stacked_for_a_product_are_written_in_place() -> None:
    """An unrolled loop's weight gradients are each one product over all steps, of stacks
    (n, steps, k) that keep the batch's rows apart: the groups write each step's values
    straight into them: what is copied in is only what no kernel of theirs makes (the
    initial state, the last step's gradient from the loss)."""
    x = gc.placeholder((None, 6, 32), "float32", name="x")
    rnn = gc.nn.SimpleRNN(32, 64, unroll=True, seed=0)
    loss = gc.sum(rnn(x))
    outputs = [loss, *gc.grad(loss, rnn.trainable_variables)]
    native = gc.compile([x], outputs, backend="llvm")
    plans = [s.scratch["plan"] for s in row_steps(native)]
    stacks = [n for p in plans for n in p.graph.nodes
              if n.op == "concatenate" and n.ndim == 3 and n.attrs["axis"] == 1]
    assert plans and len(stacks) >= 2 and all(len(n.inputs) == 6 for n in stacks)
    copies = [a for p in [native.plan, *plans] for s in p.steps
              if s.name.endswith("_concatenate") for a in s.ins]
    assert len(copies) <= 2 and all(a.buffer.kind in ("input", "constant") for a in copies)
    data = RNG.normal(size=(40, 6, 32)).astype("float32")
    for got, want in zip(native(data), gc.compile([x], outputs)(data)):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-4)


def products_reading(graph: Graph, p) -> list:
    """The matmuls reading p as b, in graph and in the fused groups it holds."""
    found = []
    for n in graph.nodes:
        for position, i in enumerate(n.inputs):
            if i is p and n.op == "matmul" and position == 1:
                found.append(n)
            elif i is p and n.op == "fused":
                found += products_reading(n.attrs["body"], n.attrs["body"].inputs[position])
    return found


def test_a_weight_read_transposed_is_transposed_once() -> None:
    """dh = dz @ W_hh.T at every backward step of an unrolled loop: the group transposes W_hh
    once and its steps' products read it without the flag, with the interpreter's values."""
    x = gc.placeholder((None, 4, 6), "float32", name="x")
    lstm = gc.nn.LSTM(6, 8, unroll=True, seed=2)
    loss = gc.sum(gc.square(lstm(x)))
    outputs = [loss, *gc.grad(loss, lstm.trainable_variables)]
    native = gc.compile([x], outputs, backend="llvm")
    flipping = [s for s in row_steps(native) if s.scratch["transposed"]]
    assert flipping
    for s in flipping:
        body = s.scratch["plan"].graph
        for j in s.scratch["transposed"]:
            readers = products_reading(body, body.inputs[j])
            assert readers and not any(n.attrs["transpose_b"] for n in readers)
    data = RNG.normal(size=(20, 4, 6)).astype("float32")
    for got, want in zip(native(data), gc.compile([x], outputs)(data)):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-5)


def test_a_gather_stays_out_and_its_error_names_it() -> None:
    """An embedding lookup between row ops is no group's: an index out of range raises the
    interpreter's error, naming the take and its line."""
    tokens = gc.placeholder((None,), "int64", name="tokens")
    scale = gc.placeholder((tokens.shape[0], 4), "float32", name="scale")
    table = gc.constant(RNG.normal(size=(10, 4)).astype("float32"))
    picked = gc.take(table, tokens, axis=0)
    out = gc.tanh(gc.exp(scale) * picked) * 2.0
    graph = lowered([tokens, scale], [out])
    assert all(n.op != "take" for g in groups(graph) for n in g.attrs["body"].nodes)
    native = gc.compile([tokens, scale], [out], backend="llvm")
    interpreted = gc.compile([tokens, scale], [out])
    bad = [np.array([1, 12, 3]), np.ones((3, 4), np.float32)]
    messages = []
    for f in (native, interpreted):
        with pytest.raises(IndexRangeError) as raised:
            f(*bad)
        messages.append(str(raised.value))
    assert all("take" in m and "test_row_groups.py" in m for m in messages)


def test_scan_bodies_get_no_groups() -> None:
    """A scan runs its body on pieces itself: its body plan holds no row group."""
    x = gc.placeholder((None, 5, 6), "float32", name="x")
    lstm = gc.nn.LSTM(6, 8, seed=1)
    loss = gc.sum(lstm(x))
    native = gc.compile([x], [loss, *gc.grad(loss, lstm.trainable_variables)], backend="llvm")
    scans = [s for s in native.plan.steps if s.node is not None and s.node.op == "scan"]
    assert scans
    for s in scans:
        assert not groups(s.scratch["plan"].graph)


def test_the_interpreter_and_the_text_ir_take_row_groups() -> None:
    """A graph holding row groups runs on the interpreter with the original's values and
    survives the text IR."""
    inputs, outputs = mlp_step()
    graph = lowered(inputs, outputs)
    assert groups(graph)
    reparsed = textir.parse(graph_to_text(graph), stored_arrays(graph))
    assert groups(reparsed)
    feeds = mlp_feeds(21)
    want = gc.compile(inputs, outputs)(*feeds)
    for g in (graph, reparsed):
        got = gc.compile(g, optimize=False)(*feeds)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_calls_from_several_threads_take_their_own_values() -> None:
    """Pieces of one call on the team while other Python threads call too: each call's
    results are its own, and equal to a lone call's."""
    inputs, outputs = mlp_step()
    native = gc.compile(inputs, outputs, backend="llvm")
    feeds = [mlp_feeds(n) for n in (64, 100, 37, 128)]
    want = [native(*f) for f in feeds]
    got: dict[int, list] = {}

    def call(k: int) -> None:
        for _ in range(20):
            got[k] = native(*feeds[k])
    threads = [threading.Thread(target=call, args=(k,)) for k in range(len(feeds))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k, w in enumerate(want):
        for a, b in zip(got[k], w):
            np.testing.assert_array_equal(a, b)


@needs_dot
def test_a_row_group_is_drawn_around_the_groups_it_holds(tmp_path) -> None:
    from backends import graphviz
    graph = lowered(*mlp_step())
    svg = graphviz.render(graph, tmp_path / "step.svg").read_text(encoding="utf-8")
    assert svg.count("fused rows") == len(groups(graph)) >= 1
    assert "fused epilogue" in svg
