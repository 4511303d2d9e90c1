"""graphc/rows.py: which graphs compute each row of the batch from that row alone."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc import rows
from graphc.dimenv import DimEnv
from graphc.passes import optimize

H = 8
W = np.random.default_rng(0).normal(size=(H, 4 * H)).astype(np.float32)


def classes(fn, closed=None, fused=False):
    """The classes rows.separable gives the graph fn(h, x) of a batch h, x (None, H)."""
    h = gc.placeholder((None, H), "float32", name="h")
    x = gc.placeholder((h.shape[0], H), "float32", name="x")
    extra = [] if closed is None else [gc.placeholder(closed, "float32", name="c")]
    graph = gc.Graph([h, x, *extra], [fn(h, x, *extra)])
    if fused:
        graph, _ = optimize(optimize(graph)[0], ["fusion"])
    env = DimEnv(graph.inputs, graph.nodes)
    symbol = rows.batch_symbol(graph, [0, 1], env)
    assert symbol == env.resolve(h.shape[0])
    return rows.separable(graph, symbol, env)


def lstm_cell(h, x, *_):
    z = h @ gc.constant(W) + gc.concatenate([x] * 4, axis=1)
    i, f, g, o = (z[:, k * H:(k + 1) * H] for k in range(4))
    c = gc.sigmoid(f) * h + gc.sigmoid(i) * gc.tanh(g)
    return gc.sigmoid(o) * gc.tanh(c)


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("name, fn", [
    ("lstm cell", lstm_cell),
    ("softmax along the row", lambda h, x: gc.softmax(h * x, axis=1)),
    ("sum along the row, kept", lambda h, x: h - gc.sum(h * x, axis=1, keepdims=True)),
    ("reshape and transpose inside the row",
     lambda h, x: gc.reshape(gc.transpose(gc.reshape(h, (-1, 2, H // 2)), (0, 2, 1)), (-1, H))),
    ("a per-row product of 3-d rows", lambda h, x: gc.reshape(
        gc.reshape(h, (-1, 2, 4)) @ gc.reshape(x, (-1, 4, 2)), (-1, 4)) + 1.0),
    ("zeros like h", lambda h, x: h + gc.broadcast_to(gc.constant(0.0, "float32"),
                                                       (h.shape[0], H))),
])
def test_row_wise_graphs_are_separable(name, fn, fused) -> None:
    assert classes(fn, fused=fused) == [rows.ROWS, rows.ROWS]


def test_gathers_within_rows_are_separable() -> None:
    """An embedding looked up by a row of indices, a gather along another axis of rows, one
    hot rows: each row reads its own row only."""
    h = gc.placeholder((None, H), "float32")
    tokens = gc.placeholder((h.shape[0],), "int64")
    table = gc.placeholder((10, H), "float32")
    columns = gc.constant(np.array([3, 0, 1], np.int64))
    picked = gc.take_along_axis(h, gc.constant(np.zeros((1, 2), np.int64)), axis=1)
    graph = gc.Graph([h, tokens, table], [
        h + gc.take(table, tokens, axis=0),
        gc.take(h, columns, axis=1) * 2.0,
        gc.one_hot(tokens, 4, "float32") + picked[:, :1]])
    env = DimEnv(graph.inputs, graph.nodes)
    assert rows.separable(graph, env.resolve(h.shape[0]), env) == [rows.ROWS, rows.ROWS,
                                                                    rows.FREE]


def test_closed_over_inputs_are_free_or_rows_by_their_shape() -> None:
    assert classes(lambda h, x, w: h @ w + x, closed=(H, H)) == [rows.ROWS] * 2 + [rows.FREE]
    # the batch on another axis of a closed-over input
    assert classes(lambda h, x, c: h * gc.transpose(c) + x, closed=(H, None)) is None
    h = gc.placeholder((None, H), "float32")
    b = gc.placeholder((h.shape[0], H), "float32")                         # the batch's
    graph = gc.Graph([h, b], [h * b])
    env = DimEnv(graph.inputs, graph.nodes)
    assert rows.separable(graph, env.resolve(h.shape[0]), env) == [rows.ROWS] * 2


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("name, fn", [
    ("mean over the batch", lambda h, x: h - gc.mean(h, axis=0)),
    ("sum of everything", lambda h, x: h * gc.sum(x)),
    ("rows reversed", lambda h, x: h[::-1] + x),
    ("a product over the batch", lambda h, x: h @ (gc.transpose(h) @ x)),
    ("the batch flattened", lambda h, x: gc.reshape(gc.reshape(h, (-1,)) * 2.0, (-1, H))),
    ("a random draw per row", lambda h, x: h * gc.random_uniform_like(h, gc.random_state(1))),
    ("a gather of rows", lambda h, x: gc.take(h, gc.constant(np.zeros(1, np.int64)), axis=0)
     + x),
])
def test_graphs_mixing_rows_are_not_separable(name, fn, fused) -> None:
    assert classes(fn, fused=fused) is None


def test_a_result_without_the_batch_is_not_separable() -> None:
    assert classes(lambda h, x: gc.sum(h * x, axis=1)[:1] * 0.0 + 1.0) is None
    h = gc.placeholder((None, H), "float32")
    graph = gc.Graph([h], [h, gc.constant(np.ones(3, np.float32)) * 2.0])
    env = DimEnv(graph.inputs, graph.nodes)
    assert rows.separable(graph, env.resolve(h.shape[0]), env) is None
