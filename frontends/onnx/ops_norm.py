"""Normalization: batch, instance, layer, group, RMS, Lp, mean-variance, and LRN."""
from __future__ import annotations

import graphc as gc
from frontends.onnx.node import Node
from frontends.onnx.table import converts
from graphc.tensor import Tensor, make


def _spatial_axes(x: Tensor) -> tuple[int, ...]:
    return tuple(range(2, x.ndim))


def _per_channel(p: Tensor, x: Tensor) -> Tensor:
    """A (C,) vector shaped to broadcast along axis 1 of x."""
    return gc.reshape(gc.cast(p, x.dtype), (-1,) + (1,) * (x.ndim - 2))


@converts("BatchNormalization", attrs=("epsilon", "momentum", "spatial", "is_test",
                                       "consumed_inputs", "training_mode"))
def batch_norm(n: Node):
    x = n.x(0)
    scale, bias, mean, var = (_per_channel(n.x(i), x) for i in range(1, 5))
    eps = n.attr("epsilon", 1e-5)
    if n.opset < 14 and n.num_outputs > 1:
        raise n.unsupported("the training-mode outputs of BatchNormalization before opset 14")
    if not n.attr("training_mode", 0):
        # x * a + b: with constant statistics, a and b fold to two vectors at load time.
        a = scale * gc.rsqrt(var + eps)
        return x * a + (bias - mean * a)
    axes = (0,) + _spatial_axes(x)
    batch_mean = gc.mean(x, axes, keepdims=True)
    batch_var = gc.var(x, axes, keepdims=True)
    y = (x - batch_mean) * gc.rsqrt(batch_var + eps) * scale + bias
    momentum = n.attr("momentum", 0.9)
    running_mean = gc.cast(n.x(3), x.dtype) * momentum + \
        gc.reshape(batch_mean, (-1,)) * (1 - momentum)
    running_var = gc.cast(n.x(4), x.dtype) * momentum + \
        gc.reshape(batch_var, (-1,)) * (1 - momentum)
    return y, running_mean, running_var


@converts("InstanceNormalization", attrs=("epsilon",))
def instance_norm(n: Node) -> Tensor:
    x = n.x(0)
    axes = _spatial_axes(x)
    mean, var = gc.mean(x, axes, keepdims=True), gc.var(x, axes, keepdims=True)
    y = (x - mean) * gc.rsqrt(var + n.attr("epsilon", 1e-5))
    return y * _per_channel(n.x(1), x) + _per_channel(n.x(2), x)


@converts("LayerNormalization", attrs=("axis", "epsilon", "stash_type"))
def layer_norm(n: Node):
    x = n.x(0)
    axis = n.axis(n.attr("axis", -1), x.ndim)
    axes = tuple(range(axis, x.ndim))
    # NOTE: stash_type asks for float32 statistics at least, which graphc's widened dtypes
    # always are.
    mean = gc.mean(x, axes, keepdims=True)
    inv_std = gc.rsqrt(gc.var(x, axes, keepdims=True) + n.attr("epsilon", 1e-5))
    y = (x - mean) * inv_std * gc.cast(n.x(1), x.dtype)
    if n.has(2):
        y = y + gc.cast(n.x(2), x.dtype)
    return y, mean, inv_std


@converts("LRN", attrs=("alpha", "beta", "bias", "size"))
def lrn(n: Node) -> Tensor:
    """x / (bias + alpha / size * (sum of x^2 over `size` neighbouring channels)) ** beta."""
    x = n.x(0)
    size = n.attr("size")
    batch, channels = x.shape[:2]
    squares = gc.reshape(gc.square(x), (batch, 1, channels, -1))
    window = make("avg_pool", [squares], {
        "kernel": (size, 1), "stride": (1, 1), "dilation": (1, 1),
        "pads": (((size - 1) // 2, size // 2), (0, 0))})
    window = gc.reshape(window, x.shape)
    alpha, beta, bias = n.attr("alpha", 1e-4), n.attr("beta", 0.75), n.attr("bias", 1.0)
    return x / gc.power(window * alpha + bias, gc.cast(beta, x.dtype))


def _normalized(x: Tensor, axes: tuple[int, ...], eps: float) -> Tensor:
    return (x - gc.mean(x, axes, keepdims=True)) * gc.rsqrt(gc.var(x, axes, keepdims=True) + eps)


@converts("GroupNormalization", attrs=("epsilon", "num_groups", "stash_type"))
def group_norm(n: Node) -> Tensor:
    """Normalize each group of channels over it and the spatial axes; scale per channel."""
    x, groups = n.x(0), n.attr("num_groups")
    batch, channels = x.shape[:2]
    grouped = gc.reshape(x, (batch, groups, -1))
    y = gc.reshape(_normalized(grouped, (2,), n.attr("epsilon", 1e-5)), x.shape)
    scale, bias = n.x(1), n.x(2)
    if n.opset < 21:       # opset 18: one scale and bias per group
        scale = gc.reshape(gc.broadcast_to(gc.reshape(scale, (groups, 1)),
                                           (groups, channels // groups)), (channels,))
        bias = gc.reshape(gc.broadcast_to(gc.reshape(bias, (groups, 1)),
                                          (groups, channels // groups)), (channels,))
    return y * _per_channel(scale, x) + _per_channel(bias, x)


@converts("RMSNormalization", attrs=("axis", "epsilon", "stash_type"))
def rms_norm(n: Node) -> Tensor:
    x = n.x(0)
    axes = tuple(range(n.axis(n.attr("axis", -1), x.ndim), x.ndim))
    y = x * gc.rsqrt(gc.mean(gc.square(x), axes, keepdims=True) + n.attr("epsilon", 1e-5))
    return y * gc.cast(n.x(1), x.dtype)


@converts("LpNormalization", attrs=("axis", "p"))
def lp_norm(n: Node) -> Tensor:
    x, p = n.x(0), n.attr("p", 2)
    axis = n.axis(n.attr("axis", -1), x.ndim)
    norm = gc.sum(gc.abs(x), axis, keepdims=True) if p == 1 else \
        gc.sqrt(gc.sum(gc.square(x), axis, keepdims=True))
    return gc.where(gc.equal(norm, 0), gc.cast(0, x.dtype), x / norm)


@converts("MeanVarianceNormalization", attrs=("axes",))
def mean_variance_norm(n: Node) -> Tensor:
    x = n.x(0)
    axes = tuple(n.axis(a, x.ndim) for a in n.attr("axes", [0, 2, 3]))
    centered = x - gc.mean(x, axes, keepdims=True)
    return centered / gc.sqrt(gc.mean(gc.square(centered), axes, keepdims=True) + 1e-9)
