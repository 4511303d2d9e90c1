"""Node: what a converter sees of one ONNX node (its inputs as Tensors, attributes, opset)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from frontends.onnx.errors import NeedsStaticValue, OnnxError, UnsupportedOnnxError
from frontends.onnx.fold import static_value
from frontends.onnx.shapes import SymbolicShape
from graphc.dims import is_dim
from graphc.graph import topological_order
from graphc.tensor import Tensor


class Node:
    """One ONNX node being converted; `fail` and `unsupported` name it in their errors."""

    def __init__(self, op_type: str, domain: str, name: str, opset: int,
                 inputs: list[Tensor | None], attrs: dict[str, Any], num_outputs: int,
                 input_types: list[int | None], subgraph: Callable | None = None):
        self.op_type, self.domain, self.name, self.opset = op_type, domain, name, opset
        self.inputs, self.attrs, self.num_outputs = inputs, attrs, num_outputs
        self.input_types = input_types     # the inputs' ONNX element types, where known
        self._subgraph = subgraph

    def subgraph(self, attr: str, inputs: list[Tensor]) -> list[Tensor]:
        """Convert the body graph in attribute `attr` with its inputs bound to `inputs`."""
        body = self.attr(attr)
        if len(inputs) != len(body.input):
            raise self.fail(f"{attr} takes {len(body.input)} inputs, given {len(inputs)}")
        return self._subgraph(body, {i.name: t for i, t in zip(body.input, inputs)})

    def __repr__(self) -> str:
        return f"{self.op_type} node {self.name or '(unnamed)'!r} (opset {self.opset})"

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)

    def input(self, i: int) -> Tensor | None:
        """Input i, or None where it is omitted (empty name or past the end)."""
        return self.inputs[i] if i < len(self.inputs) else None

    def has(self, i: int) -> bool:
        return self.input(i) is not None

    def x(self, i: int = 0) -> Tensor:
        """Input i, which must be present."""
        t = self.input(i)
        if t is None:
            raise self.fail(f"input {i} is required")
        if isinstance(t, SymbolicShape):
            raise NeedsStaticValue([f"{self!r}: input {i} is a shape with symbolic dims "
                                    f"{t.entries.tolist()}, used where graphc needs a tensor"])
        return t

    def dims(self, i: int) -> list:
        """Input i as a shape: ints, or symbolic dim names where a Shape read them."""
        t = self.input(i)
        if isinstance(t, SymbolicShape):
            return [v if is_dim(v) else int(v) for v in t.entries.reshape(-1)]
        return self.static_ints(i)

    def static(self, i: int) -> np.ndarray:
        """The value of input i, which must be known at load time (a constant or folded)."""
        value = static_value(self.x(i))
        if value is None:
            fed = frozenset(t.name for t in topological_order([self.x(i)])
                            if t.op == "placeholder")
            raise NeedsStaticValue([f"{self!r}: input {i} must be known when the model loads (a "
                                    "constant, computed from static shapes, or given in "
                                    f"static_inputs), not computed at run time (it depends on "
                                    f"{', '.join(sorted(fed)) or 'no input'})"], fed)
        return value

    def static_ints(self, i: int) -> list[int]:
        return [int(v) for v in np.asarray(self.static(i)).reshape(-1)]

    def ints_input_or_attr(self, i: int, attr: str, since: int) -> list[int] | None:
        """An int list given as input i from opset `since` on, as attribute `attr` before."""
        if self.opset >= since:
            return self.static_ints(i) if self.has(i) else None
        value = self.attr(attr)
        return None if value is None else [int(v) for v in value]

    def fail(self, message: str) -> OnnxError:
        return OnnxError(f"{self!r}: {message}")

    def unsupported(self, message: str) -> UnsupportedOnnxError:
        return UnsupportedOnnxError([f"{self!r}: {message}"])

    def axis(self, axis: int, ndim: int) -> int:
        if not -ndim <= axis < ndim:
            raise self.fail(f"axis {axis} is out of range for rank {ndim}")
        return axis % ndim

    def same_dtype(self, *ts: Tensor) -> list[Tensor]:
        """The operands, which must share one element type (as the op's ONNX schema says)."""
        if len({t.dtype for t in ts}) > 1:
            raise self.fail("operands of different types " + ", ".join(str(t.type) for t in ts))
        return list(ts)
