"""gc.compile: updates, outputs, Graphs, feeds and symbolic dims."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc


def test_updates_are_applied_after_every_new_value_is_computed(backend) -> None:
    a = gc.variable(np.array([1.0, 2.0]), name="a")
    b = gc.variable(np.array([10.0, 20.0]), name="b")
    swap = gc.compile([], [], updates=[(a, b), (b, a)], backend=backend)
    swap()
    np.testing.assert_array_equal(a.value, [10.0, 20.0])
    np.testing.assert_array_equal(b.value, [1.0, 2.0])
    swap()
    np.testing.assert_array_equal(a.value, [1.0, 2.0])
    np.testing.assert_array_equal(b.value, [10.0, 20.0])


def test_updates_read_the_old_values_and_outputs_see_them_too(backend) -> None:
    a = gc.variable(np.array([1.0, 2.0]), name="a")
    b = gc.variable(np.array([5.0, 7.0]), name="b")
    step = gc.compile([], [a * 1, a + b], updates=[(a, a + b), (b, a - b)], backend=backend)
    before_a, total = step()
    np.testing.assert_array_equal(before_a, [1.0, 2.0])
    np.testing.assert_array_equal(total, [6.0, 9.0])
    np.testing.assert_array_equal(a.value, [6.0, 9.0])
    np.testing.assert_array_equal(b.value, [-4.0, -5.0])


def test_a_training_step_updates_in_place_across_calls(backend) -> None:
    rng = np.random.default_rng(0)
    X, w_true = rng.standard_normal((32, 3)), np.array([1.0, -2.0, 0.5])
    x, y = gc.placeholder((None, 3), "float64", name="x"), gc.placeholder((None,), "float64")
    w = gc.variable(np.zeros(3), name="w")
    loss = gc.mean(gc.losses.mse(x @ w, y))
    step = gc.compile([x, y], loss, updates=[(w, w - 0.1 * gc.grad(loss, w))], backend=backend)
    losses = [float(step(X[i % 4 * 8:][:8], X[i % 4 * 8:][:8] @ w_true)) for i in range(200)]
    assert losses[-1] < 1e-6 < losses[0]
    np.testing.assert_allclose(w.value, w_true, atol=1e-3)


def test_outputs_a_list_for_a_list_and_an_array_for_one_tensor(backend) -> None:
    x = gc.placeholder((3,), "float32", name="x")
    data = np.arange(3, dtype="float32")
    one = gc.compile([x], x * 2, backend=backend)(data)
    assert isinstance(one, np.ndarray) and one.dtype == np.float32
    listed = gc.compile([x], [x * 2], backend=backend)(data)
    assert isinstance(listed, list) and len(listed) == 1
    np.testing.assert_array_equal(listed[0], one)
    two = gc.compile([x], [x * 2, gc.sum(x)], backend=backend)(data)
    assert isinstance(two[1], np.ndarray) and two[1].shape == ()
    assert gc.compile([x], [], backend=backend)(data) == []


def test_compile_accepts_a_graph(backend) -> None:
    x = gc.placeholder((None, 2), "float64", name="x")
    w = gc.variable(np.ones(2), name="w")
    y = gc.sum(x @ w)
    graph = gc.Graph(inputs=[x], outputs=[y, x * 3], updates=[(w, w * 2)])
    assert graph.inputs == (x,) and graph.outputs[0] is y
    total, tripled = gc.compile(graph, backend=backend)(np.ones((4, 2)))
    assert float(total) == 8.0
    np.testing.assert_array_equal(tripled, np.full((4, 2), 3.0))
    np.testing.assert_array_equal(w.value, [2.0, 2.0])


def test_optimized_and_unoptimized_agree(backend) -> None:
    x = gc.placeholder((None, 3), "float64")
    c = gc.constant(np.arange(3.0))
    y = gc.softmax(x * 1 + (c * 2 + 1) - 0) @ gc.reshape(gc.reshape(c, (3, 1)), (3,))
    data = np.random.default_rng(0).standard_normal((5, 3))
    fast = gc.compile([x], y, backend=backend)(data)
    plain = gc.compile([x], y, backend=backend, optimize=False)(data)
    np.testing.assert_allclose(fast, plain, rtol=1e-12)


def test_named_dims_bind_one_size_per_call(backend) -> None:
    x = gc.placeholder(("Nc", 3), "float64", name="x")
    y = gc.placeholder(("Nc",), "float64", name="y")
    total = gc.sum(x, axis=1) * y
    f = gc.compile([x, y], [total, gc.mean(x)], backend=backend)
    for n in (1, 2, 6):
        xs, ys = np.ones((n, 3)), np.arange(n, dtype=float)
        got, mean = f(xs, ys)
        np.testing.assert_array_equal(got, 3 * ys)
        assert float(mean) == 1.0


def test_none_dims_are_independent_symbols(backend) -> None:
    x = gc.placeholder((None, 2), "float64")
    y = gc.placeholder((None, 3), "float64")
    assert x.shape[0] != y.shape[0]
    f = gc.compile([x, y], [gc.sum(x, axis=0), gc.sum(y, axis=0)], backend=backend)
    sx, sy = f(np.ones((4, 2)), np.ones((7, 3)))
    np.testing.assert_array_equal(sx, [4, 4])
    np.testing.assert_array_equal(sy, [7, 7, 7])


def test_symbolic_batch_through_a_model_with_gradients(backend) -> None:
    x = gc.placeholder((None, 4), "float32", name="x")
    W = gc.variable(np.random.default_rng(0).standard_normal((4, 3)).astype("float32"))
    h = gc.tanh(x @ W)
    features = gc.concatenate([h, x[:, :1], gc.stack([h[:, 0], h[:, -1]], axis=1)], axis=1)
    loss = gc.mean(features ** 2)
    f = gc.compile([x], [features, loss, gc.grad(loss, W)], backend=backend)
    for n in (1, 3, 8):
        data = np.random.default_rng(n).standard_normal((n, 4)).astype("float32")
        feats, value, gw = f(data)
        hn = np.tanh(data @ W.value)
        want = np.concatenate([hn, data[:, :1], hn[:, [0, -1]]], axis=1)
        np.testing.assert_allclose(feats, want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(value, (want ** 2).mean(), rtol=1e-5)
        assert gw.shape == (4, 3) and gw.dtype == np.float32


def test_feeds_accept_lists_and_python_scalars(backend) -> None:
    x = gc.placeholder((2,), "float64")
    s = gc.placeholder((), "float32")
    got = gc.compile([x, s], x * s, backend=backend)([1, 2], 0.5)
    np.testing.assert_array_equal(got, [0.5, 1.0])


def test_outputs_do_not_alias_arrays_returned_earlier(backend) -> None:
    """A returned array must not change when later calls compute or update state."""
    x = gc.placeholder((3,), "float64")
    f = gc.compile([x], gc.exp(x) * 2, backend=backend)
    first = f(np.zeros(3))
    f(np.ones(3))
    np.testing.assert_array_equal(first, [2.0, 2.0, 2.0])


def test_a_variable_output_is_a_snapshot(backend) -> None:
    a = gc.variable(np.array([1.0, 2.0]), name="a")
    read = gc.compile([], a, backend=backend)
    double = gc.compile([], [], updates=[(a, a * 2)], backend=backend)
    snapshot = read()
    double()
    np.testing.assert_array_equal(snapshot, [1.0, 2.0])


def test_reductions_over_a_slice_of_a_symbolic_axis(backend) -> None:
    x = gc.placeholder((None, 3), "float64")
    tail = x[1:]
    y = gc.mean(tail) + gc.sum(tail)
    f = gc.compile([x], [y, gc.grad(y, x)], backend=backend)
    data = np.arange(12.0).reshape(4, 3)
    value, g = f(data)
    np.testing.assert_allclose(value, data[1:].mean() + data[1:].sum())
    np.testing.assert_allclose(g, np.r_[np.zeros((1, 3)), np.full((3, 3), 1 + 1 / 9)])


def test_the_garbage_collector_waits_while_compiling(monkeypatch) -> None:
    """Compiling holds off Python's cyclic collector (full collections walk every object in
    the process) and turns it back on afterwards, after a failure too, unless it was off."""
    import gc as python_gc

    import backends.numpy
    seen = []
    compile_graph = backends.numpy.compile_graph

    def watched(*args, **kwargs):
        seen.append(python_gc.isenabled())
        return compile_graph(*args, **kwargs)
    monkeypatch.setattr(backends.numpy, "compile_graph", watched)
    x = gc.placeholder((2,), "float32")
    assert python_gc.isenabled()
    gc.compile([x], x * 2, backend="numpy")
    assert seen == [False] and python_gc.isenabled()
    with pytest.raises(gc.CompileError, match="unknown backend"):
        gc.compile([x], x * 2, backend="no such backend")
    assert python_gc.isenabled()
    python_gc.disable()
    try:
        gc.compile([x], x * 2, backend="numpy")
        assert not python_gc.isenabled()
    finally:
        python_gc.enable()
