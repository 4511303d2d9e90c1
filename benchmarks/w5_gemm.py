"""W5: one float32 GEMM, (1024 x 1024) @ (1024 x 1024), forward only.

Pure arithmetic on large operands: it measures how close a backend's matmul comes to the
machine's sgemm peak (NumPy's BLAS in the same run).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from benchmarks import peers
from benchmarks.harness import Problem, Runner, register

N, SMALL_N = 1024, 64
FLOPS = 2 * N**3


def make_problem(seed: int, small: bool = False) -> Problem:
    """Two standard-normal square matrices."""
    rng = np.random.default_rng(seed)
    n = SMALL_N if small else N
    return Problem({}, tuple(rng.standard_normal((n, n), dtype=np.float32) for _ in range(2)))


def build_numpy(problem: Problem) -> Runner:
    """np.matmul into a preallocated result."""
    a, b = problem.data
    out = np.empty((a.shape[0], b.shape[1]), np.float32)
    return Runner(lambda: np.matmul(a, b, out=out))


def build_graphc(problem: Problem, backend: str) -> Runner:
    """a @ b in the DSL, compiled with the operands' static shapes."""
    import graphc as gc

    a, b = problem.data
    pa, pb = gc.placeholder(a.shape, "float32", name="a"), gc.placeholder(b.shape, "float32",
                                                                          name="b")
    f = gc.compile(inputs=[pa, pb], outputs=pa @ pb, backend=backend)
    return Runner(lambda: f(a, b))


def build_torch(problem: Problem) -> Runner:
    """torch.mm into a preallocated result."""
    t = peers.torch()
    a, b = (t.from_numpy(m) for m in problem.data)
    out = t.empty(a.shape[0], b.shape[1])
    return Runner(lambda: t.mm(a, b, out=out))


def build_jax(problem: Problem) -> Runner:
    """a @ b jitted by JAX."""
    return peers.jax_forward_runner(problem, lambda p, a, b: a @ b)


# NOTE: entries are sums of 1024 products of N(0, 1) numbers (sd 32), summed in different
# orders by different BLAS kernels: atol 1e-3 is float32 rounding at that scale.
WORKLOAD = register("W5-gemm", "GEMM 1024^3 float32, forward", None, make_problem, rtol=1e-4,
                    atol=1e-3, flops=FLOPS)
WORKLOAD.add("numpy", build_numpy)
WORKLOAD.add("torch", build_torch)
WORKLOAD.add("jax", build_jax)
WORKLOAD.add("graphc-numpy", partial(build_graphc, backend="numpy"))
WORKLOAD.add("graphc-llvm", partial(build_graphc, backend="llvm"))
