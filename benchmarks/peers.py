"""PyTorch and JAX as peers: imported on first use, set up alike, wrapped as Runners.

Neither is a dependency of graphc: `make bench-peers` installs them into .venv. When one is
absent its builders raise ImportError, which the harness reports as "skipped" with the reason.
torch runs eager on the CPU in float32 with one thread per core; JAX runs jit-compiled on its CPU
backend. Inputs are converted to each framework's arrays once, at build
time, and every step waits for its results (JAX dispatches asynchronously).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from functools import cache

import numpy as np

from benchmarks.harness import Problem, Runner


def _require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{module.split('.')[0]} is not installed ({exc}); "
                          "`make bench-peers` installs it") from None


def cores() -> int:
    """The cores this process may run on (all of the machine's, unless --threads pinned it)."""
    return len(os.sched_getaffinity(0))


@cache
def torch():
    """The torch module, with one intra-op thread per core."""
    module = _require("torch")
    module.set_num_threads(cores())
    return module


@cache
def jax():
    """The jax module, on its CPU backend."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")  # NOTE: before the import, or it probes GPUs
    return _require("jax")


def torch_sgd_runner(params: dict, loss: Callable[[], object], lr: float,
                     exported: Callable[[], dict[str, np.ndarray]] | None = None) -> Runner:
    """Eager SGD: `loss()` builds the autograd graph, backward, then p -= lr * grad in place.

    `params` are leaf tensors requiring grad; `exported` reads them back in the reference's
    layout (by default each one as it is).
    """
    t = torch()
    leaves = list(params.values())

    def step():
        value = loss()
        value.backward()
        with t.no_grad():
            for p in leaves:
                p.sub_(p.grad, alpha=lr)
                p.grad = None
        return value.detach()

    return Runner(step, exported or (lambda: {k: p.detach().numpy().copy()
                                              for k, p in params.items()}))


def torch_tensors(arrays: dict[str, np.ndarray], grad: bool = True) -> dict:
    """Copies of NumPy arrays as torch tensors (leaves requiring grad unless `grad` is False)."""
    t = torch()
    return {k: t.tensor(a).requires_grad_(grad) for k, a in arrays.items()}


def jax_sgd_runner(problem: Problem, loss: Callable, lr: float) -> Runner:
    """One jitted function: loss and gradient of `loss(params, *data)`, and the SGD update.

    The parameters are donated, so XLA may update their buffers in place.
    """
    j = jax()
    params = {k: j.numpy.asarray(a) for k, a in problem.params.items()}
    data = [j.numpy.asarray(a) for a in problem.data]

    def update(params, *data):
        value, grads = j.value_and_grad(loss)(params, *data)
        return value, j.tree.map(lambda p, g: p - lr * g, params, grads)

    update = j.jit(update, donate_argnums=0)
    state = [params]

    def step():
        value, state[0] = j.block_until_ready(update(state[0], *data))
        return value

    return Runner(step, lambda: {k: np.array(a) for k, a in state[0].items()})


def jax_forward_runner(problem: Problem, forward: Callable) -> Runner:
    """`forward(params, *data)` jitted, on the problem converted to JAX arrays once."""
    j = jax()
    params = {k: j.numpy.asarray(a) for k, a in problem.params.items()}
    data = [j.numpy.asarray(a) for a in problem.data]
    compiled = j.jit(forward)
    return Runner(lambda: compiled(params, *data).block_until_ready())
