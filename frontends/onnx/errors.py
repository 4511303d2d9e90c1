"""The errors ONNX import and export raise; all are gc.GraphcError subclasses."""
from __future__ import annotations

from graphc.errors import GraphcError


class OnnxError(GraphcError, ValueError):
    """An ONNX model is malformed or cannot be read (or a graph cannot be written as ONNX)."""


class UnsupportedOnnxError(OnnxError):
    """A model uses ops or attributes graphc cannot convert; `unsupported` lists every one."""

    def __init__(self, unsupported: list[str]):
        self.unsupported = unsupported
        lines = "\n  ".join(unsupported)
        super().__init__(f"the model uses {len(unsupported)} unsupported op(s) or "
                         f"attribute(s):\n  {lines}")


class NeedsStaticValue(UnsupportedOnnxError):
    """A value graphc needs at load time (a shape, axes) is computed or fed at run time.

    `inputs` names the graph inputs it depends on: loading again with them given in
    `static_inputs` specializes the model to their values.
    """

    def __init__(self, unsupported: list[str], inputs: frozenset[str] = frozenset()):
        super().__init__(unsupported)
        self.inputs = inputs
