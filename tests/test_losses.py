"""gc.losses.mse and gc.losses.cross_entropy: values vs NumPy, gradients, stability, batches."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special

import graphc as gc

RNG = np.random.default_rng(0)


def np_mse(pred, target):
    sq = (pred - target) ** 2
    return sq.mean(axis=tuple(range(1, sq.ndim))) if sq.ndim > 1 else sq


def np_cross_entropy(logits, labels, axis=-1):
    """-sum(p * log_softmax) with p the one-hot of integer labels, or the given soft labels."""
    log_p = logits - scipy.special.logsumexp(logits, axis=axis, keepdims=True)
    if labels.dtype.kind == "i":
        onehot = np.moveaxis(np.eye(logits.shape[axis], dtype=logits.dtype)[labels], -1, axis)
        labels = onehot
    return -(labels * log_p).sum(axis=axis)


def run(fn, *arrays, backend="numpy"):
    xs = [gc.placeholder(a.shape, a.dtype) for a in arrays]
    return gc.compile(xs, fn(*xs), backend=backend)(*arrays)


MSE_SHAPES = {"matrix": (5, 3), "vector": (5,), "rank3": (4, 2, 3)}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", MSE_SHAPES.values(), ids=MSE_SHAPES.keys())
def test_mse_is_the_mean_squared_error_per_example(shape, dtype, backend) -> None:
    pred, target = (RNG.standard_normal(shape).astype(dtype) for _ in range(2))
    got = run(gc.losses.mse, pred, target, backend=backend)
    want = np_mse(pred, target)
    assert got.dtype == want.dtype and got.shape == (shape[0],)
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("shape", MSE_SHAPES.values(), ids=MSE_SHAPES.keys())
def test_mse_gradient(shape, backend) -> None:
    pred, target = RNG.standard_normal(shape), RNG.standard_normal(shape)
    gc.testing.check_grad(lambda p, t: gc.mean(gc.losses.mse(p, t)), [pred, target],
                          backend=backend)


LABEL_KINDS = ["int64", "int32", "one-hot", "soft"]


def labels_for(kind: str, n: int, classes: int, dtype: str) -> np.ndarray:
    ints = RNG.integers(0, classes, n)
    if kind in ("int64", "int32"):
        return ints.astype(kind)
    if kind == "one-hot":
        return np.eye(classes, dtype=dtype)[ints]
    return scipy.special.softmax(RNG.standard_normal((n, classes)), axis=-1).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", LABEL_KINDS)
def test_cross_entropy_values(kind, dtype, backend) -> None:
    logits = (RNG.standard_normal((6, 4)) * 3).astype(dtype)
    labels = labels_for(kind, 6, 4, dtype)
    got = run(gc.losses.cross_entropy, logits, labels, backend=backend)
    want = np_cross_entropy(logits, labels)
    assert got.dtype == np.dtype(dtype) and got.shape == (6,)
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("kind", ["int64", "one-hot"])
def test_cross_entropy_with_the_class_axis_first(kind, backend) -> None:
    logits = RNG.standard_normal((4, 6))
    labels = labels_for(kind, 6, 4, "float64")
    labels = labels if kind == "int64" else labels.T
    got = run(lambda x, y: gc.losses.cross_entropy(x, y, axis=0), logits, labels,
              backend=backend)
    np.testing.assert_allclose(got, np_cross_entropy(logits, labels, axis=0), rtol=1e-12)


@pytest.mark.parametrize("kind", LABEL_KINDS)
def test_cross_entropy_gradient_is_softmax_minus_labels(kind, backend) -> None:
    logits = RNG.standard_normal((5, 3)) * 2
    labels = labels_for(kind, 5, 3, "float64")
    gc.testing.check_grad(lambda x, y: gc.mean(gc.losses.cross_entropy(x, y)), [logits, labels],
                          wrt=[0], backend=backend)
    x, y = gc.placeholder(logits.shape, "float64"), gc.placeholder(labels.shape, labels.dtype)
    g = gc.compile([x, y], gc.grad(gc.sum(gc.losses.cross_entropy(x, y)), x),
                   backend=backend)(logits, labels)
    target = np.eye(3)[labels] if labels.dtype.kind == "i" else labels
    np.testing.assert_allclose(g, scipy.special.softmax(logits, axis=-1) - target, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["int64", "one-hot"])
def test_cross_entropy_is_stable_for_huge_logits(kind, dtype, backend) -> None:
    logits = np.array([[1000.0, 0.0, -1000.0], [-1000.0, 1000.0, 0.0], [5e4, 5e4, -5e4]], dtype)
    ints = np.array([0, 0, 1])
    labels = ints if kind == "int64" else np.eye(3, dtype=dtype)[ints]
    x, y = gc.placeholder(logits.shape, dtype), gc.placeholder(labels.shape, labels.dtype)
    loss = gc.losses.cross_entropy(x, y)
    value, g = gc.compile([x, y], [loss, gc.grad(gc.sum(loss), x)], backend=backend)(logits,
                                                                                   labels)
    ulp = np.finfo(dtype).eps * 5e4     # log 2 is lost below the rounding of 5e4 + log 2
    np.testing.assert_allclose(value, [0.0, 2000.0, np.log(2.0)], rtol=1e-6, atol=ulp)
    want_g = np.array([[0, 0, 0], [-1, 1, 0], [0.5, -0.5, 0]])
    np.testing.assert_allclose(g, want_g, atol=1e-6)


def test_losses_over_a_symbolic_batch(backend) -> None:
    """One compiled loss-and-gradient serves any batch size."""
    x, y = gc.placeholder((None, 4), "float64"), gc.placeholder((None,), "int64")
    p, t = gc.placeholder((None, 3), "float64"), gc.placeholder((None, 3), "float64")
    ce, se = gc.mean(gc.losses.cross_entropy(x, y)), gc.mean(gc.losses.mse(p, t))
    f = gc.compile([x, y, p, t], [ce, se] + gc.grad(ce + se, [x, p]), backend=backend)
    for n in (2, 7):
        logits, labels = RNG.standard_normal((n, 4)), RNG.integers(0, 4, n)
        pred, target = RNG.standard_normal((n, 3)), RNG.standard_normal((n, 3))
        got_ce, got_se, gx, gp = f(logits, labels, pred, target)
        np.testing.assert_allclose(got_ce, np_cross_entropy(logits, labels).mean(), rtol=1e-12)
        np.testing.assert_allclose(got_se, np_mse(pred, target).mean(), rtol=1e-12)
        np.testing.assert_allclose(gx, (scipy.special.softmax(logits, -1) - np.eye(4)[labels]) / n,
                                   atol=1e-12)
        np.testing.assert_allclose(gp, 2 * (pred - target) / (n * 3), atol=1e-12)
