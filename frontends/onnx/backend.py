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

    A model that needs some inputs' values when it loads (axes, scales or a shape fed as
    inputs) is specialized: imported with those inputs bound to the values fed, and compiled
    once per distinct binding.
    """

    def __init__(self, model: onnx.ModelProto, backend: str):
        self.model, self.backend = model, backend
        self.specialized: dict[tuple, tuple[Imported, Any]] = {}
        self.input_names = [v.name for v in model.graph.input
                            if v.name not in {i.name for i in model.graph.initializer}]
        self.bound: frozenset[str] = frozenset()
        self.general = self._compile({})

    def _compile(self, static: dict) -> tuple[Imported, Any] | None:
        """The import and compiled function; None when it needs more inputs bound."""
        try:
            imported = import_model(self.model, static_inputs=static)
        except NeedsStaticValue as exc:
            if not exc.inputs or exc.inputs <= set(static) or \
                    not exc.inputs <= set(self.input_names):     # a loop's own value, say
                raise Declined(exc.unsupported) from None
            self.bound |= exc.inputs
            return None
        except UnsupportedOnnxError as exc:
            raise Declined(exc.unsupported) from None
        return imported, gc.compile(imported.graph, backend=self.backend)

    def _specialized(self, arrays: dict[str, np.ndarray]) -> tuple[Imported, Any]:
        while True:
            static = {k: arrays[k] for k in sorted(self.bound)}
            key = tuple((k, a.dtype.str, a.shape, a.tobytes()) for k, a in static.items())
            if key not in self.specialized:
                compiled = self._compile(static)
                if compiled is None:            # another input turned out to be needed
                    continue
                self.specialized[key] = compiled
            return self.specialized[key]

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        if isinstance(inputs, dict):
            inputs = [inputs[name] for name in self.input_names]
        elif not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        arrays = dict(zip(self.input_names, (np.asarray(a) for a in inputs)))
        imported, function = self.general or self._specialized(arrays)
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
