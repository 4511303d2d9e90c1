"""Resize and Upsample: separable, so each resized axis is one product with an (out, in)
matrix of interpolation weights computed when the model loads (shapes must be static).

The weights follow the ONNX spec: a coordinate transformation maps each output position to
a source coordinate, whose 1 (nearest), 2 (linear) or 4 (cubic) neighbours, clamped to the
edges, get the mode's coefficients (antialiased kernels widen when shrinking); rows that
tf_crop_and_resize puts outside the input hold extrapolation_value.
"""
from __future__ import annotations

import math

import numpy as np

import graphc as gc
from frontends.onnx.narrow import round_half_even
from frontends.onnx.node import Node
from frontends.onnx.table import converts
from graphc.dtypes import is_float
from graphc.tensor import Tensor

_ATTRS = ("antialias", "axes", "coordinate_transformation_mode", "cubic_coeff_a",
          "exclude_outside", "extrapolation_value", "keep_aspect_ratio_policy", "mode",
          "nearest_mode")


def _nearest(mode: str):
    def coeffs(ratio: float, scale: float) -> np.ndarray:
        if float(ratio).is_integer():
            return np.array([0.0, 1.0])
        pick_second = {"round_prefer_floor": ratio > 0.5, "round_prefer_ceil": ratio >= 0.5,
                       "floor": False, "ceil": True}[mode]
        return np.array([0.0, 1.0]) if pick_second else np.array([1.0, 0.0])
    return coeffs


def _linear(antialias: bool):
    def coeffs(ratio: float, scale: float) -> np.ndarray:
        if not antialias:
            return np.array([1 - ratio, ratio])
        scale = min(scale, 1.0)
        start = math.floor(-1 / scale) + 1
        args = (np.arange(start, 2 - start) - ratio) * scale
        c = np.clip(1 - np.abs(args), 0, 1)
        return c / c.sum()
    return coeffs


def _cubic(a: float, antialias: bool):
    def kernel(x: np.ndarray) -> np.ndarray:
        x = np.abs(x)
        near = ((a + 2) * x - (a + 3)) * x * x + 1
        far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
        return np.where(x <= 1, near, np.where(x < 2, far, 0.0))

    def coeffs(ratio: float, scale: float) -> np.ndarray:
        if not antialias:
            return kernel(np.array([ratio + 1, ratio, 1 - ratio, 2 - ratio]))
        scale = min(scale, 1.0)
        start = math.floor(-2 / scale) + 1
        c = kernel(scale * (np.arange(start, 2 - start) - ratio))
        return c / c.sum()
    return coeffs


def _source(mode: str, out: int, size: int, scale: float, roi) -> np.ndarray:
    """The source coordinate of each output position."""
    y = np.arange(out, dtype=np.float64)
    length = scale * size
    if mode == "align_corners":
        return np.zeros(out) if length == 1 else y * (size - 1) / (length - 1)
    if mode == "asymmetric":
        return y / scale
    if mode == "tf_crop_and_resize":
        start, end = roi
        x = np.full(out, (end - start) * (size - 1) / 2) if length == 1 else \
            y * (end - start) * (size - 1) / (length - 1)
        return x + start * (size - 1)
    if mode == "pytorch_half_pixel":
        return np.full(out, -0.5) if length == 1 else (y + 0.5) / scale - 0.5
    if mode == "half_pixel":
        return (y + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        offset = size / 2 * (1 - out / length)
        return offset + (y + 0.5) / scale - 0.5
    raise ValueError(f"coordinate_transformation_mode {mode!r}")


def weights(size: int, out: int, scale: float, coeffs, transform: str, roi=None,
            exclude_outside: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The (out, size) interpolation matrix, and which rows lie outside (tf_crop_and_resize)."""
    x = _source(transform, out, size, scale, roi)
    whole = np.floor(x)
    ratios = np.where(x == whole, 1.0, x - whole)
    table = np.stack([coeffs(float(r), scale) for r in ratios]) if out else np.zeros((0, 2))
    taps = table.shape[1]
    pad = math.ceil(taps / 2)
    padded = x + pad
    base = np.floor(padded)
    frac = padded - base
    if taps % 2 == 0:
        offset = np.where(frac == 0, -(taps // 2), -(taps // 2) + 1)
    else:
        offset = np.where(frac <= 0.5, -((taps - 1) // 2), -((taps - 1) // 2) + 1)
    neighbours = (base + offset)[:, None].astype(np.int64) + np.arange(taps) - pad
    if exclude_outside:
        table = np.where((neighbours < 0) | (neighbours >= size), 0.0, table)
        total = table.sum(axis=1, keepdims=True)
        table = table / np.where(total == 0, 1.0, total)
    matrix = np.zeros((out, size))
    rows = np.repeat(np.arange(out), taps)
    np.add.at(matrix, (rows, np.clip(neighbours, 0, size - 1).reshape(-1)), table.reshape(-1))
    outside = (x < 0) | (x > size - 1) if transform == "tf_crop_and_resize" else \
        np.zeros(out, bool)
    matrix[outside] = 0
    return matrix, outside


def _resize_axis(x: Tensor, axis: int, matrix: np.ndarray, outside: np.ndarray,
                 fill: float) -> Tensor:
    moved = gc.swapaxes(x, axis, -1)
    y = gc.matmul(moved, gc.constant(matrix.T.astype(x.dtype)))
    if outside.any():
        y = y + gc.constant((outside * fill).astype(x.dtype))
    return gc.swapaxes(y, axis, -1)


def _sizes_and_scales(n: Node, shape: tuple[int, ...], axes: list[int]):
    """Output sizes and scales per axis from the scales or sizes input (or opset-7 attr)."""
    rank = len(shape)
    scales, sizes = None, None
    if n.op_type == "Upsample" or n.opset < 11:
        scales = n.attr("scales") if n.opset < 9 else list(np.asarray(n.static(1), float))
    else:
        if n.has(3) and n.static(3).size:
            sizes = n.static_ints(3)
        elif n.has(2):
            scales = [float(s) for s in np.asarray(n.static(2)).reshape(-1)]
    full_scales, full_sizes = [1.0] * rank, list(shape)
    if sizes is not None:
        for a, s in zip(axes, sizes):
            full_sizes[a] = s
        full_scales = [o / i for o, i in zip(full_sizes, shape)]
        policy = n.attr("keep_aspect_ratio_policy", "stretch")
        if policy != "stretch":
            pick = min if policy == "not_larger" else max
            scale = pick(full_scales[a] for a in axes)
            full_scales = [scale if i in axes else 1.0 for i in range(rank)]
            full_sizes = [int(scale * d + 0.5) if i in axes else d for i, d in enumerate(shape)]
    elif scales is not None:
        for a, s in zip(axes, scales):
            full_scales[a] = s
        full_sizes = [int(s * d) for s, d in zip(full_scales, shape)]
    else:
        raise n.fail("needs scales or sizes")
    return full_sizes, full_scales


@converts("Resize", "Upsample", attrs=_ATTRS + ("scales", "width_scale", "height_scale"))
def resize(n: Node) -> Tensor:
    x = n.x(0)
    shape = tuple(x.shape)
    if not all(isinstance(d, int) for d in shape):
        raise n.unsupported(f"resizing {x.type}: the shape must be static")
    axes = [n.axis(a, x.ndim) for a in n.attr("axes", range(x.ndim))]
    sizes, scales = _sizes_and_scales(n, shape, axes)
    old = n.op_type == "Upsample" or n.opset < 11
    mode = n.attr("mode", "nearest")
    transform = "asymmetric" if old else n.attr("coordinate_transformation_mode", "half_pixel")
    antialias = bool(n.attr("antialias", 0))
    if mode == "nearest":
        coeffs = _nearest("floor" if old else n.attr("nearest_mode", "round_prefer_floor"))
    elif mode in ("linear", "bilinear"):
        coeffs = _linear(antialias)
    elif mode == "cubic":
        coeffs = _cubic(n.attr("cubic_coeff_a", -0.75), antialias)
    else:
        raise n.unsupported(f"mode {mode!r}")
    roi = None
    if transform == "tf_crop_and_resize":
        given = np.asarray(n.static(1), float).reshape(-1)
        roi = [[0.0, 1.0] for _ in shape]
        for k, a in enumerate(axes):
            roi[a] = [given[k], given[k + len(axes)]]
    y = x if is_float(x.dtype) else gc.cast(x, "float64")
    for axis in range(x.ndim):
        whole = roi is None or roi[axis] == [0.0, 1.0]
        if sizes[axis] == shape[axis] and math.isclose(scales[axis], 1.0) and whole:
            continue
        matrix, outside = weights(shape[axis], sizes[axis], scales[axis], coeffs, transform,
                                  None if roi is None else roi[axis],
                                  bool(n.attr("exclude_outside", 0)))
        y = _resize_axis(y, axis, matrix, outside, n.attr("extrapolation_value", 0.0))
    if is_float(x.dtype):
        return y
    info = np.iinfo(x.dtype)
    return gc.cast(gc.clip(round_half_even(y), float(info.min), float(info.max)), x.dtype)
