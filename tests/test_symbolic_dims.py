"""Symbolic dims: anonymous ones join what they meet, named ones are never assumed equal."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc


def test_differently_named_dims_do_not_broadcast():
    x = gc.placeholder(("Rows", 3), "float32")
    y = gc.placeholder(("Cols", 3), "float32")
    with pytest.raises(gc.ShapeError, match=r"dims Rows and Cols may differ.*test_symbolic_dims"):
        x + y


def test_anonymous_dim_takes_the_users_name():
    x = gc.placeholder((None, 3), "float32", name="x")
    y = gc.placeholder(("Batch", 3), "float32", name="y")
    total = x + y
    assert "Batch" in str(total.type)
    f = gc.compile([x, y], total)
    with pytest.raises(gc.FeedError, match="Batch"):
        f(np.zeros((2, 3), "float32"), np.zeros((4, 3), "float32"))
    np.testing.assert_array_equal(f(np.ones((2, 3), "float32"), np.ones((2, 3), "float32")),
                                  np.full((2, 3), 2.0))


def test_named_dims_concatenate_along_their_own_axis():
    x = gc.placeholder(("Rows2", 3), "float32")
    y = gc.placeholder(("Rows2", 4), "float32")
    f = gc.compile([x, y], gc.concatenate([x, y], axis=1))
    assert f(np.zeros((5, 3), "float32"), np.ones((5, 4), "float32")).shape == (5, 7)


def test_concatenate_takes_the_static_dim_a_symbol_meets():
    x = gc.placeholder((None, 3), "float64", name="x")
    v = gc.variable(np.arange(6.0).reshape(3, 2), name="v")
    joined = gc.concatenate([x, v], axis=1)
    assert joined.shape == (3, 5)
    gx, gv = gc.grad(gc.sum(joined * 2), [x, v])
    f = gc.compile([x], [joined, gx, gv])
    value, dx, dv = f(np.ones((3, 3)))
    np.testing.assert_array_equal(value, np.c_[np.ones((3, 3)), np.arange(6.0).reshape(3, 2)])
    np.testing.assert_array_equal(dx, np.full((3, 3), 2.0))
    np.testing.assert_array_equal(dv, np.full((3, 2), 2.0))


def test_reshape_to_one_derived_dim() -> None:
    """A single dim expression (n + 2) is a one-dim shape, as an int or a name is (random
    graphs found `x.reshape(d)` raising TypeError: 'DimExpr' object is not iterable)."""
    x = gc.placeholder((None,), "float32")
    padded = gc.pad(x, 1)
    flat = gc.reshape(gc.expand_dims(padded, 0), padded.shape[0])
    assert flat.shape == padded.shape
    np.testing.assert_array_equal(gc.compile([x], flat)(np.ones(3, "float32")),
                                  np.pad(np.ones(3, "float32"), 1))
