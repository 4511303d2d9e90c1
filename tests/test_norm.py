"""batch_norm and layer_norm: values against NumPy formulas, modes, running statistics, grads."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

RNG = np.random.default_rng(0)


def np_batch_norm(x, gamma, beta, mean, var, axis, eps=1e-5):
    shape = [1] * x.ndim
    shape[axis] = -1
    r = lambda v: np.reshape(v, shape)  # noqa: E731
    return (x - r(mean)) / np.sqrt(r(var) + eps) * r(gamma) + r(beta)


def stats(x, axis, ddof=0):
    axes = tuple(i for i in range(x.ndim) if i != axis)
    return x.mean(axis=axes), x.var(axis=axes, ddof=ddof)


@pytest.mark.parametrize("shape, axis", [((16, 5), 1), ((6, 3, 4, 4), 1), ((4, 5, 6, 3), -1)])
def test_batch_norm_training_and_eval_values(backend, shape, axis) -> None:
    c = shape[axis]
    x = RNG.normal(2.0, 3.0, shape)
    gamma, beta = RNG.uniform(0.5, 1.5, c), RNG.normal(size=c)
    rm, rv = RNG.normal(size=c), RNG.uniform(0.5, 2.0, c)
    xp = gc.placeholder((None,) + shape[1:], "float64")
    args = (xp, gc.constant(gamma), gc.constant(beta), gc.constant(rm), gc.constant(rv))
    f = gc.compile(inputs=[xp], outputs=[gc.batch_norm(*args, training=True, axis=axis),
                                         gc.batch_norm(*args, training=False, axis=axis)],
                   backend=backend)
    train, evaluate = f(x)
    np.testing.assert_allclose(train, np_batch_norm(x, gamma, beta, *stats(x, axis % x.ndim),
                                                    axis), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(evaluate, np_batch_norm(x, gamma, beta, rm, rv, axis),
                               rtol=1e-10, atol=1e-10)
    assert not np.allclose(train, evaluate)


def test_running_statistics_move_by_momentum(backend) -> None:
    layer = gc.nn.BatchNorm(3, momentum=0.2, dtype="float64")
    x = gc.placeholder((None, 3, 2, 2), "float64")
    step = gc.compile(inputs=[x], outputs=layer(x, training=True),
                      updates=layer.state_updates, backend=backend)
    evaluate = gc.compile(inputs=[x], outputs=layer(x, training=False), backend=backend)
    batch = RNG.normal(4.0, 2.0, (8, 3, 2, 2))
    before = evaluate(batch)
    np.testing.assert_allclose(before, batch / np.sqrt(1 + 1e-5))   # fresh running stats: 0, 1
    step(batch)
    mean, unbiased = stats(batch, 1, ddof=1)
    np.testing.assert_allclose(layer.running_mean.value, 0.2 * mean)
    np.testing.assert_allclose(layer.running_var.value, 0.8 + 0.2 * unbiased)
    after = evaluate(batch)
    np.testing.assert_allclose(after, np_batch_norm(batch, np.ones(3), np.zeros(3),
                                                    0.2 * mean, 0.8 + 0.2 * unbiased, 1))
    step(batch)
    np.testing.assert_allclose(layer.running_mean.value, (0.2 + 0.8 * 0.2) * mean)


def test_batch_norm_layer_variables() -> None:
    layer = gc.nn.BatchNorm(4)
    assert [v.name for v in layer.trainable_variables] == [f"{layer.name}.gamma",
                                                          f"{layer.name}.beta"]
    assert {v.name.split(".")[1] for v in layer.state_variables} == {"running_mean",
                                                                    "running_var"}
    x = gc.placeholder((None, 4))
    layer.eval()
    layer(x)
    assert layer.state_updates == []
    layer.train()
    layer(x)
    assert [v for v, _ in layer.state_updates] == [layer.running_mean, layer.running_var]


@pytest.mark.parametrize("shape, axis", [((7, 6), -1), ((3, 4, 5), -1), ((3, 4, 5), (1, 2))])
def test_layer_norm_values(backend, shape, axis) -> None:
    x = RNG.normal(1.0, 2.0, shape)
    axes = (axis,) if isinstance(axis, int) else axis
    norm_shape = tuple(shape[a] for a in axes)
    gamma, beta = RNG.uniform(0.5, 1.5, norm_shape), RNG.normal(size=norm_shape)
    mean = x.mean(axis=axes, keepdims=True)
    expected = (x - mean) / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-5) * gamma + beta
    xp = gc.placeholder(shape, "float64")
    f = gc.compile(inputs=[xp], outputs=gc.layer_norm(xp, gc.constant(gamma),
                                                      gc.constant(beta), axis=axis),
                   backend=backend)
    np.testing.assert_allclose(f(x), expected, rtol=1e-10, atol=1e-10)


def test_layer_norm_layer_same_in_both_modes(backend) -> None:
    layer = gc.nn.LayerNorm((4, 5), dtype="float64")
    x = gc.placeholder((None, 3, 4, 5), "float64")
    f = gc.compile(inputs=[x], outputs=[layer(x, training=True), layer(x, training=False)],
                   backend=backend)
    a, b = f(RNG.normal(size=(2, 3, 4, 5)))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a.mean(axis=(2, 3)), 0, atol=1e-12)
    assert layer.state_updates == [] and len(layer.trainable_variables) == 2


@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 3, 2)])
def test_batch_norm_training_gradient(backend, shape) -> None:
    c = shape[1]
    gc.testing.check_grad(
        lambda x, g, b: gc.batch_norm(x, g, b, None, None, training=True),
        [RNG.normal(size=shape), RNG.uniform(0.5, 1.5, c), RNG.normal(size=c)],
        backend=backend, rtol=1e-5, atol=1e-7)


def test_batch_norm_eval_gradient(backend) -> None:
    rm, rv = gc.constant(RNG.normal(size=3)), gc.constant(RNG.uniform(0.5, 2, 3))
    gc.testing.check_grad(lambda x, g, b: gc.batch_norm(x, g, b, rm, rv, training=False),
                          [RNG.normal(size=(4, 3)), RNG.uniform(0.5, 1.5, 3),
                           RNG.normal(size=3)], backend=backend)


@pytest.mark.parametrize("shape, axis", [((4, 6), -1), ((2, 3, 4), (1, 2))])
def test_layer_norm_gradient(backend, shape, axis) -> None:
    axes = (axis,) if isinstance(axis, int) else axis
    norm_shape = tuple(shape[a] for a in axes)
    gc.testing.check_grad(lambda x, g, b: gc.layer_norm(x, g, b, axis=axis),
                          [RNG.normal(size=shape), RNG.uniform(0.5, 1.5, norm_shape),
                           RNG.normal(size=norm_shape)], backend=backend, atol=1e-7)


def test_errors_name_op_and_shapes() -> None:
    x = gc.placeholder((None, 3, 4), "float32")
    v3 = gc.constant(np.ones(3, np.float32))
    with pytest.raises(gc.ShapeError, match=r"batch_norm: gamma must have shape \(3,\)"):
        gc.batch_norm(x, gc.constant(np.ones(4, np.float32)), None, v3, v3, training=True)
    with pytest.raises(gc.DTypeError, match="batch_norm: expects a float input"):
        gc.batch_norm(gc.placeholder((2, 3), "int64"), None, None, v3, v3, training=True)
    with pytest.raises(ValueError, match="evaluation mode needs running_mean"):
        gc.batch_norm(x, None, None, None, None, training=False)
    with pytest.raises(gc.ShapeError, match=r"layer_norm: gamma must have the normalized shape"):
        gc.layer_norm(x, v3)
    with pytest.raises(gc.ShapeError, match="layer_norm: normalizes trailing axes"):
        gc.layer_norm(x, axis=1)
