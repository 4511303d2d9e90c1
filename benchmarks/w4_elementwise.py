"""W4: sigmoid(x) * tanh(0.5 x + 1) + softplus(x) over 2^24 float32 elements, forward only.

Three transcendentals per element and one pass over 64 MB in and 64 MB out: it measures the
elementwise code (fusion, SIMD, vectorized math), next to the machine's copy bandwidth.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from benchmarks import peers
from benchmarks.harness import Problem, Runner, register

N, SMALL_N = 1 << 24, 1 << 12
BYTES = 2 * 4 * N  # x read once, the result written once


def make_problem(seed: int, small: bool = False) -> Problem:
    """x ~ N(0, 4^2): wide enough for both tails of sigmoid and softplus."""
    rng = np.random.default_rng(seed)
    return Problem({}, (rng.standard_normal(SMALL_N if small else N, dtype=np.float32) * 4,))


def build_numpy(problem: Problem) -> Runner:
    """Ufuncs into two preallocated buffers: tanh(0.5 x + 1) / (1 + exp(-x)) + log(1 + e^x).

    NOTE: no augmented assignments: they would make the buffers locals of `step`.
    """
    x, = problem.data
    out, tmp = np.empty_like(x), np.empty_like(x)

    def step() -> np.ndarray:
        np.multiply(x, 0.5, out=tmp)
        np.add(tmp, 1, out=tmp)
        np.tanh(tmp, out=tmp)
        np.negative(x, out=out)
        np.exp(out, out=out)
        np.add(out, 1, out=out)
        np.divide(tmp, out, out=tmp)  # sigmoid(x) * tanh(...)
        np.logaddexp(x, 0, out=out)   # softplus, without overflow
        return np.add(out, tmp, out=out)

    return Runner(step)


def build_graphc(problem: Problem, backend: str) -> Runner:
    """The expression in the DSL, compiled with x's static shape."""
    import graphc as gc

    x, = problem.data
    xs = gc.placeholder(x.shape, "float32", name="x")
    f = gc.compile(inputs=[xs], outputs=gc.sigmoid(xs) * gc.tanh(0.5 * xs + 1) + gc.softplus(xs),
                   backend=backend)
    return Runner(lambda: f(x))


def build_torch(problem: Problem) -> Runner:
    """The expression in eager torch."""
    t = peers.torch()
    x = t.from_numpy(problem.data[0])
    softplus = t.nn.functional.softplus
    return Runner(lambda: t.sigmoid(x) * t.tanh(0.5 * x + 1) + softplus(x))


def build_jax(problem: Problem) -> Runner:
    """The expression jitted by JAX (XLA fuses it into one loop)."""
    j = peers.jax()
    return peers.jax_forward_runner(
        problem, lambda p, x: j.nn.sigmoid(x) * j.numpy.tanh(0.5 * x + 1) + j.nn.softplus(x))


WORKLOAD = register("W4-elementwise", "sigmoid(x)*tanh(0.5x+1)+softplus(x), 2^24 float32, "
                    "forward", None, make_problem, rtol=1e-5, atol=1e-6, bytes_moved=BYTES)
WORKLOAD.add("numpy", build_numpy)
WORKLOAD.add("torch", build_torch)
WORKLOAD.add("jax", build_jax)
WORKLOAD.add("graphc-numpy", partial(build_graphc, backend="numpy"))
WORKLOAD.add("graphc-llvm", partial(build_graphc, backend="llvm"))
