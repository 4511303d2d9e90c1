"""An onnx.backend.base.Backend running ONNX models with graphc, so onnx's BackendTest runs.

`GraphcBackend.prepare(model, "CPU", backend="numpy")` imports and compiles; `rep.run(inputs)`
returns arrays of exactly the dtypes and shapes the model declares. A model graphc cannot
convert raises `Declined`, both an UnsupportedOnnxError and a unittest.SkipTest, so the test
runner counts it as skipped, never as passed.
"""
from __future__ import annotations

import unittest
from typing import Any, Sequence

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

import graphc as gc
from frontends.onnx.errors import NeedsStaticValue, UnsupportedOnnxError
from frontends.onnx.loader import Imported, import_model


class Declined(UnsupportedOnnxError, unittest.SkipTest):
    """The model uses something graphc does not convert: a skip, never a pass."""


class GraphcRep(BackendRep):
    """A compiled model: run(inputs) -> one array per graph output.

    A model that needs some input's value when it loads (axes or a shape fed as an input) is
    imported on each run with its integer inputs bound, and compiled once per such binding.
    """

    def __init__(self, model: onnx.ModelProto, backend: str):
        self.model, self.backend = model, backend
        self.specialized: dict[tuple, tuple[Imported, Any]] = {}
        try:
            self.general = self._compile({})
        except NeedsStaticValue:
            self.general = None
            self.input_names = [v.name for v in model.graph.input
                                if v.name not in {i.name for i in model.graph.initializer}]

    def _compile(self, static: dict) -> tuple[Imported, Any]:
        try:
            imported = import_model(self.model, static_inputs=static)
        except NeedsStaticValue:
            if static:
                raise Declined(["needs run-time values at load time, even with its integer "
                                "inputs bound"]) from None
            raise
        except UnsupportedOnnxError as exc:
            raise Declined(exc.unsupported) from None
        return imported, gc.compile(imported.graph, backend=self.backend)

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        if self.general is not None:
            imported, function = self.general
            names = imported.input_names
        else:
            names = self.input_names
        if isinstance(inputs, dict):
            inputs = [inputs[name] for name in names]
        elif not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        arrays = dict(zip(names, (np.asarray(a) for a in inputs)))
        if self.general is None:
            static = {k: a for k, a in arrays.items() if a.dtype.kind in "iub"}
            if not static:
                raise Declined(["needs the value of a float input when it loads"])
            key = tuple((k, a.dtype.str, a.shape, a.tobytes()) for k, a in static.items())
            if key not in self.specialized:
                self.specialized[key] = self._compile(static)
            imported, function = self.specialized[key]
        feeds = [arrays[name].astype(t.dtype, copy=False)
                 for name, t in zip(imported.input_names, imported.graph.inputs)]
        outputs = function(*feeds)
        return tuple(np.asarray(o).astype(dtype, copy=False)
                     for o, dtype in zip(outputs, imported.output_dtypes))


class GraphcBackend(Backend):
    """graphc as an ONNX backend on the CPU; `backend` picks the graphc backend compiling it."""

    default_backend = "numpy"

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", backend: str | None = None,
                **kwargs: Any) -> GraphcRep:
        if not cls.supports_device(device):
            raise Declined([f"device {device!r} (graphc runs on the CPU)"])
        return GraphcRep(model, backend or cls.default_backend)

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU",
                  **kwargs: Any) -> tuple[np.ndarray, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device.upper() == "CPU"

    @classmethod
    def using(cls, backend: str) -> type[GraphcBackend]:
        """This Backend compiling with another graphc backend ("numpy", "llvm")."""
        return type(f"GraphcBackend_{backend}", (cls,), {"default_backend": backend})


def run(model: onnx.ModelProto, inputs: Sequence[np.ndarray], backend: str = "numpy"):
    """Import, compile and run a model once."""
    return GraphcBackend.prepare(model, backend=backend).run(list(inputs))
