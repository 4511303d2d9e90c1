"""W2: one SGD step of a 784-256-128-10 ReLU MLP with softmax cross-entropy, batch 128.

MNIST-sized: the three matmuls dominate, so it measures the arithmetic a backend emits.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from benchmarks import peers
from benchmarks.harness import Problem, Runner, register, sgd_runner

LR = 0.01
SIZES = (784, 256, 128, 10)
BATCH, SMALL_BATCH = 128, 16
NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")
LAYER_MACS = [a * b for a, b in zip(SIZES, SIZES[1:])]  # per example, per layer
FLOPS = 2 * BATCH * (2 * sum(LAYER_MACS) + sum(LAYER_MACS[1:]))  # forward, dW, dx past layer 1


def make_problem(seed: int, small: bool = False) -> Problem:
    """He-initialized weights and one random batch (standard-normal pixels, int64 labels)."""
    return problem(seed, SMALL_BATCH if small else BATCH)


def problem(seed: int, batch: int) -> Problem:
    """W2's parameters for `seed` and a batch of `batch` examples (W6 uses batch 1)."""
    rng = np.random.default_rng(seed)
    params: dict[str, np.ndarray] = {}
    for i, (fan_in, fan_out) in enumerate(zip(SIZES, SIZES[1:]), start=1):
        w = rng.standard_normal((fan_in, fan_out), dtype=np.float32)
        params[f"W{i}"] = w * np.float32(np.sqrt(2.0 / fan_in))
        params[f"b{i}"] = np.zeros(fan_out, np.float32)
    x = rng.standard_normal((batch, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], batch, dtype=np.int64)
    return Problem(params, (x, y))


def build_numpy(problem: Problem) -> Runner:
    """Hand-written forward and backward pass into preallocated buffers, updating in place.

    NOTE: fresh ~1 MB temporaries on every step cost page faults that can exceed the
    arithmetic, so, as fast NumPy code does, every large buffer is allocated once and
    written with `out=` (an augmented assignment would make it a local of `step`).
    """
    W1, b1, W2, b2, W3, b3 = p = [problem.params[k].copy() for k in NAMES]
    x, y = problem.data
    n, rows = len(y), np.arange(len(y))
    h1, h2, z = (np.empty((n, width), x.dtype) for width in SIZES[1:])
    dh1, dh2 = np.empty_like(h1), np.empty_like(h2)
    gW1, gW2, gW3 = (np.empty_like(w) for w in (W1, W2, W3))

    def step() -> np.float32:
        np.matmul(x, W1, out=h1)
        np.add(h1, b1, out=h1)
        np.maximum(h1, 0.0, out=h1)
        np.matmul(h1, W2, out=h2)
        np.add(h2, b2, out=h2)
        np.maximum(h2, 0.0, out=h2)
        np.matmul(h2, W3, out=z)
        np.add(z, b3, out=z)
        np.subtract(z, z.max(axis=1, keepdims=True), out=z)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = np.mean(np.log(s[:, 0]) - z[rows, y])
        dz = e  # softmax - onehot, divided by the batch size for the mean
        dz /= s
        dz[rows, y] -= 1.0
        dz *= 1.0 / n
        np.matmul(dz, W3.T, out=dh2)  # both backward matmuls use the weights before the update
        np.multiply(dh2, h2 > 0.0, out=dh2)
        np.matmul(dh2, W2.T, out=dh1)
        np.multiply(dh1, h1 > 0.0, out=dh1)
        for W, b, a, d, gW in ((W3, b3, h2, dz, gW3), (W2, b2, h1, dh2, gW2),
                               (W1, b1, x, dh1, gW1)):
            np.matmul(a.T, d, out=gW)
            gW *= LR
            W -= gW
            b -= LR * d.sum(axis=0)
        return loss

    return Runner(step, lambda: {k: a.copy() for k, a in zip(NAMES, p)})


def graphc_logits(x, v: dict):
    """The MLP in the DSL, from x to the logits (W6 compiles just this)."""
    import graphc as gc

    h1 = gc.relu(x @ v["W1"] + v["b1"])
    h2 = gc.relu(h1 @ v["W2"] + v["b2"])
    return h2 @ v["W3"] + v["b3"]


def graphc_model(problem: Problem) -> tuple[list, object, dict]:
    """The step's inputs, mean cross-entropy loss and variables, built in the DSL."""
    import graphc as gc

    x = gc.placeholder((None, SIZES[0]), "float32", name="x")
    y = gc.placeholder((None,), "int64", name="y")
    v = {k: gc.variable(problem.params[k].copy(), name=k) for k in NAMES}
    return [x, y], gc.mean(gc.losses.cross_entropy(graphc_logits(x, v), y)), v


def build_graphc(problem: Problem, backend: str) -> Runner:
    """The same step written in the DSL: gc.grad for the backward pass, SGD as updates."""
    inputs, loss, variables = graphc_model(problem)
    return sgd_runner(inputs, loss, variables, LR, problem, backend)


def torch_logits(p: dict, x):
    """The MLP in eager torch; addmm is what nn.Linear runs."""
    t = peers.torch()
    h1 = t.relu(t.addmm(p["b1"], x, p["W1"]))
    h2 = t.relu(t.addmm(p["b2"], h1, p["W2"]))
    return t.addmm(p["b3"], h2, p["W3"])


def build_torch(problem: Problem) -> Runner:
    """The same step in eager PyTorch: autograd for the backward pass, SGD in place."""
    t = peers.torch()
    p = peers.torch_tensors(problem.params)
    x, y = (t.from_numpy(a) for a in problem.data)
    return peers.torch_sgd_runner(
        p, lambda: t.nn.functional.cross_entropy(torch_logits(p, x), y), LR)


def jax_logits(p: dict, x):
    """The MLP in jax.numpy."""
    relu = peers.jax().nn.relu
    h1 = relu(x @ p["W1"] + p["b1"])
    h2 = relu(h1 @ p["W2"] + p["b2"])
    return h2 @ p["W3"] + p["b3"]


def build_jax(problem: Problem) -> Runner:
    """The same step as one jitted JAX function."""
    j = peers.jax()

    def loss(p, x, y):
        logp = j.nn.log_softmax(jax_logits(p, x))
        return -j.numpy.mean(j.numpy.take_along_axis(logp, y[:, None], axis=1))

    return peers.jax_sgd_runner(problem, loss, LR)


WORKLOAD = register("W2-mlp-784", "MLP 784-256-128-10 ReLU, cross-entropy, SGD", BATCH,
                    make_problem, flops=FLOPS)
WORKLOAD.add("numpy", build_numpy)
WORKLOAD.add("torch", build_torch)
WORKLOAD.add("jax", build_jax)
WORKLOAD.add("graphc-numpy", partial(build_graphc, backend="numpy"))
WORKLOAD.add("graphc-llvm", partial(build_graphc, backend="llvm"))
