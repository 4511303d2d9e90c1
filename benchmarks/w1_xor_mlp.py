"""W1: one SGD step of a 2-8-1 XOR MLP (tanh, sigmoid, MSE), batch 4, float32.

So small that it measures per-step overhead (dispatch, allocation), not arithmetic.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from benchmarks import peers
from benchmarks.harness import Problem, Runner, register, sgd_runner

LR = 0.5
NAMES = ("W1", "b1", "W2", "b2")


def make_problem(seed: int, small: bool = False) -> Problem:
    """The four XOR points and a seeded N(0, 1) initialization (already small)."""
    rng = np.random.default_rng(seed)
    params = {
        "W1": rng.standard_normal((2, 8), dtype=np.float32),
        "b1": np.zeros(8, np.float32),
        "W2": rng.standard_normal((8, 1), dtype=np.float32),
        "b2": np.zeros(1, np.float32),
    }
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([[0], [1], [1], [0]], np.float32)
    return Problem(params, (x, y))


def build_numpy(problem: Problem) -> Runner:
    """Hand-written forward and backward pass, updating the parameters in place."""
    W1, b1, W2, b2 = p = [problem.params[k].copy() for k in NAMES]
    x, y = problem.data
    scale = 2.0 / y.size  # d mean((out - y)^2) / d out = 2 (out - y) / size

    def step() -> np.float32:
        h = x @ W1
        h += b1
        np.tanh(h, out=h)
        z = h @ W2
        z += b2
        out = 1.0 / (1.0 + np.exp(-z))
        err = out - y
        loss = np.mean(err * err)
        dz = err * scale * out * (1.0 - out)
        dh = dz @ W2.T  # uses W2 before its update
        dh *= 1.0 - h * h
        for W, b, a, d in ((W2, b2, h, dz), (W1, b1, x, dh)):
            W -= LR * (a.T @ d)
            b -= LR * d.sum(axis=0)
        return loss

    return Runner(step, lambda: {k: a.copy() for k, a in zip(NAMES, p)})


def build_graphc(problem: Problem, backend: str) -> Runner:
    """The same step written in the DSL: gc.grad for the backward pass, SGD as updates."""
    import graphc as gc

    x = gc.placeholder((None, 2), "float32", name="x")
    y = gc.placeholder((None, 1), "float32", name="y")
    v = {k: gc.variable(problem.params[k].copy(), name=k) for k in NAMES}
    h = gc.tanh(x @ v["W1"] + v["b1"])
    pred = gc.sigmoid(h @ v["W2"] + v["b2"])
    loss = gc.mean(gc.losses.mse(pred, y))
    return sgd_runner([x, y], loss, {k: v[k] for k in NAMES}, LR, problem, backend)


def build_torch(problem: Problem) -> Runner:
    """The same step in eager PyTorch: autograd for the backward pass, SGD in place."""
    t = peers.torch()
    p = peers.torch_tensors(problem.params)
    x, y = (t.from_numpy(a) for a in problem.data)

    def loss():
        h = t.tanh(t.addmm(p["b1"], x, p["W1"]))
        return t.mean((t.sigmoid(t.addmm(p["b2"], h, p["W2"])) - y) ** 2)

    return peers.torch_sgd_runner(p, loss, LR)


def build_jax(problem: Problem) -> Runner:
    """The same step as one jitted JAX function."""
    j = peers.jax()

    def loss(p, x, y):
        h = j.numpy.tanh(x @ p["W1"] + p["b1"])
        return j.numpy.mean((j.nn.sigmoid(h @ p["W2"] + p["b2"]) - y) ** 2)

    return peers.jax_sgd_runner(problem, loss, LR)


WORKLOAD = register("W1-xor-mlp", "XOR MLP 2-8-1 tanh/sigmoid, MSE, SGD", 4, make_problem)
WORKLOAD.add("numpy", build_numpy)
WORKLOAD.add("torch", build_torch)
WORKLOAD.add("jax", build_jax)
WORKLOAD.add("graphc-numpy", partial(build_graphc, backend="numpy"))
WORKLOAD.add("graphc-llvm", partial(build_graphc, backend="llvm"))
