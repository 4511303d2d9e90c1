"""Training steps (forward, backward and update) of the example models, as graphs with feeds.

The digits MLP, LeNet and LSTM of examples/ in gc.nn layers, gc.losses and gc.optim, plus a
deep MLP of any depth; what the pipeline benchmarks measure and the fusion tests run.
"""
from __future__ import annotations

import numpy as np

import graphc as gc

Step = tuple[gc.Graph, list[np.ndarray]]


def _feeds(rng: np.random.Generator, x_shape: tuple, classes: int | None) -> list[np.ndarray]:
    x = rng.standard_normal(x_shape).astype(np.float32)
    if classes is None:
        return [x, rng.standard_normal((x_shape[0], 1)).astype(np.float32)]
    return [x, rng.integers(0, classes, x_shape[0])]


def _classifier(model, x: gc.Tensor, optimizer, batch: int, seed: int) -> Step:
    y = gc.placeholder((None,), "int64", name="y")
    loss = gc.mean(gc.losses.cross_entropy(model(x), y))
    graph = gc.Graph([x, y], [loss], optimizer.updates(loss, model.trainable_variables))
    return graph, _feeds(np.random.default_rng(seed), (batch, *x.shape[1:]), 10)


def digits_mlp(batch: int = 32, seed: int = 0) -> Step:
    """examples/digits_mlp.py: 64 -> 128 (ReLU) -> 10, softmax cross-entropy, SGD."""
    model = gc.nn.Sequential(gc.nn.Dense(64, 128, activation=gc.relu, seed=seed),
                             gc.nn.Dense(128, 10, seed=seed + 1))
    x = gc.placeholder((None, 64), "float32", name="x")
    return _classifier(model, x, gc.optim.SGD(lr=0.1), batch, seed)


def lenet(batch: int = 32, seed: int = 0) -> Step:
    """examples/lenet_digits.py: two conv-relu-maxpool blocks, dense 64, dense 10; SGD with
    momentum, weight decay and a cosine learning-rate schedule."""
    model = gc.nn.Sequential(
        gc.nn.Conv2D(1, 8, 3, padding=1, seed=seed), gc.relu, gc.nn.MaxPool(2),
        gc.nn.Conv2D(8, 16, 3, padding=1, seed=seed + 1), gc.relu, gc.nn.MaxPool(2),
        gc.nn.Flatten(),
        gc.nn.Dense(16 * 2 * 2, 64, activation=gc.relu, init="he_uniform", seed=seed + 2),
        gc.nn.Dense(64, 10, seed=seed + 3))
    x = gc.placeholder((None, 1, 8, 8), "float32", name="x")
    sgd = gc.optim.SGD(lr=gc.optim.CosineDecay(0.05, total_steps=1000), momentum=0.9,
                       weight_decay=5e-4)
    return _classifier(model, x, sgd, batch, seed)


def lstm(batch: int = 32, steps: int = 24, hidden: int = 32, seed: int = 0) -> Step:
    """examples/lstm_sequence.py: an LSTM (one gc.scan) over the sequence, its last state into
    a dense layer, mean squared error, Adam."""
    cell = gc.nn.LSTM(1, hidden, seed=seed)
    head = gc.nn.Dense(hidden, 1, seed=seed + 1)
    x = gc.placeholder((None, steps, 1), "float32", name="x")
    y = gc.placeholder((None, 1), "float32", name="y")
    loss = gc.mean(gc.losses.mse(head(cell(x)), y))
    params = cell.trainable_variables + head.trainable_variables
    graph = gc.Graph([x, y], [loss], gc.optim.Adam(lr=0.01).updates(loss, params))
    return graph, _feeds(np.random.default_rng(seed), (batch, steps, 1), None)


def deep_mlp(layers: int, width: int = 16, batch: int = 8, seed: int = 0) -> Step:
    """`layers` dense ReLU layers of `width` units, softmax cross-entropy, SGD."""
    model = gc.nn.Sequential(*[gc.nn.Dense(width, width, activation=gc.relu, seed=seed + i)
                               for i in range(layers)])
    x = gc.placeholder((None, width), "float32", name="x")
    return _classifier(model, x, gc.optim.SGD(lr=0.1), batch, seed)


MODELS = {"digits-mlp": digits_mlp, "lenet": lenet, "lstm": lstm}
