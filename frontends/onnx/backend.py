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
from frontends.onnx.errors import UnsupportedOnnxError
from frontends.onnx.loader import Imported, import_model


class Declined(UnsupportedOnnxError, unittest.SkipTest):
    """The model uses something graphc does not convert: a skip, never a pass."""


class GraphcRep(BackendRep):
    """A compiled model: run(inputs) -> one array per graph output."""

    def __init__(self, imported: Imported, backend: str):
        self.imported = imported
        self.function = gc.compile(imported.graph, backend=backend)

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        imp = self.imported
        if isinstance(inputs, dict):
            inputs = [inputs[name] for name in imp.input_names]
        elif not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        feeds = [np.asarray(a).astype(t.dtype, copy=False)
                 for a, t in zip(inputs, imp.graph.inputs)]
        outputs = self.function(*feeds)
        return tuple(np.asarray(o).astype(dtype, copy=False)
                     for o, dtype in zip(outputs, imp.output_dtypes))


class GraphcBackend(Backend):
    """graphc as an ONNX backend on the CPU; `backend` picks the graphc backend compiling it."""

    default_backend = "numpy"

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", backend: str | None = None,
                **kwargs: Any) -> GraphcRep:
        if not cls.supports_device(device):
            raise Declined([f"device {device!r} (graphc runs on the CPU)"])
        try:
            imported = import_model(model)
        except UnsupportedOnnxError as exc:
            raise Declined(exc.unsupported) from None
        return GraphcRep(imported, backend or cls.default_backend)

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
