"""Testing helpers: finite-difference gradient checks against graphc's symbolic gradients."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from graphc.autodiff import grad
from graphc.compile import compile
from graphc.ops.leaves import placeholder
from graphc.ops.reductions import sum as reduce_sum
from graphc.tensor import Tensor


def numeric_grad(f: Callable[..., float], args: list[np.ndarray], i: int,
                 eps: float) -> np.ndarray:
    """Central differences of scalar f with respect to args[i]."""
    x = args[i]
    result = np.zeros_like(x, dtype=np.float64)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + eps
        up = f(*args)
        x[index] = saved - eps
        down = f(*args)
        x[index] = saved
        result[index] = (up - down) / (2 * eps)
    return result


def check_grad(fn: Callable[..., Tensor], args: Sequence[np.ndarray], *,
               wrt: Sequence[int] | None = None, eps: float = 1e-6, rtol: float = 1e-5,
               atol: float = 1e-6, backend: str = "numpy", seed: int = 0) -> None:
    """Assert that graphc's gradient of fn(*args) matches central finite differences.

    fn builds a Tensor from placeholder Tensors; a non-scalar result is reduced with a fixed
    random projection, so every output element is checked. Use float64 arrays.
    """
    args = [np.array(a) for a in args]
    wrt = list(range(len(args))) if wrt is None else list(wrt)
    xs = [placeholder(a.shape, a.dtype, name=f"arg{i}") for i, a in enumerate(args)]
    out = fn(*xs)
    weights = np.random.default_rng(seed).uniform(0.5, 1.5, out.shape).astype(out.dtype)
    y = reduce_sum(out * weights) if out.ndim else out
    grads = grad(y, [xs[i] for i in wrt])
    f_value = compile(xs, y, backend=backend)
    f_grads = compile(xs, grads, backend=backend)
    symbolic = f_grads(*args)
    for i, g in zip(wrt, symbolic):
        numeric = numeric_grad(lambda *a: float(f_value(*a)), args, i, eps)
        np.testing.assert_allclose(g, numeric, rtol=rtol, atol=atol,
                                   err_msg=f"gradient with respect to argument {i}")
