"""gc.optim: several steps of each optimizer against PyTorch's formulas in plain NumPy, and the
learning-rate schedules against their closed forms."""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc as gc

optim = gc.optim
RNG = np.random.default_rng(0)
X, T = RNG.standard_normal((8, 3)), RNG.standard_normal((8, 2))
W0, B0 = RNG.standard_normal((3, 2)), RNG.standard_normal(2)
STEPS = 6


def np_grads(params):
    """Gradients of mean((X @ W + b - T)^2) with respect to W and b."""
    w, b = params
    r = 2 * (X @ w + b - T) / T.size
    return [X.T @ r, r.sum(axis=0)]


# NumPy references, one step each, following the update rules in torch.optim's docs.
# Each takes (params, grads, state dict, step t starting at 1, lr) and updates in place.

def np_sgd(momentum=0.0, nesterov=False, weight_decay=0.0):
    def step(params, grads, state, t, lr):
        for i, (p, g) in enumerate(zip(params, grads)):
            g = g + weight_decay * p
            if momentum:
                b = state[i] = momentum * state.get(i, 0) + g
                g = g + momentum * b if nesterov else b
            p -= lr * g
    return step


def np_adagrad(eps=1e-10, initial=0.0):
    def step(params, grads, state, t, lr):
        for i, (p, g) in enumerate(zip(params, grads)):
            s = state[i] = state.get(i, initial) + g * g
            p -= lr * g / (np.sqrt(s) + eps)
    return step


def np_rmsprop(alpha=0.99, eps=1e-8, momentum=0.0, centered=False, weight_decay=0.0):
    def step(params, grads, state, t, lr):
        for i, (p, g) in enumerate(zip(params, grads)):
            g = g + weight_decay * p
            v = state[("v", i)] = alpha * state.get(("v", i), 0) + (1 - alpha) * g * g
            if centered:
                m = state[("g", i)] = alpha * state.get(("g", i), 0) + (1 - alpha) * g
                v = v - m * m
            d = g / (np.sqrt(v) + eps)
            if momentum:
                d = state[("b", i)] = momentum * state.get(("b", i), 0) + d
            p -= lr * d
    return step


def np_adam(beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    def step(params, grads, state, t, lr):
        for i, (p, g) in enumerate(zip(params, grads)):
            g = g + weight_decay * p
            m = state[("m", i)] = beta1 * state.get(("m", i), 0) + (1 - beta1) * g
            v = state[("v", i)] = beta2 * state.get(("v", i), 0) + (1 - beta2) * g * g
            m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
            p -= lr * m_hat / (np.sqrt(v_hat) + eps)
    return step


CASES = [
    ("sgd", lambda lr: optim.SGD(lr), np_sgd()),
    ("sgd_weight_decay", lambda lr: optim.SGD(lr, weight_decay=0.1), np_sgd(weight_decay=0.1)),
    ("momentum", lambda lr: optim.SGD(lr, momentum=0.9), np_sgd(0.9)),
    ("nesterov", lambda lr: optim.SGD(lr, momentum=0.8, nesterov=True, weight_decay=0.01),
     np_sgd(0.8, True, 0.01)),
    ("adagrad", lambda lr: optim.Adagrad(lr), np_adagrad()),
    ("adagrad_initial", lambda lr: optim.Adagrad(lr, initial_accumulator_value=0.5),
     np_adagrad(initial=0.5)),
    ("rmsprop", lambda lr: optim.RMSProp(lr), np_rmsprop()),
    ("rmsprop_centered_momentum",
     lambda lr: optim.RMSProp(lr, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.01),
     np_rmsprop(0.9, momentum=0.5, centered=True, weight_decay=0.01)),
    ("adam", lambda lr: optim.Adam(lr), np_adam()),
    ("adam_betas", lambda lr: optim.Adam(lr, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.1),
     np_adam(0.5, 0.9, 1e-6, 0.1)),
]


def run_graphc(make_optimizer, lr, backend):
    x = gc.placeholder((None, 3), "float64", name="x")
    t = gc.placeholder((None, 2), "float64", name="t")
    W, b = gc.variable(W0.copy(), name="W"), gc.variable(B0.copy(), name="b")
    loss = gc.mean(gc.losses.mse(x @ W + b, t))
    optimizer = make_optimizer(lr)
    step = gc.compile([x, t], loss, updates=optimizer.updates(loss, [W, b]), backend=backend)
    for _ in range(STEPS):
        step(X, T)
    return [W.value, b.value], optimizer


def run_numpy(update, lr_at):
    params, state = [W0.copy(), B0.copy()], {}
    for t in range(1, STEPS + 1):
        update(params, np_grads(params), state, t, lr_at(t - 1))
    return params


@pytest.mark.parametrize("name,make,reference", CASES, ids=[c[0] for c in CASES])
def test_optimizer_matches_numpy_reference(name, make, reference, backend) -> None:
    got, optimizer = run_graphc(make, 0.05, backend)
    want = run_numpy(reference, lambda t: 0.05)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
    assert not np.allclose(got[0], W0), "the parameters moved"
    assert int(optimizer.iterations.value) == STEPS
    assert all(v.op == "variable" for v in optimizer.variables)


def test_schedule_drives_the_compiled_step(backend) -> None:
    schedule = optim.Warmup(optim.StepDecay(0.1, step_size=2, gamma=0.5), steps=3)
    got, _ = run_graphc(lambda lr: optim.Adam(lr), schedule, backend)
    lr_at = lambda t: 0.1 * 0.5 ** (t // 2) * min(1.0, (t + 1) / 3)  # noqa: E731
    for g, w in zip(got, run_numpy(np_adam(), lr_at)):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def test_learning_rate_may_be_a_variable(backend) -> None:
    lr = gc.variable(np.array(0.05), name="lr")
    got, _ = run_graphc(lambda _: optim.SGD(lr, momentum=0.9), None, backend)
    for g, w in zip(got, run_numpy(np_sgd(0.9), lambda t: 0.05)):
        np.testing.assert_allclose(g, w, rtol=1e-10)


STEPS_RANGE = np.arange(0, 40)
SCHEDULES = [
    ("step", optim.StepDecay(0.3, step_size=7, gamma=0.5), lambda t: 0.3 * 0.5 ** np.floor(t / 7)),
    ("exponential", optim.ExponentialDecay(0.2, gamma=0.9), lambda t: 0.2 * 0.9 ** t),
    ("exponential_slow", optim.ExponentialDecay(0.2, gamma=0.5, decay_steps=10),
     lambda t: 0.2 * 0.5 ** (t / 10)),
    ("cosine", optim.CosineDecay(0.1, total_steps=30, min_lr=0.01),
     lambda t: 0.01 + 0.09 * (1 + np.cos(np.pi * np.minimum(t, 30) / 30)) / 2),
    ("warmup", optim.Warmup(0.1, steps=5), lambda t: 0.1 * np.minimum(1.0, (t + 1) / 5)),
    ("warmup_cosine", optim.Warmup(optim.CosineDecay(0.1, total_steps=30), steps=5),
     lambda t: 0.1 * (1 + np.cos(np.pi * np.minimum(t, 30) / 30)) / 2
     * np.minimum(1.0, (t + 1) / 5)),
    ("step_of_exponential",
     optim.StepDecay(optim.ExponentialDecay(1.0, 0.95), step_size=10, gamma=0.1),
     lambda t: 0.95 ** t * 0.1 ** np.floor(t / 10)),
]


@pytest.mark.parametrize("name,schedule,closed_form", SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_schedule_closed_forms(name, schedule, closed_form) -> None:
    np.testing.assert_allclose(schedule.values(STEPS_RANGE), closed_form(STEPS_RANGE),
                               rtol=1e-12)


def test_float32_parameters_stay_float32() -> None:
    W = gc.variable(np.ones((2, 2), np.float32), name="W32")
    loss = gc.sum(gc.square(W))
    updates = optim.Adam(optim.CosineDecay(0.1, 10)).updates(loss, [W])
    step = gc.compile([], loss, updates=updates)
    step()
    assert W.value.dtype == np.float32 and np.all(W.value < 1)


def test_accepts_a_layer_and_checks_parameters() -> None:
    layer = gc.nn.Dense(3, 2, seed=0)
    x = gc.placeholder((None, 3), "float32")
    loss = gc.mean(gc.square(layer(x)))
    updates = optim.SGD(0.1).updates(loss, layer)
    assert {id(v) for v, _ in updates} >= {id(layer.W), id(layer.b)}
    with pytest.raises(gc.GraphError, match="gc.variables"):
        optim.SGD(0.1).updates(loss, [x])
    with pytest.raises(gc.GraphError, match="twice"):
        optim.SGD(0.1).updates(loss, [layer.W, layer.W])
    with pytest.raises(gc.GraphError, match="only float"):
        optim.SGD(0.1).updates(loss, [gc.variable(np.int64(3), name="count")])
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD(0.1, nesterov=True)
    with pytest.raises(ValueError, match="step_size"):
        optim.StepDecay(0.1, step_size=0)
    assert math.isclose(optim.SGD(0.1).lr, 0.1)
