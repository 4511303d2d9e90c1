"""Stability rewrites: losses written the unstable way by hand get finite values and gradients.

Each case compares a hand-written unstable form with the stable op, on float32 logits of
magnitude 1e4, for the loss and for its gradient; the gradient is differentiated from the
stabilized forward (gc.grad stabilizes its target) and the pipeline rewrites the loss itself.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

Z = np.array([[1e4, -1e4, 0.0], [-3e3, 5e3, 1.0]], np.float32)
LABELS = np.array([0, 2])


def _pick(x, labels):
    return gc.take_along_axis(x, gc.reshape(gc.constant(labels), (-1, 1)), axis=1)


CASES = {
    "log(softmax)": (lambda z: -_pick(gc.log(gc.softmax(z)), LABELS),
                     lambda z: -_pick(gc.log_softmax(z), LABELS)),
    "log(softmax)[slice]": (lambda z: -gc.log(gc.softmax(z))[:, 1],
                            lambda z: -gc.log_softmax(z)[:, 1]),
    "log(sigmoid)": (lambda z: gc.log(gc.sigmoid(z)), lambda z: -gc.softplus(-z)),
    "log(1 - sigmoid)": (lambda z: gc.log(1 - gc.sigmoid(z)), lambda z: -gc.softplus(z)),
    "bce on sigmoid": (
        lambda z: -(0.3 * gc.log(gc.sigmoid(z)) + 0.7 * gc.log(1 - gc.sigmoid(z))),
        lambda z: gc.softplus(z) - 0.3 * z),     # what BCE from logits computes
    "log(sum(exp))": (lambda z: gc.log(gc.sum(gc.exp(z), axis=1)),
                      lambda z: gc.logsumexp(z, axis=1)),
    "manual softmax": (lambda z: gc.log(gc.exp(z) / gc.sum(gc.exp(z), 1, keepdims=True)),
                       gc.log_softmax),
}


@pytest.mark.parametrize("name", CASES)
def test_unstable_form_is_finite_and_equals_the_stable_op(name: str, backend: str) -> None:
    unstable, stable = CASES[name]
    z = gc.placeholder(Z.shape, "float32", name="z")
    results = []
    for fn in (unstable, stable):
        loss = gc.sum(fn(z))
        results.append(gc.compile([z], [loss, gc.grad(loss, z)], backend=backend)(Z))
    (loss, grad), (want_loss, want_grad) = results
    assert np.isfinite(loss) and np.isfinite(grad).all(), (loss, grad)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-6)


def test_without_the_pipeline_the_forward_overflows_but_the_gradient_is_stable() -> None:
    z = gc.placeholder(Z.shape, "float32", name="z")
    loss = gc.sum(gc.log(gc.sigmoid(z)))
    value, grad = gc.compile([z], [loss, gc.grad(loss, z)], optimize=False)(Z)
    assert not np.isfinite(value)                 # log(0): the rewrite is what fixes it
    assert np.isfinite(grad).all()


def test_the_stability_pass_reports_its_rules() -> None:
    z = gc.placeholder(Z.shape, "float32", name="z")
    graph = gc.Graph([z], [gc.log(gc.sigmoid(z)), gc.exp(z) - 1, gc.log(z * z + 1)])
    _, report = gc.optimize(graph, passes=["stability"])
    assert report.fired == {"log(sigmoid)": 1, "exp(x) - 1": 1, "log(1 + x)": 1}


def test_a_gradient_target_the_rewrite_would_remove_keeps_the_plain_form() -> None:
    z = gc.placeholder((3,), "float32", name="z")
    s = gc.sigmoid(z)
    g = gc.grad(gc.sum(gc.log(s)), s)      # d/ds log(s) = 1/s: s must stay in the graph
    np.testing.assert_allclose(gc.compile([z], g)(np.zeros(3, np.float32)), [2.0, 2.0, 2.0])
