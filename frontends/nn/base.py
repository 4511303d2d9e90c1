"""Layer: the base of gc.nn — a callable that builds graph nodes and owns its variables."""
from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Iterator

from graphc.dtypes import is_float
from graphc.ops.leaves import variable
from graphc.tensor import Tensor, scope

_counters: dict[str, itertools.count] = defaultdict(lambda: itertools.count(1))


class Layer:
    """Call a layer on a Tensor to get a Tensor; its nodes go in a name scope of its own.

    Subclasses implement `forward(x, training)`. `training` selects what a graph computes
    (dropout masks, batch statistics): a layer is called once per graph, e.g. once for the
    training step and once, with `training=False` or after `.eval()`, for evaluation.
    Variables and sublayers assigned as attributes (or in lists) are found automatically.
    """

    def __init__(self, name: str | None = None):
        kind = type(self).__name__.lower()
        self.name = name or f"{kind}{next(_counters[kind])}"
        self.training = True
        self._state_updates: list[tuple[Tensor, Tensor]] = []
        self._state: list[Tensor] = []

    def forward(self, x: Tensor, training: bool) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement forward")

    def __call__(self, x: Tensor, training: bool | None = None) -> Tensor:
        training = self.training if training is None else training
        with scope(self.name):
            return self.forward(x, training)

    def add_state(self, value, name: str) -> Tensor:
        """A non-trainable variable of this layer (running statistics, a random state)."""
        state = variable(value, name=f"{self.name}.{name}")
        self._state.append(state)
        return state

    def add_state_update(self, variable: Tensor, value: Tensor) -> None:
        """Record a state change (running statistics, random counters) for the training step."""
        self._state_updates = [(v, n) for v, n in self._state_updates if v is not variable]
        self._state_updates.append((variable, value))

    def sublayers(self) -> Iterator[Layer]:
        for value in vars(self).values():
            items = value if isinstance(value, (list, tuple)) else [value]
            for item in items:
                if isinstance(item, Layer):
                    yield item

    @property
    def variables(self) -> list[Tensor]:
        """Every gc.variable this layer and its sublayers own, trainable or not, once each."""
        found: dict[int, Tensor] = {}
        for value in vars(self).values():
            items = value if isinstance(value, (list, tuple)) else [value]
            for item in items:
                if isinstance(item, Tensor) and item.op == "variable":
                    found.setdefault(id(item), item)
        for layer in self.sublayers():
            for v in layer.variables:
                found.setdefault(id(v), v)
        return list(found.values())

    @property
    def trainable_variables(self) -> list[Tensor]:
        """The variables gradient descent should update (not running statistics or counters)."""
        state = {id(v) for v, _ in self.state_updates} | {id(v) for v in self.state_variables}
        return [v for v in self.variables if id(v) not in state and is_float(v.dtype)]

    @property
    def state_variables(self) -> list[Tensor]:
        """The variables made with add_state, in this layer and its sublayers."""
        return list(self._state) + [v for layer in self.sublayers() for v in layer.state_variables]

    @property
    def state_updates(self) -> list[tuple[Tensor, Tensor]]:
        """(variable, new value) pairs from the latest training-mode calls, to pass to compile."""
        updates = list(self._state_updates)
        for layer in self.sublayers():
            updates += layer.state_updates
        return updates

    def train(self, mode: bool = True) -> Layer:
        self.training = mode
        for layer in self.sublayers():
            layer.train(mode)
        return self

    def eval(self) -> Layer:
        return self.train(False)
