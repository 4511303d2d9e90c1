"""ONNX import and export: `gc.onnx.load(model)` -> gc.Graph, `gc.onnx.save(graph, path)`.

The package: `loader` (the model -> graph walk) with `proto`, `node`, `fold` and `shapes`
beside it; `table` and the `ops_*` modules (one converter per ONNX op, by family); `backend`
(an onnx.backend.base.Backend); `export`; `suite` (onnx's conformance suite, `make
onnx-suite`). Needs the optional `onnx` package (`pip install graphc[onnx]`).
"""
from __future__ import annotations

try:
    import onnx  # noqa: F401
except ImportError as exc:   # pragma: no cover - depends on the environment
    raise ImportError("gc.onnx needs the onnx package: pip install 'graphc[onnx]'") from exc

from frontends.onnx.errors import OnnxError, UnsupportedOnnxError
from frontends.onnx.export import save, to_model
from frontends.onnx.loader import import_model, load

__all__ = ["load", "import_model", "save", "to_model", "OnnxError", "UnsupportedOnnxError"]
