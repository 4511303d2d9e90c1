"""Numerical edge cases: infinite inputs to logsumexp and cross-entropy, float32 accuracy."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special

import graphc as gc

INF = np.inf


def run(fn, *arrays, backend="numpy"):
    holders = [gc.placeholder(a.shape, a.dtype.name) for a in arrays]
    return gc.compile(holders, fn(*holders), backend=backend)(*arrays)


@pytest.mark.parametrize("row", [[-INF, -INF, -INF], [INF, 0.0, 1.0], [-INF, 2.0, -INF],
                                 [INF, INF, -INF], [1e30, -1e30, 0.0]])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_logsumexp_of_infinities_is_scipys(row, dtype, backend) -> None:
    x = np.array(row, dtype)
    with np.errstate(divide="ignore"):
        got = run(gc.logsumexp, x, backend=backend)
        want = scipy.special.logsumexp(x.astype(np.float64))
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_logsumexp_keeps_finite_rows_exact_beside_infinite_ones(backend) -> None:
    x = np.array([[-INF, -INF], [0.0, np.log(3.0)], [INF, 5.0]])
    with np.errstate(divide="ignore"):
        got = run(lambda t: gc.logsumexp(t, axis=1, keepdims=True), x, backend=backend)
    np.testing.assert_allclose(got, [[-INF], [np.log(4.0)], [INF]], rtol=1e-15)


@pytest.mark.parametrize("kind", ["one-hot", "integer"])
def test_cross_entropy_with_a_minus_inf_logit_elsewhere(kind, backend) -> None:
    logits = np.array([[1.0, -INF, 0.0], [-INF, 2.0, 2.0]], np.float32)
    labels = np.array([0, 1]) if kind == "integer" else np.eye(3, dtype=np.float32)[[0, 1]]
    x, y = gc.placeholder((2, 3), "float32"), gc.placeholder(labels.shape, labels.dtype.name)
    loss = gc.losses.cross_entropy(x, y)
    value, grad = gc.compile([x, y], [loss, gc.grad(gc.sum(loss), x)], backend=backend)(
        logits, labels)
    np.testing.assert_allclose(value, [np.log1p(np.exp(-1.0)), np.log(2.0)], rtol=1e-6)
    probs = np.exp(logits - scipy.special.logsumexp(logits, axis=1, keepdims=True))
    np.testing.assert_allclose(grad, probs - np.eye(3)[[0, 1]], atol=1e-6)


def test_float32_log_softmax_of_large_equal_logits_is_accurate(backend) -> None:
    x = np.array([1e4, 1e4, 0.0], np.float32)
    got = run(gc.log_softmax, x, backend=backend)
    want = np.array([-np.log(2.0), -np.log(2.0), -1e4 - np.log(2.0)])
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=2e-7, atol=0)     # float32 rounding: 6e-8


def test_float32_cross_entropy_of_large_logits_is_accurate(backend) -> None:
    logits = np.array([[1e4, 1e4, 0.0], [3e4, 3e4 + 1.0, -3e4]], np.float32)
    labels = np.array([1, 0])
    got = run(gc.losses.cross_entropy, logits, labels, backend=backend)
    want = scipy.special.logsumexp(logits.astype(np.float64), axis=1) - logits[[0, 1], [1, 0]]
    np.testing.assert_allclose(got, want, rtol=1e-6)
