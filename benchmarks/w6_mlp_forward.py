"""W6: W2's MLP (784-256-128-10 ReLU) forward to the logits, on one example.

A few hundred thousand flops: it measures the fixed cost of one call (dispatch, checks,
small-matmul overhead) rather than arithmetic.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from benchmarks import peers, w2_mlp
from benchmarks.harness import Problem, Runner, register


def make_problem(seed: int, small: bool = False) -> Problem:
    """W2's parameters and one example (already small)."""
    problem = w2_mlp.problem(seed, batch=1)
    return Problem(problem.params, problem.data[:1])


def build_numpy(problem: Problem) -> Runner:
    """Three matmuls, biases and ReLUs into preallocated buffers."""
    p, (x,) = problem.params, problem.data
    buffers = [np.empty((1, width), np.float32) for width in w2_mlp.SIZES[1:]]

    def step() -> np.ndarray:
        h = x
        for i, out in enumerate(buffers, start=1):
            np.matmul(h, p[f"W{i}"], out=out)
            np.add(out, p[f"b{i}"], out=out)
            if i < len(buffers):
                np.maximum(out, 0, out=out)
            h = out
        return h

    return Runner(step)


def build_graphc(problem: Problem, backend: str) -> Runner:
    """W2's DSL forward compiled with the weights as variables."""
    import graphc as gc

    x = gc.placeholder((None, w2_mlp.SIZES[0]), "float32", name="x")
    v = {k: gc.variable(a.copy(), name=k) for k, a in problem.params.items()}
    f = gc.compile(inputs=[x], outputs=w2_mlp.graphc_logits(x, v), backend=backend)
    data = problem.data[0]
    return Runner(lambda: f(data))


def build_torch(problem: Problem) -> Runner:
    """W2's eager torch forward on tensors that need no gradient."""
    t = peers.torch()
    p = peers.torch_tensors(problem.params, grad=False)
    x = t.from_numpy(problem.data[0])
    return Runner(lambda: w2_mlp.torch_logits(p, x))


def build_jax(problem: Problem) -> Runner:
    """W2's forward jitted by JAX."""
    return peers.jax_forward_runner(problem, w2_mlp.jax_logits)


WORKLOAD = register("W6-mlp-forward", "W2's MLP forward to the logits", 1, make_problem)
WORKLOAD.add("numpy", build_numpy)
WORKLOAD.add("torch", build_torch)
WORKLOAD.add("jax", build_jax)
WORKLOAD.add("graphc-numpy", partial(build_graphc, backend="numpy"))
WORKLOAD.add("graphc-llvm", partial(build_graphc, backend="llvm"))
