"""Convolution and pooling layers: Conv1D/2D/3D own their kernels; pooling and Flatten own none."""
from __future__ import annotations

from typing import Callable

import numpy as np

from frontends.nn import init as initializers
from frontends.nn.base import Layer
from graphc.errors import ShapeError
from graphc.ops import conv, layout, pool
from graphc.ops.leaves import variable
from graphc.tensor import Tensor

__all__ = ["Conv1D", "Conv2D", "Conv3D", "MaxPool", "AvgPool", "GlobalAvgPool", "Flatten"]

class _ConvND(Layer):
    """A convolution over `nd` spatial axes owning its kernel W (O, I/groups, k...) and bias b.

    W starts He-uniform (suits ReLU) from `rng` (a Generator) or `seed`, else from gc.nn.init's
    default generator; `init` is any gc.nn.init name or a callable init(shape, rng, dtype).
    """

    nd = 0
    fn: Callable[..., Tensor]

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True,
                 init: str | initializers.Initializer = "he_uniform",
                 rng: np.random.Generator | None = None, seed: int | None = None,
                 dtype: str = "float32", name: str | None = None):
        super().__init__(name)
        if in_channels % groups or out_channels % groups:
            raise ShapeError(f"{type(self).__name__}: groups={groups} must divide both "
                             f"in_channels={in_channels} and out_channels={out_channels}")
        kernel = (kernel_size,) * self.nd if isinstance(kernel_size, int) else tuple(kernel_size)
        shape = (out_channels, in_channels // groups) + kernel
        if rng is not None and seed is not None:
            raise ValueError(f"{type(self).__name__}: give rng= or seed=, not both")
        values = initializers.get(init)(shape, rng if rng is not None else seed, dtype)
        self.W = variable(values, name=f"{self.name}.W")
        self.b = variable(np.zeros(out_channels, dtype), name=f"{self.name}.b") if bias else None
        self.options = {"stride": stride, "padding": padding, "dilation": dilation,
                        "groups": groups}
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel

    def extra_repr(self) -> str:
        options = ", ".join(f"{k}={v}" for k, v in self.options.items()
                            if v != {"stride": 1, "padding": 0, "dilation": 1, "groups": 1}[k])
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
                + (", " + options if options else "") + (", bias=False" if self.b is None else ""))

    def forward(self, x: Tensor, training: bool) -> Tensor:
        return type(self).fn(x, self.W, self.b, **self.options)


class Conv1D(_ConvND):
    """1-D convolution layer over (N, C, L) inputs, as gc.conv1d."""

    nd, fn = 1, staticmethod(conv.conv1d)


class Conv2D(_ConvND):
    """2-D convolution layer over (N, C, H, W) inputs, as gc.conv2d."""

    nd, fn = 2, staticmethod(conv.conv2d)


class Conv3D(_ConvND):
    """3-D convolution layer over (N, C, D, H, W) inputs, as gc.conv3d."""

    nd, fn = 3, staticmethod(conv.conv3d)


class _Pool(Layer):
    fn: Callable[..., Tensor]

    def __init__(self, kernel, stride=None, padding=0, name: str | None = None):
        super().__init__(name)
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x: Tensor, training: bool) -> Tensor:
        return type(self).fn(x, self.kernel, self.stride, self.padding)

    def extra_repr(self) -> str:
        return (f"kernel={self.kernel}" + (f", stride={self.stride}" if self.stride else "")
                + (f", padding={self.padding}" if self.padding else ""))


class MaxPool(_Pool):
    """Max pooling, 1-, 2- or 3-D from the input's rank (stride defaults to the kernel)."""

    fn = staticmethod(pool.max_pool)


class AvgPool(_Pool):
    """Average pooling counting zero padding, 1-, 2- or 3-D from the input's rank."""

    fn = staticmethod(pool.avg_pool)


class GlobalAvgPool(Layer):
    """Mean over the spatial axes: (N, C, ...) -> (N, C)."""

    def forward(self, x: Tensor, training: bool) -> Tensor:
        return pool.global_avg_pool(x)


class Flatten(Layer):
    """Merge every axis from start_axis on (keeping the batch axis), e.g. before a Dense layer."""

    def __init__(self, start_axis: int = 1, name: str | None = None):
        super().__init__(name)
        self.start_axis = start_axis

    def forward(self, x: Tensor, training: bool) -> Tensor:
        return layout.flatten(x, self.start_axis)
