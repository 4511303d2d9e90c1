"""Normalization layers: BatchNorm (running statistics as state) and LayerNorm."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from frontends.nn.base import Layer
from graphc.ops.leaves import variable
from graphc.ops.norm import batch_norm, layer_norm
from graphc.tensor import Tensor


def _scale_shift(layer: str, shape: tuple, dtype: str, affine: bool):
    """The learned scale (ones) and shift (zeros) of a normalization, or (None, None)."""
    if not affine:
        return None, None
    return (variable(np.ones(shape, dtype), name=f"{layer}.gamma"),
            variable(np.zeros(shape, dtype), name=f"{layer}.beta"))


class BatchNorm(Layer):
    """Batch normalization over channel `axis` of (N, C) or (N, C, H, W) inputs.

    Training calls normalize with batch statistics and record the running-average updates
    (see `state_updates`); evaluation calls use the running mean and variance.
    """

    def __init__(self, num_features: int, axis: int = 1, momentum: float = 0.1,
                 eps: float = 1e-5, affine: bool = True, dtype: str = "float32",
                 name: str | None = None):
        super().__init__(name)
        self.num_features = num_features
        self.axis, self.momentum, self.eps = axis, momentum, eps
        self.gamma, self.beta = _scale_shift(self.name, (num_features,), dtype, affine)
        self.running_mean = self.add_state(np.zeros(num_features, dtype), "running_mean")
        self.running_var = self.add_state(np.ones(num_features, dtype), "running_var")

    def extra_repr(self) -> str:
        return f"{self.num_features}, axis={self.axis}"

    def forward(self, x: Tensor, training: bool) -> Tensor:
        updates: list[tuple[Tensor, Tensor]] = []
        y = batch_norm(x, self.gamma, self.beta, self.running_mean, self.running_var, training,
                       self.momentum, self.eps, self.axis, updates=updates)
        for var, new in updates:
            self.add_state_update(var, new)
        return y


class LayerNorm(Layer):
    """Layer normalization over the trailing dims `shape` of each sample, with gamma and beta."""

    def __init__(self, shape: int | Sequence[int], eps: float = 1e-5, affine: bool = True,
                 dtype: str = "float32", name: str | None = None):
        super().__init__(name)
        self.shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.eps = eps
        self.gamma, self.beta = _scale_shift(self.name, self.shape, dtype, affine)

    def extra_repr(self) -> str:
        return str(self.shape[0] if len(self.shape) == 1 else self.shape)

    def forward(self, x: Tensor, training: bool) -> Tensor:
        axes = tuple(range(-len(self.shape), 0))
        return layer_norm(x, self.gamma, self.beta, axis=axes, eps=self.eps)
