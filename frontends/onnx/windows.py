"""ONNX window geometry (Conv, ConvTranspose, pooling): pads, auto_pad and ceil_mode as pairs."""
from __future__ import annotations

import math

import numpy as np

from frontends.onnx.node import Node

Pairs = tuple[tuple[int, int], ...]


def spatial_dims(n: Node, shape: tuple) -> tuple[int, ...]:
    dims = shape[2:]
    if not all(isinstance(d, int) for d in dims):
        raise n.unsupported(f"symbolic spatial dims {shape}")
    return tuple(dims)


def geometry(n: Node, spatial: tuple[int, ...], kernel: tuple[int, ...]):
    """(strides, dilations, pads as (begin, end) pairs) from the node's attributes."""
    nd = len(kernel)
    strides = tuple(n.attr("strides", [1] * nd))
    dilations = tuple(n.attr("dilations", [1] * nd))
    if len(strides) != nd or len(dilations) != nd or min(strides + dilations, default=1) < 1:
        raise n.fail(f"strides {strides} and dilations {dilations} need {nd} positive entries")
    auto_pad = n.attr("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for size, k, s, d in zip(spatial, kernel, strides, dilations):
            total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, big = total // 2, total - total // 2
            pads.append((small, big) if auto_pad == "SAME_UPPER" else (big, small))
        return strides, dilations, tuple(pads)
    if auto_pad == "VALID":
        return strides, dilations, ((0, 0),) * nd
    if auto_pad != "NOTSET":
        raise n.unsupported(f"auto_pad {auto_pad!r}")
    flat = list(n.attr("pads", [0] * 2 * nd))
    if len(flat) != 2 * nd or min(flat, default=0) < 0:
        raise n.fail(f"pads {flat} need {2 * nd} non-negative entries")
    return strides, dilations, tuple(zip(flat[:nd], flat[nd:]))


def with_ceil_mode(spatial, kernel, strides, dilations, pads: Pairs) -> Pairs:
    """Pads grown at the end so the output has ceil(...) windows, as ceil_mode=1 asks.

    A last window that would start in the end padding is dropped (PyTorch's and ONNX's rule).
    """
    grown = []
    for size, k, s, d, (lo, hi) in zip(spatial, kernel, strides, dilations, pads):
        span = size + lo + hi - (k - 1) * d - 1
        out = -(-span // s) + 1
        if (out - 1) * s >= size + lo:
            out -= 1
        grown.append((lo, max(hi, (out - 1) * s + (k - 1) * d + 1 - size - lo)))
    return tuple(grown)


def window_counts(spatial, kernel, strides, dilations, pads: Pairs, limits: Pairs) -> np.ndarray:
    """How many taps of each output window fall in [-limit_lo, size + limit_hi) per axis."""
    counts = []
    for size, k, s, d, (lo, hi), (a, b) in zip(spatial, kernel, strides, dilations, pads,
                                               limits):
        out = (size + lo + hi - (k - 1) * d - 1) // s + 1
        taps = np.arange(out)[:, None] * s - lo + np.arange(k)[None, :] * d
        counts.append(((taps >= -a) & (taps < size + b)).sum(axis=1))
    total = counts[0]
    for c in counts[1:]:
        total = np.multiply.outer(total, c)
    return total


def taps(kernel) -> int:
    return math.prod(kernel)
