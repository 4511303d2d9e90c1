"""Quantization: QuantizeLinear and DequantizeLinear (per tensor, axis or block, any integer
or narrow float type, held in graphc's wider dtypes; see narrow.py), DynamicQuantizeLinear,
and the integer products MatMulInteger, ConvInteger, QLinearMatMul and QLinearConv (exact
integer arithmetic, requantized with ties to even)."""
from __future__ import annotations

import ml_dtypes
from onnx import TensorProto

import graphc as gc
from frontends.onnx.dtypes import graphc_dtype, numpy_dtype
from frontends.onnx.narrow import is_float_format, round_half_even, round_to_float
from frontends.onnx.node import Node
from frontends.onnx.table import converts
from frontends.onnx.windows import geometry, spatial_dims
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


def _centered(n: Node, i: int, zero: int, per_row: bool = False) -> Tensor:
    """Integer input i minus its zero point (input `zero`), in int64: exact products."""
    x = gc.cast(n.x(i), "int64")
    if not n.has(zero):
        return x
    z = gc.cast(n.x(zero), "int64")
    if per_row and z.ndim == 1 and z.shape[0] != 1:
        z = gc.reshape(z, (-1, 1))
    return x - z


def _requantize(n: Node, y: Tensor, scale: Tensor, zero_input: int) -> Tensor:
    """y (float64) / scale + zero point, rounded and saturated to the zero point's type."""
    q = round_half_even(y / gc.cast(scale, "float64"))
    elem = n.input_types[zero_input] or TensorProto.UINT8
    if n.has(zero_input):
        q = q + gc.cast(n.x(zero_input), "float64")
    info = ml_dtypes.iinfo(numpy_dtype(elem))
    return gc.cast(gc.clip(q, float(info.min), float(info.max)), graphc_dtype(elem))


@converts("MatMulInteger")
def matmul_integer(n: Node) -> Tensor:
    product = gc.matmul(_centered(n, 0, 2, per_row=True), _centered(n, 1, 3))
    return gc.cast(product, "int32")


@converts("QLinearMatMul")
def qlinear_matmul(n: Node) -> Tensor:
    """(a - a_zero) (b - b_zero) a_scale b_scale, requantized by y_scale and y_zero_point."""
    product = gc.cast(gc.matmul(_centered(n, 0, 2, per_row=True), _centered(n, 3, 5)),
                      "float64")
    scale = gc.cast(n.x(1), "float64") * gc.cast(n.x(4), "float64")
    return _requantize(n, product * scale, n.x(6), 7)


def _conv_integer(n: Node, x: Tensor, w: Tensor) -> Tensor:
    """The convolution of two centered integer tensors, exact in float64."""
    nd = x.ndim - 2
    kernel = tuple(n.attr("kernel_shape", w.shape[2:]))
    strides, dilations, pads = geometry(n, spatial_dims(n, x.shape), kernel)
    conv = {1: gc.conv1d, 2: gc.conv2d, 3: gc.conv3d}[nd]
    return conv(gc.cast(x, "float64"), gc.cast(w, "float64"), stride=strides, padding=pads,
                dilation=dilations, groups=n.attr("group", 1))


def _per_output_channel(z: Tensor, w: Tensor) -> Tensor:
    return z if z.ndim == 0 or z.shape[0] == 1 else \
        gc.reshape(z, (-1,) + (1,) * (w.ndim - 1))


_CONV_ATTRS = ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")


@converts("ConvInteger", attrs=_CONV_ATTRS)
def conv_integer(n: Node) -> Tensor:
    x = _centered(n, 0, 2)
    w = gc.cast(n.x(1), "int64")
    if n.has(3):
        w = w - _per_output_channel(gc.cast(n.x(3), "int64"), w)
    return gc.cast(_conv_integer(n, x, w), "int32")


@converts("QLinearConv", attrs=_CONV_ATTRS)
def qlinear_conv(n: Node) -> Tensor:
    x = _centered(n, 0, 2)
    w = gc.cast(n.x(3), "int64") - _per_output_channel(gc.cast(n.x(5), "int64"), n.x(3))
    w_scale = gc.cast(n.x(4), "float64")
    scale = gc.cast(n.x(1), "float64") * _per_output_channel(w_scale, n.x(3))
    y = _conv_integer(n, x, w)
    if n.has(8):
        y = y + gc.reshape(gc.cast(n.x(8), "float64"), (-1,) + (1,) * (x.ndim - 2))
    scale = gc.reshape(scale, (-1,) + (1,) * (x.ndim - 2)) if scale.ndim else scale
    return _requantize(n, y * scale, n.x(6), 7)
