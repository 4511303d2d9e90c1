"""Core gc.nn layers: Dense, Activation, Sequential, Dropout and Embedding."""
from __future__ import annotations

from typing import Callable

import numpy as np

from frontends.nn import init as initializers
from frontends.nn.base import Layer
from graphc.ops.indexing import take
from graphc.ops.leaves import variable
from graphc.ops.random import dropout, next_random_state
from graphc.tensor import Tensor


class Dense(Layer):
    """A fully connected layer, x @ W + b with W shaped (in_features, out_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 init: str | initializers.Initializer = "glorot_uniform",
                 bias_init: str | initializers.Initializer = "zeros",
                 activation: Callable[[Tensor], Tensor] | None = None, seed: int | None = None,
                 dtype: str = "float32", name: str | None = None):
        super().__init__(name)
        self.in_features, self.out_features = in_features, out_features
        self.activation = activation
        shape = (in_features, out_features)
        rng = initializers.generator(seed)
        self.W = variable(initializers.get(init)(shape, rng, dtype), name=f"{self.name}.W")
        self.b = (variable(initializers.get(bias_init)((out_features,), rng, dtype),
                           name=f"{self.name}.b") if bias else None)

    def forward(self, x: Tensor, training: bool) -> Tensor:
        y = x @ self.W
        if self.b is not None:
            y = y + self.b
        return self.activation(y) if self.activation is not None else y


class Activation(Layer):
    """A parameter-free layer applying `fn` (gc.relu, gc.tanh, ...) so it fits in Sequential."""

    def __init__(self, fn: Callable[[Tensor], Tensor], name: str | None = None):
        super().__init__(name)
        self.fn = fn

    def forward(self, x: Tensor, training: bool) -> Tensor:
        return self.fn(x)


class Sequential(Layer):
    """Layers applied in turn, each getting the same `training` flag."""

    def __init__(self, *layers: Layer | Callable[[Tensor], Tensor], name: str | None = None):
        super().__init__(name)
        self.layers = [lay if isinstance(lay, Layer) else Activation(lay) for lay in layers]

    def forward(self, x: Tensor, training: bool) -> Tensor:
        for layer in self.layers:
            x = layer(x, training=training)
        return x

    def __getitem__(self, index: int) -> Layer:
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)


class Dropout(Layer):
    """Inverted dropout with its own random state, advanced by a state update per training step.

    Without a seed, the seed comes from gc.nn.init's default generator (see init.seed).
    """

    def __init__(self, rate: float, seed: int | None = None, name: str | None = None):
        super().__init__(name)
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate}")
        self.rate = rate
        seed = int(initializers.generator(None).integers(1 << 62)) if seed is None else seed
        self.state = self.add_state(np.array([seed, 0], np.int64), "rng")

    def forward(self, x: Tensor, training: bool) -> Tensor:
        if not training or self.rate == 0:
            return x
        self.add_state_update(self.state, next_random_state(self.state))
        return dropout(x, self.rate, self.state)


class Embedding(Layer):
    """A lookup table: integer ids (any shape) -> rows of W (num_embeddings, dim), by gc.take."""

    def __init__(self, num_embeddings: int, dim: int,
                 init: str | initializers.Initializer = "normal", seed: int | None = None,
                 dtype: str = "float32", name: str | None = None):
        super().__init__(name)
        self.num_embeddings, self.dim = num_embeddings, dim
        table = initializers.get(init)((num_embeddings, dim), initializers.generator(seed), dtype)
        self.W = variable(table, name=f"{self.name}.W")

    def forward(self, ids: Tensor, training: bool) -> Tensor:
        return take(self.W, ids, axis=0, negative_from_end=False)
