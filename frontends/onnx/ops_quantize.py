"""QuantizeLinear and DequantizeLinear: per tensor, per axis or per block, any integer or
narrow float type (values held in graphc's wider dtypes, see narrow.py)."""
from __future__ import annotations

import ml_dtypes
from onnx import TensorProto

import graphc as gc
from frontends.onnx.dtypes import graphc_dtype, numpy_dtype
from frontends.onnx.narrow import is_float_format, round_half_even, round_to_float
from frontends.onnx.node import Node
from frontends.onnx.table import converts
from graphc.tensor import Tensor

_ATTRS = ("axis", "block_size", "output_dtype", "saturate", "precision")


def _spread(n: Node, p: Tensor, x: Tensor) -> Tensor:
    """A scale or zero point laid over x: per tensor, per axis, or repeated per block."""
    if p.ndim == 0 or (p.ndim == 1 and p.shape[0] == 1):
        return p
    axis = n.axis(n.attr("axis", 1), x.ndim)
    block = n.attr("block_size", 0)
    if not block:
        return gc.reshape(p, tuple(-1 if i == axis else 1 for i in range(x.ndim)))
    size = x.shape[axis]
    spread = gc.expand_dims(p, axis + 1)
    shape = list(spread.shape)
    shape[axis + 1] = block
    spread = gc.broadcast_to(spread, tuple(shape))
    merged = gc.reshape(spread, p.shape[:axis] + (p.shape[axis] * block,) + p.shape[axis + 1:])
    key = [slice(None)] * x.ndim
    key[axis] = slice(0, size)
    return merged[tuple(key)]


@converts("QuantizeLinear", attrs=_ATTRS)
def quantize(n: Node) -> Tensor:
    x = n.x(0)
    scale = _spread(n, gc.cast(n.x(1), x.dtype), x)
    elem = n.input_types[2] if n.has(2) else (n.attr("output_dtype") or TensorProto.UINT8)
    if elem is None:
        raise n.unsupported("a zero point whose element type the model does not declare")
    target, dtype = numpy_dtype(elem), graphc_dtype(elem)
    zero = _spread(n, gc.cast(n.x(2), x.dtype), x) if n.has(2) else None
    if is_float_format(target):
        q = x / scale if zero is None else x / scale + zero
        return round_to_float(q, target, bool(n.attr("saturate", 1)))
    q = round_half_even(x / scale)
    if zero is not None:
        q = q + zero
    info = ml_dtypes.iinfo(target)
    return gc.cast(gc.clip(q, float(info.min), float(info.max)), dtype)


@converts("DequantizeLinear", attrs=_ATTRS)
def dequantize(n: Node) -> Tensor:
    scale = n.x(1)
    if n.attr("output_dtype"):
        scale = gc.cast(scale, graphc_dtype(n.attr("output_dtype")))
    x = gc.cast(n.x(0), scale.dtype)
    if n.has(2):
        x = x - _spread(n, gc.cast(n.x(2), scale.dtype), x)
    return x * _spread(n, scale, x)


@converts("DynamicQuantizeLinear")
def dynamic_quantize(n: Node):
    """uint8 quantization with the scale and zero point that map [min(x, 0), max(x, 0)]."""
    x = n.x(0)
    low, high = gc.minimum(gc.min(x), 0), gc.maximum(gc.max(x), 0)
    scale = (high - low) / 255
    zero = gc.clip(round_half_even(-low / scale), 0, 255)
    y = gc.clip(round_half_even(x / scale) + zero, 0, 255)
    return gc.cast(y, "int32"), scale, gc.cast(zero, "int32")
