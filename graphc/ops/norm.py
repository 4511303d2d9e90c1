"""Normalization: batch_norm (training and evaluation modes) and layer_norm.

Both are composites of existing ops (mean, var, rsqrt, broadcasting arithmetic), so their
gradients come from the ops' rules and fusion sees plain elementwise and reduction nodes.
"""
from __future__ import annotations

from typing import Sequence

from graphc.dtypes import is_float
from graphc.errors import DTypeError, ShapeError
from graphc.ops.elementwise import rsqrt
from graphc.ops.layout import reshape
from graphc.ops.leaves import as_tensor
from graphc.ops.reductions import mean, var
from graphc.ops.shapes import normalize_axes, normalize_axis
from graphc.tensor import Tensor
from graphc.types import shape_str

__all__ = ["batch_norm", "layer_norm"]


def _float_input(op: str, x) -> Tensor:
    x = as_tensor(x)
    if not is_float(x.dtype):
        raise DTypeError(f"{op}: expects a float input, got {x.dtype}")
    return x


def _channel_param(op: str, what: str, p, x: Tensor, axis: int) -> Tensor:
    """A per-channel vector (C,) reshaped to broadcast along `axis` of x: (1, C, 1, 1)."""
    p = as_tensor(p, like=x)
    channels = x.shape[axis]
    if p.ndim != 1 or (isinstance(channels, int) and p.shape[0] != channels):
        raise ShapeError(f"{op}: {what} must have shape ({channels},) for input "
                         f"{shape_str(x.shape)} with channel axis {axis}, got "
                         f"{shape_str(p.shape)}")
    if p.dtype != x.dtype:
        raise DTypeError(f"{op}: {what} has dtype {p.dtype}, the input {x.dtype}")
    return reshape(p, tuple(-1 if i == axis else 1 for i in range(x.ndim)))


def _batch_stats(x: Tensor, axis: int, ddof: int = 0) -> tuple[Tensor, Tensor]:
    """Mean and variance over every axis but the channel axis, kept broadcastable."""
    axes = tuple(i for i in range(x.ndim) if i != axis)
    return mean(x, axes, keepdims=True), var(x, axes, keepdims=True, ddof=ddof)


def batch_norm(x, gamma, beta, running_mean, running_var, training: bool,
               momentum: float = 0.1, eps: float = 1e-5, axis: int = 1,
               updates: list | None = None) -> Tensor:
    """Normalize per channel (axis) with batch statistics when training, running ones when not.

    gamma, beta, running_mean and running_var are (C,) vectors; gamma and beta may be None,
    and so may the running statistics when training.
    When training and `updates` is a list, the (variable, new value) pairs that move the
    running statistics are appended to it, for gc.compile(updates=...):
    new = (1 - momentum) * running + momentum * batch, with the unbiased batch variance
    (PyTorch's convention).
    """
    x = _float_input("batch_norm", x)
    if x.ndim < 2:
        raise ShapeError(f"batch_norm: expects an input of rank >= 2 (N, C, ...), got "
                         f"{shape_str(x.shape)}")
    axis = normalize_axis(axis, x.ndim)
    missing = running_mean is None or running_var is None
    running = [None if r is None else _channel_param("batch_norm", what, r, x, axis)
               for what, r in (("running_mean", running_mean), ("running_var", running_var))]
    if training:
        mu, sigma2 = _batch_stats(x, axis)
        if updates is not None and not missing:
            updates += _running_updates(x, running_mean, running_var, momentum, axis)
    elif missing:
        raise ValueError("batch_norm: evaluation mode needs running_mean and running_var")
    else:
        mu, sigma2 = running
    y = (x - mu) * rsqrt(sigma2 + eps)
    if gamma is not None:
        y = y * _channel_param("batch_norm", "gamma", gamma, x, axis)
    if beta is not None:
        y = y + _channel_param("batch_norm", "beta", beta, x, axis)
    return y


def _running_updates(x: Tensor, running_mean: Tensor, running_var: Tensor, momentum: float,
                     axis: int) -> list[tuple[Tensor, Tensor]]:
    """(running, (1 - momentum) * running + momentum * batch statistic) for mean and var."""
    mu = reshape(_batch_stats(x, axis)[0], (-1,))
    unbiased = reshape(_batch_stats(x, axis, ddof=1)[1], (-1,))
    return [(running_mean, running_mean * (1 - momentum) + mu * momentum),
            (running_var, running_var * (1 - momentum) + unbiased * momentum)]


def layer_norm(x, gamma=None, beta=None, axis: int | Sequence[int] = -1,
               eps: float = 1e-5) -> Tensor:
    """Normalize over the trailing `axis` (an int or a tuple) of each sample, then scale/shift.

    gamma and beta have the normalized axes' shape, e.g. (D,) for axis=-1.
    """
    x = _float_input("layer_norm", x)
    axes = normalize_axes(axis, x.ndim)
    if axes != tuple(range(x.ndim - len(axes), x.ndim)):
        raise ShapeError(f"layer_norm: normalizes trailing axes, got axis={axis} for input "
                         f"{shape_str(x.shape)}")
    normalized = tuple(x.shape[a] for a in axes)
    y = (x - mean(x, axes, keepdims=True)) * rsqrt(var(x, axes, keepdims=True) + eps)
    for what, p in (("gamma", gamma), ("beta", beta)):
        if p is None:
            continue
        p = as_tensor(p, like=x)
        if tuple(p.shape) != normalized:
            raise ShapeError(f"layer_norm: {what} must have the normalized shape "
                             f"{shape_str(normalized)} of input {shape_str(x.shape)}, got "
                             f"{shape_str(p.shape)}")
        y = y * p if what == "gamma" else y + p
    return y
