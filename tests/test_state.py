"""State across calls: all updates or none, outputs never alias state, feeds never written."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc


def test_a_failed_call_applies_no_update(backend) -> None:
    c = gc.constant(np.arange(4, dtype=np.float32))
    U = gc.variable(np.ones(3, np.float32), name="U")
    idx = gc.placeholder((None,), "int64", name="idx")
    halved = U * 0.5                      # built first, so it runs before the take
    f = gc.compile([idx], gc.sum(gc.take(c, idx)), updates=[(U, halved)], backend=backend)
    with pytest.raises(gc.GraphcError):        # an index out of range
        f([99])
    np.testing.assert_array_equal(U.value, np.ones(3, np.float32))
    assert float(f([3, 1])) == 4.0
    np.testing.assert_array_equal(U.value, np.full(3, 0.5, np.float32))


def test_a_step_failing_after_some_updates_are_computed_commits_none(backend) -> None:
    rng = np.random.default_rng(0)
    A = gc.variable(rng.standard_normal((3, 2)), name="A")
    B = gc.variable(rng.standard_normal(2), name="B")
    steps = gc.variable(np.zeros(1, np.int64), name="steps")
    ids = gc.placeholder((None,), "int64", name="ids")
    counted, new_b = steps + 1, B * 2.0             # built first, so they run first
    loss = gc.sum(gc.take(A, ids, negative_from_end=False) @ B)
    updates = [(steps, counted), (B, new_b), (A, A - 0.1 * gc.grad(loss, A))]
    step = gc.compile([ids], loss, updates=updates, backend=backend)
    a0, b0 = A.value.copy(), B.value.copy()
    for bad in ([3], [-1], [0, 1, 7]):
        with pytest.raises(gc.GraphcError):    # an index out of range
            step(bad)
        np.testing.assert_array_equal(A.value, a0)
        np.testing.assert_array_equal(B.value, b0)
        assert steps.value[0] == 0
    np.testing.assert_allclose(step([2, 0]), (a0[[2, 0]] @ b0).sum())
    want_a = a0.copy()
    want_a[[2, 0]] -= 0.1 * b0
    np.testing.assert_allclose(A.value, want_a)
    np.testing.assert_allclose(B.value, 2.0 * b0)
    assert steps.value[0] == 1


def test_an_output_that_is_an_updates_value_is_the_callers(backend) -> None:
    V = gc.variable(np.ones((2, 2), np.float32), name="V")
    n = V * 0.5
    step = gc.compile([], n, updates=[(V, n)], backend=backend)
    first = step()
    first[0, 0] = 777.0
    np.testing.assert_array_equal(V.value, np.full((2, 2), 0.5, np.float32))
    second = step()
    np.testing.assert_array_equal(first, [[777.0, 0.5], [0.5, 0.5]])
    np.testing.assert_array_equal(second, np.full((2, 2), 0.25, np.float32))
    np.testing.assert_array_equal(V.value, np.full((2, 2), 0.25, np.float32))
    assert not np.shares_memory(second, V.value)


def test_an_array_read_from_a_variable_keeps_its_values_after_a_step(backend) -> None:
    """A step gives an updated variable a new array; the one a user holds is never written."""
    W = gc.variable(np.ones(3, np.float32), name="W")
    step = gc.compile([], gc.sum(W), updates=[(W, W * 2.0)], backend=backend)
    before = W.value
    step()
    np.testing.assert_array_equal(before, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(W.value, [2.0, 2.0, 2.0])


def test_feeding_a_variables_own_buffer_while_updating_it(backend) -> None:
    W = gc.variable(np.full(2, 3.0, np.float32), name="W")
    a = gc.placeholder((2,), "float32", name="a")
    new_w = W * a                                  # scheduled before the output reads a
    out = gc.sum(a * 2.0)
    step = gc.compile([a], out, updates=[(W, new_w)], backend=backend)
    buffer = W.value
    assert float(step(buffer)) == 12.0
    np.testing.assert_array_equal(buffer, [3.0, 3.0])     # the feed is never written
    np.testing.assert_array_equal(W.value, [9.0, 9.0])


def test_an_update_to_a_fed_array_copies_it(backend) -> None:
    W = gc.variable(np.zeros(3), name="W")
    a = gc.placeholder((3,), "float64", name="a")
    feed = np.arange(3.0)
    gc.compile([a], [], updates=[(W, a)], backend=backend)(feed)
    feed[0] = 100.0
    np.testing.assert_array_equal(W.value, [0.0, 1.0, 2.0])


def test_an_output_is_never_the_fed_array_itself(backend) -> None:
    x = gc.placeholder((3,), "float64", name="x")
    feed = np.arange(3.0)
    same, twice = gc.compile([x], [x * 1, x], backend=backend)(feed)
    for out in (same, twice):
        assert not np.shares_memory(out, feed)
    same[0] = 5.0
    np.testing.assert_array_equal(feed, [0.0, 1.0, 2.0])


def test_one_value_returned_twice_gives_two_arrays(backend) -> None:
    x = gc.placeholder((3,), "float64", name="x")
    y = gc.exp(x)
    first, second = gc.compile([x], [y, y], backend=backend)(np.zeros(3))
    first[0] = 7.0
    np.testing.assert_array_equal(second, [1.0, 1.0, 1.0])


def test_a_read_only_feed_is_accepted(backend) -> None:
    x = gc.placeholder((None, 3), "float64", name="x")
    W = gc.variable(np.ones(3), name="W")
    feed = np.broadcast_to(np.arange(3.0), (4, 3))
    assert not feed.flags.writeable
    got = gc.compile([x], x * W + 1.0, updates=[(W, W * 2.0)], backend=backend)(feed)
    np.testing.assert_array_equal(got, np.arange(3.0) + np.ones((4, 3)))
