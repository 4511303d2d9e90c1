"""gc.losses beyond mse/cross_entropy: values against NumPy formulas, finite-difference grads."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special

import graphc as gc

L = gc.losses
RNG = np.random.default_rng(0)
N, C = 6, 4
SCORES = RNG.standard_normal((N, C)) * 2
LABELS = np.array([0, 1, 2, 3, 1, 0])
ONE_HOT = np.eye(C)[LABELS]
PRED, TARGET = RNG.standard_normal((N, 3)), RNG.standard_normal((N, 3))
SIGNS = np.array([1.0, -1.0, 1.0, 1.0, -1.0, -1.0])
LOGITS1 = RNG.standard_normal(N) * 3
BITS = (RNG.random(N) > 0.5).astype(np.float64)


def np_weston_watkins(s, y):
    margins = np.maximum(0, s - s[np.arange(len(y)), y][:, None] + 1)
    margins[np.arange(len(y)), y] = 0
    return margins.sum(axis=1)


def np_crammer_singer(s, y):
    rival = np.where(np.eye(s.shape[1], dtype=bool)[y], -np.inf, s).max(axis=1)
    return np.maximum(0, rival - s[np.arange(len(y)), y] + 1)


def np_log_softmax(s):
    return s - scipy.special.logsumexp(s, axis=1, keepdims=True)


# (name, graph loss over placeholders, numpy expectation, arrays, which arrays to differentiate)
CASES = [
    ("mae", lambda p, t: L.mae(p, t), lambda p, t: np.abs(p - t).mean(axis=1),
     [PRED, TARGET], [0, 1]),
    ("hinge", lambda s, y: L.hinge(s, y), lambda s, y: np.maximum(0, 1 - s * y),
     [LOGITS1, SIGNS], [0]),
    ("hinge_margin2", lambda s, y: L.hinge(s, y, margin=2.0),
     lambda s, y: np.maximum(0, 2 - s * y), [LOGITS1, SIGNS], [0]),
    ("multiclass_hinge_ww", lambda s, y: L.multiclass_hinge(s, y), np_weston_watkins,
     [SCORES, LABELS], [0]),
    ("multiclass_hinge_ww_onehot", lambda s, y: L.multiclass_hinge(s, y),
     lambda s, y: np_weston_watkins(s, y.argmax(1)), [SCORES, ONE_HOT], [0]),
    ("multiclass_hinge_cs", lambda s, y: L.multiclass_hinge(s, y, variant="crammer_singer"),
     np_crammer_singer, [SCORES, LABELS], [0]),
    ("cross_entropy_int", lambda s, y: L.cross_entropy(s, y),
     lambda s, y: -np_log_softmax(s)[np.arange(N), y], [SCORES, LABELS], [0]),
    ("cross_entropy_onehot", lambda s, y: L.cross_entropy(s, y),
     lambda s, y: -(np_log_softmax(s) * y).sum(1), [SCORES, ONE_HOT], [0, 1]),
    ("binary_cross_entropy", lambda x, y: L.binary_cross_entropy(x, y),
     lambda x, y: -(y * np.log(scipy.special.expit(x))
                    + (1 - y) * np.log(1 - scipy.special.expit(x))), [LOGITS1, BITS], [0, 1]),
    ("nll", lambda s, y: L.nll(gc.log_softmax(s), y),
     lambda s, y: -np_log_softmax(s)[np.arange(N), y], [SCORES, LABELS], [0]),
    ("nll_onehot", lambda s, y: L.nll(s, y), lambda s, y: -(s * y).sum(1), [SCORES, ONE_HOT],
     [0]),
]


def run(fn, arrays, backend):
    xs = [gc.placeholder(a.shape, a.dtype) for a in arrays]
    return gc.compile(xs, fn(*xs), backend=backend)(*arrays)


@pytest.mark.parametrize("name,fn,expect,arrays,wrt", CASES, ids=[c[0] for c in CASES])
def test_loss_values(name, fn, expect, arrays, wrt, backend) -> None:
    got = run(fn, arrays, backend)
    assert got.shape == (N,), "losses return one value per example"
    np.testing.assert_allclose(got, expect(*arrays), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,fn,expect,arrays,wrt", CASES, ids=[c[0] for c in CASES])
def test_loss_gradients(name, fn, expect, arrays, wrt, backend) -> None:
    gc.testing.check_grad(fn, arrays, wrt=wrt, backend=backend)


def test_losses_are_stable_for_huge_logits(backend) -> None:
    x = np.array([800.0, -800.0, 800.0, -800.0])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(run(L.binary_cross_entropy, [x, y], backend), [0, 0, 800, 800])
    s = np.array([[1000.0, 0.0, -1000.0]])
    np.testing.assert_allclose(run(L.cross_entropy, [s, np.array([2])], backend), [2000.0])
    nll_of_logits = run(lambda z, y: L.nll(gc.log_softmax(z), y), [s, np.array([0])], backend)
    np.testing.assert_allclose(nll_of_logits, [0.0], atol=1e-12)


def test_penalties(backend) -> None:
    a, b = RNG.standard_normal((3, 2)), RNG.standard_normal(5)
    A, B = gc.variable(a, name="A"), gc.variable(b, name="B")
    l1, l2 = np.abs(a).sum() + np.abs(b).sum(), (a ** 2).sum() + (b ** 2).sum()
    out = gc.compile([], [L.l1([A, B]), L.l2([A, B], scale=0.5),
                          L.elastic_net([A, B], scale=2.0, l1_ratio=0.3), L.l2(A)],
                     backend=backend)()
    np.testing.assert_allclose(out, [l1, 0.5 * l2, 2.0 * (0.3 * l1 + 0.7 * l2),
                                     (a ** 2).sum()])
    assert all(o.shape == () for o in out)


def test_penalty_gradients(backend) -> None:
    a, b = RNG.standard_normal((3, 2)) + 0.1, RNG.standard_normal(4)
    gc.testing.check_grad(lambda p, q: L.elastic_net([p, q], scale=0.7, l1_ratio=0.4), [a, b],
                          backend=backend)
    gc.testing.check_grad(lambda p: L.l1(p) + L.l2(p), [a], backend=backend)


def test_clear_errors() -> None:
    s = gc.placeholder((None, 3), "float32")
    with pytest.raises(ValueError, match="variant"):
        L.multiclass_hinge(s, gc.placeholder((None,), "int64"), variant="svm")
    with pytest.raises(gc.DTypeError, match="binary_cross_entropy"):
        L.binary_cross_entropy(gc.placeholder((None,), "int64"), s[:, 0])
    with pytest.raises(ValueError, match="l1_ratio"):
        L.elastic_net([s], l1_ratio=1.5)
    with pytest.raises(ValueError, match="at least one"):
        L.l2([])


@pytest.mark.parametrize("loss", [L.mse, L.mae, L.hinge, L.binary_cross_entropy])
def test_targets_may_not_broadcast_predictions_to_a_new_shape(loss) -> None:
    column = gc.placeholder((None, 1), "float32", name="pred")
    with pytest.raises(gc.ShapeError, match=r"would broadcast predictions \(\?\d+, 1\)"):
        loss(column, gc.placeholder((None,), "float32", name="target"))
    assert loss(column, 1.0).ndim == 1, "a scalar target is fine"
