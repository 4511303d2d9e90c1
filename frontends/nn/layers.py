"""Core gc.nn layers: Dense, Activation, Sequential, Dropout and Embedding."""
from __future__ import annotations

from typing import Callable, Union

import numpy as np

from frontends.nn import init as initializers
from frontends.nn.base import Layer
from graphc.errors import ShapeError
from graphc.ops import activations
from graphc.ops.indexing import take
from graphc.ops.leaves import variable
from graphc.ops.random import dropout, next_random_state
from graphc.tensor import Tensor
from graphc.types import shape_str

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor] | None] = {
    "linear": None, "relu": activations.relu, "sigmoid": activations.sigmoid,
    "tanh": activations.tanh, "softmax": activations.softmax,
    "log_softmax": activations.log_softmax, "softplus": activations.softplus,
    "elu": activations.elu, "gelu": activations.gelu, "leaky_relu": activations.leaky_relu,
    "heaviside": activations.heaviside}
Activator = Union[str, Callable[[Tensor], Tensor], None]


def activation_fn(activation: Activator) -> Callable[[Tensor], Tensor] | None:
    """The function an activation argument names: a callable as is, or a name (Keras's)."""
    if activation is None or callable(activation):
        return activation
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; the names are "
                         + ", ".join(ACTIVATIONS) + " (or pass a function such as gc.relu)")
    return ACTIVATIONS[activation]


def _fn_name(fn: Callable | None) -> str:
    return getattr(fn, "__name__", None) or repr(fn)


class Dense(Layer):
    """A fully connected layer, x @ W + b with W shaped (in_features, out_features).

    Dense(in_features, out_features) as in PyTorch, or Dense(units) as in Keras: the input
    size is then taken from the last dim of the first input, and W and b are made then.
    activation is a function (gc.relu) or its name ("relu").
    """

    def __init__(self, *features: int, bias: bool = True,
                 init: str | initializers.Initializer = "glorot_uniform",
                 bias_init: str | initializers.Initializer = "zeros",
                 activation: Activator = None, seed: int | np.random.Generator | None = None,
                 dtype: str = "float32", name: str | None = None):
        super().__init__(name)
        if len(features) not in (1, 2) or not all(isinstance(f, (int, np.integer))
                                                  and f > 0 for f in features):
            raise ValueError(f"Dense takes (units) or (in_features, out_features) as positive "
                             f"ints, got {features}")
        self.in_features = int(features[0]) if len(features) == 2 else None
        self.out_features = int(features[-1])
        self.activation = activation_fn(activation)
        self.use_bias, self.dtype = bias, dtype
        self._init, self._bias_init = initializers.get(init), initializers.get(bias_init)
        self._rng = initializers.generator(seed)
        self.W: Tensor | None = None
        self.b: Tensor | None = None
        if self.in_features is not None:
            self.build(self.in_features)

    def build(self, in_features: int) -> None:
        """Make W and b for inputs of in_features features."""
        self.in_features = in_features
        shape = (in_features, self.out_features)
        self.W = variable(self._init(shape, self._rng, self.dtype), name=f"{self.name}.W")
        self.b = (variable(self._bias_init((self.out_features,), self._rng, self.dtype),
                           name=f"{self.name}.b") if self.use_bias else None)

    @property
    def built(self) -> bool:
        return self.W is not None

    def forward(self, x: Tensor, training: bool) -> Tensor:
        if self.W is None:
            size = x.shape[-1] if x.ndim else None
            if not isinstance(size, int):
                raise ShapeError(f"Dense({self.out_features}) infers its input size from the "
                                 f"last dim of its input, which is {size!r} in "
                                 f"{shape_str(x.shape)}; give Dense(in_features, "
                                 f"{self.out_features})")
            self.build(size)
        y = x @ self.W
        if self.b is not None:
            y = y + self.b
        return self.activation(y) if self.activation is not None else y

    def extra_repr(self) -> str:
        size = "?" if self.in_features is None else self.in_features
        text = f"{size} -> {self.out_features}"
        if not self.use_bias:
            text += ", bias=False"
        if self.activation is not None:
            text += f", activation={_fn_name(self.activation)}"
        return text


class Activation(Layer):
    """A parameter-free layer applying `fn` (gc.relu, or its name "relu") in a Sequential."""

    def __init__(self, fn: Activator, name: str | None = None):
        super().__init__(name)
        self.fn = activation_fn(fn) or (lambda x: x)

    def forward(self, x: Tensor, training: bool) -> Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return _fn_name(self.fn)


class Sequential(Layer):
    """Layers applied in turn, each getting the same `training` flag.

    Sequential(a, b, c) or Sequential([a, b, c]); a function (gc.relu) or an activation's
    name becomes an Activation layer. The layers' keys are their positions: `0.W`, `2.b`.
    """

    def __init__(self, *layers, name: str | None = None):
        super().__init__(name)
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for lay in layers:
            if not (isinstance(lay, (Layer, str)) or callable(lay)):
                raise TypeError(f"Sequential takes layers or functions, got {lay!r}")
        self.layers = [lay if isinstance(lay, Layer) else Activation(lay) for lay in layers]

    def forward(self, x: Tensor, training: bool) -> Tensor:
        for layer in self.layers:
            x = layer(x, training=training)
        return x

    def _attributes(self):
        for i, layer in enumerate(self.layers):
            yield str(i), layer

    def add(self, layer) -> None:
        """Append a layer (Keras's Sequential.add)."""
        self.layers.append(layer if isinstance(layer, Layer) else Activation(layer))

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

    def extra_repr(self) -> str:
        return f"rate={self.rate}"


class Embedding(Layer):
    """A lookup table: integer ids (any shape) -> rows of W (num_embeddings, dim), by gc.take."""

    def __init__(self, num_embeddings: int, dim: int,
                 init: str | initializers.Initializer = "normal", seed: int | None = None,
                 dtype: str = "float32", name: str | None = None):
        super().__init__(name)
        self.num_embeddings, self.dim = num_embeddings, dim
        table = initializers.get(init)((num_embeddings, dim), initializers.generator(seed), dtype)
        self.W = variable(table, name=f"{self.name}.W")

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.dim}"

    def forward(self, ids: Tensor, training: bool) -> Tensor:
        return take(self.W, ids, axis=0, negative_from_end=False)
