"""Layer: the base of gc.nn — a callable that builds graph nodes and owns its variables.

A layer's variables have structural keys, as in a PyTorch state dict: the attribute path from
the layer down (`W`, `encoder.dense.b`, `0.W` for a Sequential's first layer), so two models
built alike have the same keys, whatever their layers happen to be called.
"""
from __future__ import annotations

import itertools
import math
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
        self._state: dict[str, Tensor] = {}       # add_state's variables by their names

    def forward(self, x: Tensor, training: bool) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement forward")

    def __call__(self, x: Tensor, training: bool | None = None) -> Tensor:
        training = self.training if training is None else training
        with scope(self.name):
            return self._called(self.forward(x, training))

    def _called(self, output):
        """Record the output's shape (for summary()) and return it."""
        if isinstance(output, Tensor):
            self._output_shape = output.shape
        return output

    def add_state(self, value, name: str) -> Tensor:
        """A non-trainable variable of this layer (running statistics, a random state)."""
        state = variable(value, name=f"{self.name}.{name}")
        self._state[name] = state
        return state

    def add_state_update(self, variable: Tensor, value: Tensor) -> None:
        """Record a state change (running statistics, random counters) for the training step."""
        self._state_updates = [(v, n) for v, n in self._state_updates if v is not variable]
        self._state_updates.append((variable, value))

    def sublayers(self) -> Iterator[Layer]:
        for _, layer in self.named_sublayers():
            yield layer

    def named_sublayers(self) -> Iterator[tuple[str, Layer]]:
        """(key, layer) of the layers held in attributes, `blocks.0` for one in a list."""
        for key, item in self._attributes():
            if isinstance(item, Layer):
                yield key, item

    def _attributes(self) -> Iterator[tuple[str, object]]:
        """(key, value) of the public attributes, items of lists and tuples keyed by index."""
        for attr, value in vars(self).items():
            if attr.startswith("_"):
                continue
            if isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    yield f"{attr}.{i}", item
            else:
                yield attr, value

    def named_variables(self) -> dict[str, Tensor]:
        """Every variable by its structural key (`0.W`, `encoder.dense.b`), each once."""
        found: dict[str, Tensor] = {}
        seen: set[int] = set()

        def visit(layer: Layer, prefix: str) -> None:
            held = [(k, v) for k, v in layer._attributes() if isinstance(v, Tensor)]
            for key, item in held + list(layer._state.items()):
                if item.op == "variable" and id(item) not in seen:
                    seen.add(id(item))
                    found[prefix + key] = item
            for key, sub in layer.named_sublayers():
                visit(sub, f"{prefix}{key}.")
        visit(self, "")
        return found

    @property
    def variables(self) -> list[Tensor]:
        """Every gc.variable this layer and its sublayers own, trainable or not, once each."""
        return list(self.named_variables().values())

    @property
    def trainable_variables(self) -> list[Tensor]:
        """The variables gradient descent should update (not running statistics or counters)."""
        state = {id(v) for v, _ in self.state_updates} | {id(v) for v in self.state_variables}
        return [v for v in self.variables if id(v) not in state and is_float(v.dtype)]

    @property
    def state_variables(self) -> list[Tensor]:
        """The variables made with add_state, in this layer and its sublayers."""
        return list(self._state.values()) + [v for layer in self.sublayers()
                                             for v in layer.state_variables]

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

    # ---- printing ------------------------------------------------------------------------------

    def extra_repr(self) -> str:
        """The layer's settings, shown inside the parentheses of repr (as in PyTorch)."""
        return ""

    def __repr__(self) -> str:
        children = list(self.named_sublayers())
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not children:
            return head + ")"
        lines = [head]
        for key, layer in children:
            shown = repr(layer).replace("\n", "\n  ")
            lines.append(f"  ({key}): {shown}")
        return "\n".join(lines) + "\n)"

    def summary(self, print_fn=print) -> str:
        """A table of the layer's parts, their output shapes and parameter counts; printed too.

        Output shapes are those of the latest call (None for a symbolic dim such as the batch).
        """
        from frontends.nn.summary import summary_table
        text = summary_table(self)
        if print_fn is not None:
            print_fn(text)
        return text

    @property
    def output_shape(self) -> tuple | None:
        """The shape of the latest call's output (None before the first call)."""
        return getattr(self, "_output_shape", None)

    @property
    def built(self) -> bool:
        """Whether every variable exists (a layer sized by its first input has none before)."""
        return all(layer.built for layer in self.sublayers())

    def count_params(self) -> int:
        """The number of values in this layer's variables (trainable or not)."""
        return sum(math.prod(v.shape) for v in self.variables)
