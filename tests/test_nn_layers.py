"""gc.nn layers: Dense, Activation, Sequential, Dropout, Embedding — values, variables, modes."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

RNG = np.random.default_rng(1)


def test_dense_computes_x_w_plus_b(backend) -> None:
    layer = gc.nn.Dense(4, 3, seed=0, dtype="float64")
    assert layer.W.shape == (4, 3) and layer.b.shape == (3,)
    layer.b.value = [1.0, 2.0, 3.0]
    x = gc.placeholder((None, 4), "float64")
    feed = RNG.normal(size=(5, 4))
    out = gc.compile(inputs=[x], outputs=layer(x), backend=backend)(feed)
    np.testing.assert_allclose(out, feed @ layer.W.value + layer.b.value)
    assert layer.variables == [layer.W, layer.b]


def test_dense_options() -> None:
    plain = gc.nn.Dense(3, 2, bias=False, init="zeros", activation=gc.relu)
    assert plain.b is None and plain.variables == [plain.W]
    assert np.all(plain.W.value == 0)
    a, b = gc.nn.Dense(30, 20, seed=4), gc.nn.Dense(30, 20, seed=4)
    np.testing.assert_array_equal(a.W.value, b.W.value)
    assert a.name != b.name and a.W is not b.W
    he = gc.nn.Dense(400, 300, init=gc.nn.init.he_normal, seed=0)
    assert abs(he.W.value.var() - 2 / 400) < 0.05 * 2 / 400
    with pytest.raises(ValueError, match="unknown initializer"):
        gc.nn.Dense(3, 2, init="nope")


def test_sequential_composes_and_passes_training(backend) -> None:
    model = gc.nn.Sequential(gc.nn.Dense(6, 8, seed=1), gc.relu, gc.nn.Dropout(0.5, seed=2),
                             gc.nn.Dense(8, 2, seed=3))
    assert len(model) == 4 and isinstance(model[1], gc.nn.Activation)
    assert len(model.variables) == 5 and len(model.trainable_variables) == 4
    x = gc.placeholder((None, 6), "float32")
    feed = RNG.normal(size=(10, 6)).astype(np.float32)
    evaluate = gc.compile(inputs=[x], outputs=model(x, training=False), backend=backend)
    d1, d2 = model[0], model[3]
    expected = np.maximum(feed @ d1.W.value + d1.b.value, 0) @ d2.W.value + d2.b.value
    np.testing.assert_allclose(evaluate(feed), expected, rtol=1e-5, atol=1e-6)
    train = gc.compile(inputs=[x], outputs=model(x), updates=model.state_updates,
                       backend=backend)
    assert len(model.state_updates) == 1
    assert not np.allclose(train(feed), expected)


def test_train_eval_flags_propagate() -> None:
    model = gc.nn.Sequential(gc.nn.Dense(2, 2), gc.nn.Sequential(gc.nn.Dropout(0.3)))
    model.eval()
    assert not model.training and not model[1][0].training
    x = gc.placeholder((None, 2))
    model(x)
    assert model.state_updates == []
    model.train()
    model(x)
    assert model[1][0].training and len(model.state_updates) == 1


def test_training_step_with_a_model_lowers_the_loss(backend) -> None:
    gc.nn.init.seed(0)
    model = gc.nn.Sequential(gc.nn.Dense(2, 16, init="he_uniform"), gc.tanh,
                             gc.nn.BatchNorm(16), gc.nn.Dense(16, 1))
    x = gc.placeholder((None, 2), "float32")
    t = gc.placeholder((None, 1), "float32")
    loss = gc.mean(gc.square(model(x) - t))
    params = model.trainable_variables
    grads = gc.grad(loss, params)
    step = gc.compile(inputs=[x, t], outputs=loss, backend=backend,
                      updates=[(p, p - 0.1 * g) for p, g in zip(params, grads)]
                      + model.state_updates)
    xs = RNG.uniform(-1, 1, (64, 2)).astype(np.float32)
    ts = (xs[:, :1] * xs[:, 1:]).astype(np.float32)
    losses = [float(step(xs, ts)) for _ in range(100)]
    assert losses[-1] < 0.5 * losses[0]


def test_embedding_lookup_and_gradient(backend) -> None:
    layer = gc.nn.Embedding(7, 3, seed=0, dtype="float64")
    ids = gc.placeholder((None, 4), "int64")
    feed = np.array([[0, 6, 2, 2], [5, 5, 1, 0]])
    out = gc.compile(inputs=[ids], outputs=layer(ids), backend=backend)(feed)
    np.testing.assert_array_equal(out, layer.W.value[feed])
    loss = gc.sum(layer(ids) * gc.constant(RNG.normal(size=(2, 4, 3))))
    (g,) = gc.grad(loss, [layer.W])
    gw = gc.compile(inputs=[ids], outputs=g, backend=backend)(feed)
    assert np.all(gw[[3, 4]] == 0) and np.any(gw[2] != 0)    # rows never looked up get nothing
    gc.testing.check_grad(lambda w, i: gc.take(w, i, axis=0),
                          [RNG.normal(size=(7, 3)), feed], wrt=[0], backend=backend)


def test_activation_layer() -> None:
    layer = gc.nn.Activation(gc.sigmoid)
    f = gc.compile(inputs=[x := gc.placeholder((3,), "float64")], outputs=layer(x))
    np.testing.assert_allclose(f(np.zeros(3)), 0.5)
    assert layer.variables == []
