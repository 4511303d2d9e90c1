"""The splits pass: an elementwise op read only through disjoint slices is computed by slices."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.passes import optimize

RNG = np.random.default_rng(0)
H = 4


def ops_of(graph: gc.Graph) -> list[str]:
    return [n.op for n in graph.nodes if n.op not in ("placeholder", "constant")]


def gates(z, h, W, b):
    i, f, g, o = gc.split(z + b + h @ W, 4, axis=-1)
    c = gc.sigmoid(f) * h + gc.sigmoid(i) * gc.tanh(g)
    return gc.sigmoid(o) * gc.tanh(c)


def lstm_inputs():
    z = gc.placeholder((None, 4 * H), "float32", name="z")
    h = gc.placeholder((z.shape[0], H), "float32", name="h")
    W = gc.placeholder((H, 4 * H), "float32", name="W")
    b = gc.placeholder((4 * H,), "float32", name="b")
    return [z, h, W, b]


def feeds(n=5):
    return [RNG.normal(size=s).astype("float32") for s in ((n, 4 * H), (n, H), (H, 4 * H),
                                                             (4 * H,))]


def test_the_gate_sums_are_taken_apart_into_the_gate_math() -> None:
    """z + b + h @ W, read as four gates, becomes four sums of slices: no (N, 4H) add is left,
    and the product is followed by one fused loop, with the same values."""
    inputs = lstm_inputs()
    graph = gc.Graph(inputs, [gates(*inputs)])
    split, _ = optimize(graph, ["splits"])
    assert not any(n.op == "add" and n.shape[-1] == 4 * H for n in split.nodes)
    fused, _ = optimize(split, ["fusion"])
    assert ops_of(fused).count("fused") == 1 and "matmul" in ops_of(fused)
    args = feeds()
    (want,) = gc.compile(graph, optimize=False)(*args)
    (got,) = gc.compile(split, optimize=False)(*args)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(gc.compile(inputs, gates(*inputs), backend="llvm")(*args), want,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, fn", [
    ("overlapping slices", lambda s: [s[:, :3], s[:, 2:]]),
    ("a reader that is not a slice", lambda s: [s[:, :H], gc.exp(s)]),
    ("the whole returned too", lambda s: [s[:, :H], s]),
    ("slices of two axes", lambda s: [s[:2, :], s[2:, :H]]),
])
def test_sums_read_otherwise_stay_whole(name, fn) -> None:
    x = gc.placeholder((5, 4 * H), "float32")
    y = gc.placeholder((5, 4 * H), "float32")
    graph = gc.Graph([x, y], [gc.tanh(t) for t in fn(x + y)])
    split, _ = optimize(graph, ["splits"])
    assert [n.shape for n in split.nodes if n.op == "add"] == [(5, 4 * H)]


def test_an_operand_broadcast_along_the_axis_is_read_whole() -> None:
    x = gc.placeholder((5, 4 * H), "float32")
    column = gc.placeholder((5, 1), "float32")
    graph = gc.Graph([x, column], [gc.tanh(p) for p in gc.split(x * column, 2, axis=1)])
    split, _ = optimize(graph, ["splits"])
    products = [n for n in split.nodes if n.op == "multiply"]
    assert len(products) == 2 and all(n.inputs[1] is column for n in products)
    args = [RNG.normal(size=(5, 4 * H)).astype("float32"),
            RNG.normal(size=(5, 1)).astype("float32")]
    for got, want in zip(gc.compile(split, optimize=False)(*args),
                         np.tanh(np.split(args[0] * args[1], 2, axis=1))):
        np.testing.assert_array_equal(got, want)


def test_a_returned_slice_keeps_the_sum_whole() -> None:
    """A piece the graph returns joins no loop: splitting would only add a pass."""
    x = gc.placeholder((5, 4 * H), "float32")
    y = gc.placeholder((5, 4 * H), "float32")
    s = x + y
    split, report = optimize(gc.Graph([x, y], [s[:, :H], gc.tanh(s[:, H:])]), ["splits"])
    assert not report.fired


def test_steps_of_a_projection_stay_its_epilogue() -> None:
    """x W + b read at every step of an unrolled loop as z[:, t], which a reshape makes a
    matrix: pieces would be passes of their own, so the add stays the product's epilogue."""
    x = gc.placeholder((None, 3, H), "float32", name="x")
    W = gc.placeholder((H, 4 * H), "float32", name="W")
    b = gc.placeholder((4 * H,), "float32", name="b")
    z = x @ W + b
    graph = gc.Graph([x, W, b], [gc.tanh(z[:, t]) for t in range(3)])
    split, report = optimize(graph, ["splits"])
    assert not report.fired
    fused, _ = optimize(split, ["fusion"])
    assert [n.attrs["kind"] for n in fused.nodes if n.op == "fused"].count("epilogue") == 1
