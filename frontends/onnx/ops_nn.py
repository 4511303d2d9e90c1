"""Convolution, transposed convolution, pooling and dropout."""
from __future__ import annotations

import numpy as np

import graphc as gc
from frontends.onnx.node import Node
from frontends.onnx.table import converts
from frontends.onnx.windows import geometry, spatial_dims, taps, window_counts, with_ceil_mode
from graphc.dtypes import is_float
from graphc.ops.conv import col2im
from graphc.tensor import Tensor, make

_WINDOW_ATTRS = ("auto_pad", "dilations", "kernel_shape", "pads", "strides")
_CONV = {1: gc.conv1d, 2: gc.conv2d, 3: gc.conv3d}


def _kernel(n: Node, w_shape: tuple | None = None) -> tuple[int, ...]:
    kernel = n.attr("kernel_shape")
    if kernel is None:
        if w_shape is None:
            raise n.fail("needs kernel_shape")
        kernel = w_shape[2:]
    return tuple(int(k) for k in kernel)


@converts("Conv", attrs=_WINDOW_ATTRS + ("group",))
def conv(n: Node) -> Tensor:
    x, w = n.same_dtype(n.x(0), n.x(1))
    nd = x.ndim - 2
    if nd not in _CONV:
        raise n.unsupported(f"convolution over {nd} spatial axes")
    kernel = _kernel(n, w.shape)
    strides, dilations, pads = geometry(n, spatial_dims(n, x.shape), kernel)
    b = gc.cast(n.x(2), x.dtype) if n.has(2) else None
    return _CONV[nd](x, w, b, stride=strides, padding=pads, dilation=dilations,
                     groups=n.attr("group", 1))


@converts("ConvTranspose", attrs=_WINDOW_ATTRS + ("group", "output_padding", "output_shape"))
def conv_transpose(n: Node) -> Tensor:
    """The adjoint of a convolution: columns from conv_input_grad, scattered back by col2im."""
    x, w = n.same_dtype(n.x(0), n.x(1))
    spatial, kernel = spatial_dims(n, x.shape), _kernel(n, w.shape)
    nd, groups = len(spatial), n.attr("group", 1)
    strides = tuple(n.attr("strides", [1] * nd))
    dilations = tuple(n.attr("dilations", [1] * nd))
    extra = tuple(n.attr("output_padding", [0] * nd))
    full = [s * (i - 1) + e + (k - 1) * d + 1
            for i, k, s, d, e in zip(spatial, kernel, strides, dilations, extra)]
    auto_pad = n.attr("auto_pad", "NOTSET")
    wanted = n.attr("output_shape")
    if wanted is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        wanted = list(wanted)[-nd:] if wanted is not None else [i * s for i, s in
                                                                 zip(spatial, strides)]
        pads, grow = [], []
        for f, o in zip(full, wanted):
            total = max(f - o, 0)
            small, big = total // 2, total - total // 2
            pads.append((small, big) if auto_pad == "SAME_UPPER" else (big, small))
            grow.append((0, max(o - f, 0)))      # an output past the full one: zeros after
        pads = tuple(pads)
    else:
        _, _, pads = geometry(n, spatial, kernel)
        grow = [(0, 0)] * nd
    out = tuple(f - lo - hi for f, (lo, hi) in zip(full, pads))
    cols = make("conv_input_grad", [x, w], {"groups": groups})
    window = {"kernel": kernel, "stride": strides, "pads": pads, "dilation": dilations}
    y = col2im(cols, window, out)
    if any(hi for _, hi in grow):
        y = gc.pad(y, [(0, 0), (0, 0)] + grow)
    if n.has(2):
        y = y + gc.reshape(gc.cast(n.x(2), y.dtype), (-1,) + (1,) * nd)
    return y


# ---- pooling ----------------------------------------------------------------------------------

def _pool_geometry(n: Node, x: Tensor):
    spatial = spatial_dims(n, x.shape)
    kernel = _kernel(n)
    strides, dilations, pads = geometry(n, spatial, kernel)
    grown = with_ceil_mode(spatial, kernel, strides, dilations, pads) \
        if n.attr("ceil_mode", 0) else pads
    return spatial, kernel, strides, dilations, pads, grown


def _as_float(x: Tensor) -> Tensor:
    return x if is_float(x.dtype) else gc.cast(x, "float64")


@converts("MaxPool", attrs=_WINDOW_ATTRS + ("ceil_mode", "storage_order"))
def max_pool(n: Node) -> Tensor:
    x = n.x(0)
    spatial, kernel, strides, dilations, pads, grown = _pool_geometry(n, x)
    y = make("max_pool", [_as_float(x)], {"kernel": kernel, "stride": strides, "pads": grown,
                                          "dilation": dilations})
    return gc.cast(y, x.dtype)


def _window_sum(n: Node, x: Tensor):
    """sum of x over each window (zero padding), and the geometry it used."""
    spatial, kernel, strides, dilations, pads, grown = _pool_geometry(n, x)
    y = make("avg_pool", [x], {"kernel": kernel, "stride": strides, "pads": grown,
                               "dilation": dilations}) * float(taps(kernel))
    return y, (spatial, kernel, strides, dilations, pads, grown)


@converts("AveragePool", attrs=_WINDOW_ATTRS + ("ceil_mode", "count_include_pad"))
def average_pool(n: Node) -> Tensor:
    x = n.x(0)
    total, (spatial, kernel, strides, dilations, pads, grown) = _window_sum(n, x)
    limits = pads if n.attr("count_include_pad", 0) else ((0, 0),) * len(spatial)
    counts = window_counts(spatial, kernel, strides, dilations, grown, limits)
    return total / gc.constant(np.maximum(counts, 1).astype(x.dtype))


@converts("LpPool", attrs=_WINDOW_ATTRS + ("ceil_mode", "p"))
def lp_pool(n: Node) -> Tensor:
    x, p = n.x(0), float(n.attr("p", 2))
    total, _ = _window_sum(n, gc.power(gc.abs(x), gc.cast(p, x.dtype)))
    return gc.power(total, gc.cast(1 / p, x.dtype))


def _spatial_axes(x: Tensor) -> tuple[int, ...]:
    return tuple(range(2, x.ndim))


@converts("GlobalAveragePool")
def global_average_pool(n: Node) -> Tensor:
    x = n.x(0)
    return gc.mean(x, _spatial_axes(x), keepdims=True)


@converts("GlobalMaxPool")
def global_max_pool(n: Node) -> Tensor:
    x = n.x(0)
    return gc.max(x, _spatial_axes(x), keepdims=True)


@converts("GlobalLpPool", attrs=("p",))
def global_lp_pool(n: Node) -> Tensor:
    x, p = n.x(0), float(n.attr("p", 2))
    s = gc.sum(gc.power(gc.abs(x), gc.cast(p, x.dtype)), _spatial_axes(x), keepdims=True)
    return gc.power(s, gc.cast(1 / p, x.dtype))


@converts("Dropout", attrs=("ratio", "is_test", "seed", "consumed_inputs"))
def dropout(n: Node):
    """Inference only: the identity, with an all-true mask."""
    x = n.x(0)
    if n.opset >= 12 and n.has(2) and bool(np.asarray(n.static(2)).reshape(-1)[0]):
        ratio = float(np.asarray(n.static(1)).reshape(-1)[0]) if n.has(1) else 0.5
        if ratio > 0:
            raise n.unsupported("training-mode dropout (random masks) is not converted")
    mask_dtype = "bool" if n.opset >= 10 else x.dtype
    return x, gc.broadcast_to(gc.cast(1, mask_dtype), x.shape)
