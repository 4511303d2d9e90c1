"""GridSample: x sampled at the grid's normalized coordinates (nearest, linear or cubic).

Per spatial axis, each output point gets 1, 2 or 4 taps (an index and a weight, computed in
the graph from the grid); the taps of all axes combine into flat indices into x, gathered by
take_along_axis and summed with the products of their weights. Padding modes follow the
ONNX reference: zeros drops taps outside x, border clamps, reflection mirrors.
"""
from __future__ import annotations

import itertools
import math

import graphc as gc
from frontends.onnx.narrow import round_half_even
from frontends.onnx.node import Node
from frontends.onnx.table import converts
from graphc.tensor import Tensor

_A = -0.75    # the cubic convolution's coefficient


def _trunc(v: Tensor) -> Tensor:
    return gc.where(v < 0, gc.ceil(v), gc.floor(v))


def _reflect(v: Tensor, low: float, high: float) -> Tensor:
    """v mirrored at the bounds until it lies within [low, high]."""
    span = high - low

    def fold(dx, near, far):
        turns = gc.floor(dx / span)
        rest = dx - turns * span
        even = gc.equal(turns - gc.floor(turns * 0.5) * 2, 0)
        return gc.where(even, near + rest * (1 if near == low else -1),
                        far + rest * (1 if far == low else -1))
    below = fold(low - v, low, high)
    above = fold(v - high, high, low)
    return gc.where(v < low, below, gc.where(v > high, above, v))


def _cubic_weights(t: Tensor) -> list[Tensor]:
    def near(d):
        return ((_A + 2) * d - (_A + 3)) * d * d + 1

    def far(d):
        return ((_A * d - 5 * _A) * d + 8 * _A) * d - 4 * _A
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _taps(c: Tensor, mode: str) -> list[tuple[Tensor, Tensor]]:
    """(index as a float, weight) pairs of one axis for source coordinates c."""
    if mode == "nearest":
        return [(c, c * 0 + 1)]
    base = gc.floor(c)
    t = c - base
    if mode == "linear":
        return [(base, 1 - t), (base + 1, t)]
    return [(base + k, w) for k, w in zip((-1, 0, 1, 2), _cubic_weights(t))]


@converts("GridSample", attrs=("align_corners", "mode", "padding_mode"))
def grid_sample(n: Node) -> Tensor:
    x, grid = n.x(0), n.x(1)
    spatial = x.shape[2:]
    if not all(isinstance(d, int) for d in x.shape[1:]) or grid.shape[-1] != len(spatial):
        raise n.unsupported(f"sampling {x.type} at a grid {grid.type}")
    mode = {"bilinear": "linear", "bicubic": "cubic"}.get(n.attr("mode", "linear"),
                                                          n.attr("mode", "linear"))
    padding, aligned = n.attr("padding_mode", "zeros"), bool(n.attr("align_corners", 0))
    if mode not in ("nearest", "linear", "cubic") or \
            padding not in ("zeros", "border", "reflection"):
        raise n.unsupported(f"mode {mode!r} with padding_mode {padding!r}")
    per_axis = []
    for axis, size in enumerate(spatial):
        g = gc.cast(grid[..., len(spatial) - 1 - axis], "float32")
        c = (g + 1) * 0.5 * (size - 1) if aligned else ((g + 1) * size - 1) * 0.5
        c = gc.cast(c, "float64")
        if mode == "nearest":
            c = round_half_even(c)
        low, high = (0.0, size - 1.0) if aligned else (-0.5, size - 0.5)
        if padding == "border":
            c = gc.clip(c, 0, size - 1)
        elif padding == "reflection":
            c = _reflect(c, low, high)
        taps = []
        for index, weight in _taps(c, mode):
            index = _trunc(index) if mode == "nearest" else index
            valid = (index >= 0) & (index <= size - 1)
            if padding == "reflection":
                index = _trunc(_reflect(index, low, high))
            index = gc.clip(index, 0, size - 1)
            weight = gc.cast(weight, x.dtype)
            if padding == "zeros":
                weight = weight * gc.cast(valid, x.dtype)
            taps.append((gc.cast(index, "int64"), weight))
        per_axis.append(taps)
    batch, channels = x.shape[:2]
    points = grid.shape[1:-1]
    flat = gc.reshape(x, (batch, channels, -1))
    strides = [math.prod(spatial[a + 1:]) for a in range(len(spatial))]
    total = None
    for combo in itertools.product(*per_axis):
        index = sum(i * s for (i, _), s in zip(combo, strides))
        weight = math.prod(w for _, w in combo) if len(combo) > 1 else combo[0][1]
        gather = gc.broadcast_to(gc.reshape(index, (batch, 1, -1)), (batch, channels,
                                                                    math.prod(points)))
        term = gc.take_along_axis(flat, gather, axis=2) * gc.reshape(weight, (batch, 1, -1))
        total = term if total is None else total + term
    return gc.reshape(total, (batch, channels) + tuple(points))
