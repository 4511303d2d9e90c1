"""Buffer reuse must never change a result: the interpreter's (backends/numpy/memory.py) and
native code's arena (backends/llvm/lower.py), on the same cases."""
from __future__ import annotations

import numpy as np

import graphc as gc


def test_a_new_value_reuses_a_temporary_and_leaves_the_old_buffer_alone(backend):
    W = gc.variable(np.ones((3, 2), "float32"), name="W")
    x = gc.placeholder((None, 3), "float32", name="x")
    loss = gc.sum(x @ W)
    step = gc.compile([x], loss, updates=[(W, W - 0.1 * gc.grad(loss, W))], backend=backend)
    if backend == "numpy":
        assert "out=v0" not in step.source and "out=t" in step.source
    buffer = W.value
    step(np.ones((4, 3), "float32"))
    np.testing.assert_array_equal(buffer, np.ones((3, 2)))
    np.testing.assert_allclose(W.value, np.full((3, 2), 1 - 0.1 * 4))


def test_output_viewing_a_variable_sees_the_old_value(backend):
    W = gc.variable(np.arange(6, dtype="float64").reshape(2, 3), name="W")
    step = gc.compile([], [gc.transpose(W), gc.stop_gradient(W)], updates=[(W, W + 1)],
                      backend=backend)
    transposed, same = step()
    np.testing.assert_array_equal(transposed, np.arange(6.0).reshape(2, 3).T)
    np.testing.assert_array_equal(same, np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(W.value, np.arange(6.0).reshape(2, 3) + 1)


def test_variable_read_after_its_update_is_computed(backend):
    a = gc.variable(np.array([1.0, 2.0]), name="a")
    b = gc.variable(np.array([10.0, 20.0]), name="b")
    # a's new value does not depend on b's, so the schedule may compute it first:
    # b's update still has to read the old a.
    step = gc.compile([], [], updates=[(a, a * 3), (b, b + gc.reshape(a, (2,)) * 2)],
                      backend=backend)
    step()
    np.testing.assert_array_equal(a.value, [3.0, 6.0])
    np.testing.assert_array_equal(b.value, [12.0, 24.0])


def test_temporary_with_a_live_view_is_not_overwritten(backend):
    x = gc.placeholder((2, 3), "float64", name="x")
    t = gc.exp(x)
    view = gc.reshape(t, (3, 2))
    bumped = t + 1
    f = gc.compile([x], [bumped, view * 1.5], backend=backend)
    data = np.linspace(-1, 1, 6).reshape(2, 3)
    got_bumped, got_view = f(data)
    np.testing.assert_allclose(got_bumped, np.exp(data) + 1)
    np.testing.assert_allclose(got_view, np.exp(data).reshape(3, 2) * 1.5)


def test_feeds_are_never_written(backend):
    x = gc.placeholder((None, 4), "float32", name="x")
    f = gc.compile([x], gc.exp(x * 2 + 1), backend=backend)
    data = np.ones((3, 4), "float32")
    f(data)
    np.testing.assert_array_equal(data, np.ones((3, 4)))


def test_variable_assigned_a_feed_does_not_alias_it(backend):
    W = gc.variable(np.zeros(3, "float32"), name="W")
    x = gc.placeholder((3,), "float32", name="x")
    load = gc.compile([x], [], updates=[(W, x)], backend=backend)
    bump = gc.compile([], [], updates=[(W, W + 1)], backend=backend)
    data = np.ones(3, "float32")
    load(data)
    bump()
    np.testing.assert_array_equal(data, np.ones(3))
    np.testing.assert_array_equal(W.value, np.full(3, 2.0))


def test_pieces_computed_into_their_concatenation() -> None:
    """Loop nests write their values straight into a concatenation's buffer (nested ones
    too, along either axis); an input, a piece used twice and a matmul's result are copied
    in, and a piece read elsewhere (by a matmul, from its strided window) is still right."""
    x = gc.placeholder((5, 3), "float32", name="x")
    W = gc.variable(np.linspace(-1, 1, 12, dtype="float32").reshape(3, 4), name="W")
    a, b, m = gc.tanh(x), gc.exp(x) * 2, x @ W
    row = gc.concatenate([a, b, x, a, m], axis=1)
    stacked = gc.concatenate([row, gc.sigmoid(row), row + 1], axis=0)
    outputs = [stacked, b @ gc.transpose(W[:, :3])]
    native = gc.compile([x], outputs, backend="llvm")
    data = np.linspace(-2, 2, 15, dtype="float32").reshape(5, 3)
    for got, want in zip(native(data), gc.compile([x], outputs, backend="numpy")(data)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    copies = [s for s in native.plan.steps if s.name.endswith("_concatenate")]
    assert len(copies) == 4          # a twice, x, m: one copy each, no whole concatenation
    assert all(s.node.op == "concatenate" and len(s.ins) == 1 for s in copies)


def test_a_time_step_of_a_batch_major_sequence_is_a_view() -> None:
    """z[:, t] reshaped to a matrix drops an axis of size 1: no copy, however strided."""
    z = gc.placeholder((None, 4, 6), "float32", name="z")
    steps = [gc.tanh(gc.reshape(z[:, t:t + 1], (-1, 6))) for t in range(4)]
    f = gc.compile([z], steps + [gc.reshape(z[:, 1:2, 2:3], (1, -1, 1))], backend="llvm")
    assert not any(s.node is not None and s.node.op == "reshape" for s in f.plan.steps)
    data = np.linspace(-3, 3, 72, dtype="float32").reshape(3, 4, 6)
    got = f(data)
    for t in range(4):
        np.testing.assert_allclose(got[t], np.tanh(data[:, t]), rtol=1e-6)
    np.testing.assert_array_equal(got[4], data[:, 1, 2].reshape(1, 3, 1))
