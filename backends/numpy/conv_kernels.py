"""NumPy kernels for convolution and pooling, vectorized with stride tricks; registered in IMPL.

Convolution and its weight gradient are im2col + one batched matmul (a batch of one per
group): a strided view exposes every window of the padded input without copying, and one
reshape gathers the windows into a column matrix (groups, C/groups * taps, N * positions).
The input gradient (a transposed convolution) multiplies the other way and scatters the
columns back with one vectorized add per kernel position; pooling likewise loops over the few
kernel positions, each step a whole-array operation. No loop runs over pixels or examples.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from backends.numpy.kernels import register


def _pad(x: np.ndarray, pads, value: float = 0.0) -> np.ndarray:
    if not any(lo or hi for lo, hi in pads):
        return x
    return np.pad(x, ((0, 0), (0, 0)) + tuple(pads), constant_values=value)


def _crop(xp: np.ndarray, pads) -> np.ndarray:
    return xp[(slice(None), slice(None)) + tuple(slice(lo, xp.shape[2 + i] - hi)
                                                  for i, (lo, hi) in enumerate(pads))]


def _out_spatial(spatial, kernel, attrs) -> tuple[int, ...]:
    return tuple((n + lo + hi - d * (k - 1) - 1) // s + 1 for n, k, s, d, (lo, hi) in
                 zip(spatial, kernel, attrs["stride"], attrs["dilation"], attrs["pads"]))


def _taps(kernel, out, attrs):
    """Per kernel position, the index of the padded (N, C, ...) input it reads at every output."""
    lead = (slice(None), slice(None))
    for pos in itertools.product(*(range(k) for k in kernel)):
        yield lead + tuple(slice(p * d, p * d + s * (o - 1) + 1, s) for p, d, s, o in
                           zip(pos, attrs["dilation"], attrs["stride"], out))


def _columns(x: np.ndarray, kernel, out, attrs) -> np.ndarray:
    """im2col: (groups, C/groups * prod(kernel), N * prod(out)), a contiguous copy."""
    xp = _pad(x, attrs["pads"])
    n, c, nd = x.shape[0], x.shape[1], len(kernel)
    space = xp.strides[2:]
    windows = as_strided(
        xp, (n, c) + tuple(kernel) + tuple(out),
        xp.strides[:2] + tuple(s * d for s, d in zip(space, attrs["dilation"]))
        + tuple(s * st for s, st in zip(space, attrs["stride"])), writeable=False)
    # (C, *kernel, N, *out): channels and taps become rows, batch and positions columns.
    order = (1,) + tuple(range(2, 2 + nd)) + (0,) + tuple(range(2 + nd, 2 + 2 * nd))
    groups = attrs["groups"]
    return windows.transpose(order).reshape(groups, -1, n * math.prod(out))


def _to_nc(y: np.ndarray, n: int, spatial) -> np.ndarray:
    """(channels, N * prod(spatial)) rows back to a contiguous (N, channels, *spatial)."""
    y = y.reshape((-1, n) + tuple(spatial))
    return np.ascontiguousarray(np.moveaxis(y, 1, 0))


def _from_nc(g: np.ndarray, groups: int) -> np.ndarray:
    """(N, O, *spatial) to (groups, O/groups, N * prod(spatial)), matching the columns' order."""
    return np.moveaxis(g, 1, 0).reshape(groups, g.shape[1] // groups, -1)


@register("conv")
def _conv(node, dims):
    attrs = node.attrs

    def conv(x, w):
        kernel = w.shape[2:]
        out = _out_spatial(x.shape[2:], kernel, attrs)
        cols = _columns(x, kernel, out, attrs)
        w_rows = w.reshape(attrs["groups"], w.shape[0] // attrs["groups"], -1)
        return _to_nc(np.matmul(w_rows, cols), x.shape[0], out)
    return conv


@register("conv_weight_grad")
def _conv_weight_grad(node, dims):
    attrs, kernel = node.attrs, node.attrs["shape"]

    def conv_weight_grad(x, g):
        cols = _columns(x, kernel, g.shape[2:], attrs)
        # NOTE: cols @ g.T then a transpose: BLAS is ~2x faster this way round for these
        # short, very long-inner-dim products than g @ cols.T.
        gw = np.matmul(cols, _from_nc(g, attrs["groups"]).transpose(0, 2, 1))
        return gw.transpose(0, 2, 1).reshape(
            (g.shape[1], x.shape[1] // attrs["groups"]) + tuple(kernel))
    return conv_weight_grad


@register("conv_input_grad")
def _conv_input_grad(node, dims):
    attrs, spatial = node.attrs, node.attrs["shape"]
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(spatial, attrs["pads"]))
    crop = tuple(slice(lo, lo + s) for s, (lo, _) in zip(spatial, attrs["pads"]))

    def conv_input_grad(g, w):
        groups, kernel, out, n = attrs["groups"], w.shape[2:], g.shape[2:], g.shape[0]
        per_group, channels = w.shape[0] // groups, w.shape[1]
        # NOTE: rows (group, tap, channel) and columns (position, batch) put the batch axis
        # innermost, so each tap's scatter below adds long contiguous runs, not rows of width W.
        w_rows = w.reshape(groups, per_group, channels, -1).transpose(0, 3, 2, 1)
        g_cols = np.moveaxis(g, 0, -1).reshape(groups, per_group, -1)
        w_rows = w_rows.reshape(groups, -1, per_group)
        # NOTE: a depthwise product has inner dimension 1, which BLAS does ~10x slower than
        # the outer product by broadcasting.
        cols = w_rows * g_cols if per_group == 1 else np.matmul(w_rows, g_cols)
        cols = cols.reshape((groups, math.prod(kernel), channels) + tuple(out) + (n,))
        gxp = np.zeros((groups, channels) + padded + (n,), g.dtype)
        for tap, index in enumerate(_taps(kernel, out, attrs)):
            gxp[index] += cols[:, tap]
        gx = gxp.reshape((groups * channels,) + padded + (n,))[(slice(None),) + crop]
        return np.ascontiguousarray(np.moveaxis(gx, -1, 0))
    return conv_input_grad


# ---- pooling ----------------------------------------------------------------------------------

def _pool_geometry(node):
    return node.attrs, node.attrs["kernel"]


@register("max_pool")
def _max_pool(node, dims):
    attrs, kernel = _pool_geometry(node)

    def max_pool(x):
        xp = _pad(x, attrs["pads"], -np.inf)
        out = _out_spatial(x.shape[2:], kernel, attrs)
        taps = _taps(kernel, out, attrs)
        result = xp[next(taps)].copy()
        for index in taps:
            np.maximum(result, xp[index], out=result)
        return result
    return max_pool


def _first_hits(xp: np.ndarray, y: np.ndarray, kernel, attrs):
    """(index, mask) per kernel position: where that tap is the first to hold its window's max."""
    taken = np.zeros(y.shape, bool)
    for index in _taps(kernel, y.shape[2:], attrs):
        hit = np.equal(xp[index], y)
        hit &= ~taken
        taken |= hit
        yield index, hit


@register("max_pool_grad")
def _max_pool_grad(node, dims):
    attrs, kernel = _pool_geometry(node)

    def max_pool_grad(x, y, g):
        xp = _pad(x, attrs["pads"], -np.inf)
        gxp = np.zeros(xp.shape, g.dtype)
        for index, hit in _first_hits(xp, y, kernel, attrs):
            gxp[index] += g * hit
        return _crop(gxp, attrs["pads"])
    return max_pool_grad


@register("max_pool_select")
def _max_pool_select(node, dims):
    attrs, kernel = _pool_geometry(node)

    def max_pool_select(x, y, h):
        xp, hp = _pad(x, attrs["pads"], -np.inf), _pad(h, attrs["pads"])
        result = np.zeros(y.shape, h.dtype)
        for index, hit in _first_hits(xp, y, kernel, attrs):
            np.copyto(result, hp[index], where=hit)
        return result
    return max_pool_select


@register("avg_pool")
def _avg_pool(node, dims):
    attrs, kernel = _pool_geometry(node)

    def avg_pool(x):
        xp = _pad(x, attrs["pads"])
        out = _out_spatial(x.shape[2:], kernel, attrs)
        taps = _taps(kernel, out, attrs)
        result = xp[next(taps)].copy()
        for index in taps:
            result += xp[index]
        result *= x.dtype.type(1 / math.prod(kernel))
        return result
    return avg_pool


@register("avg_pool_grad")
def _avg_pool_grad(node, dims):
    attrs, kernel = _pool_geometry(node)
    spatial = attrs["shape"]

    def avg_pool_grad(g):
        padded = tuple(s + lo + hi for s, (lo, hi) in zip(spatial, attrs["pads"]))
        gxp = np.zeros(g.shape[:2] + padded, g.dtype)
        share = g * g.dtype.type(1 / math.prod(kernel))
        for index in _taps(kernel, g.shape[2:], attrs):
            gxp[index] += share
        return _crop(gxp, attrs["pads"])
    return avg_pool_grad
