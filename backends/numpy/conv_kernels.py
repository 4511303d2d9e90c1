"""NumPy kernels for convolution and pooling, vectorized with stride tricks; registered in IMPL.

Convolution is im2col + one batched matmul (a batch of one per group). Columns keep the batch
axis innermost, (C * taps, *out, N): im2col then copies contiguous runs of a (C, *spatial, N)
transpose of the input through a strided view of every window, and col2im (its adjoint, the
scatter behind the input gradient) adds long contiguous runs with one vectorized add per
kernel position; pooling likewise loops over the few kernel positions, each step a
whole-array operation. No loop runs over pixels or examples. Kernels write their large
results and temporaries into arrays kept from the previous call when no one else holds them:
as in the hand-written W3 step, megabyte-sized fresh arrays would cost more in page faults.
"""
from __future__ import annotations

import itertools
import math
import sys

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


def _windows(kernel, out, attrs):
    """Per kernel position, the slices of the padded spatial axes it reads at every output."""
    for pos in itertools.product(*(range(k) for k in kernel)):
        yield tuple(slice(p * d, p * d + s * (o - 1) + 1, s) for p, d, s, o in
                    zip(pos, attrs["dilation"], attrs["stride"], out))


def _taps(kernel, out, attrs):
    """Per kernel position, the index of the padded (N, C, ...) input it reads at every output."""
    for window in _windows(kernel, out, attrs):
        yield (slice(None), slice(None)) + window


class _Buffer:
    """A kernel's array reused across calls: fresh megabyte arrays cost page faults each step."""

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def get(self, shape: tuple, dtype, zeroed: bool = False) -> np.ndarray:
        """The kept array if free, else a new one (zeroed if asked); a kept one holds old data."""
        a = self.array
        # NOTE: reused only while nothing else holds it, so a result the caller kept (or a view
        # of it) is never overwritten; 3 references: self.array, a and getrefcount's argument.
        if a is None or a.shape != shape or a.dtype != dtype or sys.getrefcount(a) > 3:
            a = self.array = np.zeros(shape, dtype) if zeroed else np.empty(shape, dtype)
        return a


def _batch_last(a: np.ndarray, buffer: _Buffer) -> np.ndarray:
    """(N, C, *spatial) copied to a contiguous (C, *spatial, N) in buffer."""
    view = np.moveaxis(a, 0, -1)
    out = buffer.get(view.shape, a.dtype)
    np.copyto(out, view)
    return out


def _batch_first(a: np.ndarray, buffer: _Buffer) -> np.ndarray:
    """(C, *spatial, N) copied to a contiguous (N, C, *spatial) in buffer."""
    view = np.moveaxis(a, -1, 0)
    out = buffer.get(view.shape, a.dtype)
    np.copyto(out, view)
    return out


@register("im2col")
def _im2col(node, dims):
    attrs, kernel = node.attrs, node.attrs["kernel"]
    padded, result = _Buffer(), _Buffer()

    def im2col(x):
        n, out = x.shape[0], _out_spatial(x.shape[2:], kernel, attrs)
        shape = (x.shape[1],) + tuple(s + lo + hi for s, (lo, hi) in
                                      zip(x.shape[2:], attrs["pads"])) + (n,)
        # The padding of a reused buffer is still the zeros it started with.
        xt = padded.get(shape, x.dtype, zeroed=True)
        inner = tuple(slice(lo, lo + s) for s, (lo, _) in zip(x.shape[2:], attrs["pads"]))
        np.copyto(xt[(slice(None),) + inner], np.moveaxis(x, 0, -1))
        space = xt.strides[1:-1]
        windows = as_strided(
            xt, (xt.shape[0],) + tuple(kernel) + out + (n,),
            xt.strides[:1] + tuple(s * d for s, d in zip(space, attrs["dilation"]))
            + tuple(s * st for s, st in zip(space, attrs["stride"])) + xt.strides[-1:],
            writeable=False)
        cols = result.get((xt.shape[0] * math.prod(kernel),) + out + (n,), x.dtype)
        np.copyto(cols.reshape(windows.shape), windows)
        return cols
    return im2col


@register("col2im")
def _col2im(node, dims):
    attrs, kernel, spatial = node.attrs, node.attrs["kernel"], node.attrs["shape"]
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(spatial, attrs["pads"]))
    crop = (slice(None),) + tuple(slice(lo, lo + s) for s, (lo, _) in zip(spatial, attrs["pads"]))
    sums, result = _Buffer(), _Buffer()

    def col2im(cols):
        out, n = cols.shape[1:-1], cols.shape[-1]
        cols = cols.reshape((cols.shape[0] // math.prod(kernel), math.prod(kernel)) + out + (n,))
        gxp = sums.get((cols.shape[0],) + padded + (n,), cols.dtype)
        gxp.fill(0)
        for tap, window in enumerate(_windows(kernel, out, attrs)):
            gxp[(slice(None),) + window] += cols[:, tap]
        return _batch_first(gxp[crop], result)
    return col2im


def _grouped(a: np.ndarray, groups: int) -> np.ndarray:
    """(rows, ...) as (groups, rows / groups, everything else)."""
    return a.reshape(groups, a.shape[0] // groups, -1)


@register("conv")
def _conv(node, dims):
    groups = node.attrs["groups"]
    rows, result = _Buffer(), _Buffer()

    def conv(cols, w):
        w_rows, c_rows = _grouped(w, groups), _grouped(cols, groups)
        y = rows.get((groups, w_rows.shape[1], c_rows.shape[2]), cols.dtype)
        np.matmul(w_rows, c_rows, out=y)
        return _batch_first(y.reshape((w.shape[0],) + cols.shape[1:]), result)
    return conv


@register("conv_weight_grad")
def _conv_weight_grad(node, dims):
    groups, kernel = node.attrs["groups"], tuple(node.attrs["shape"])
    g_last = _Buffer()

    def conv_weight_grad(cols, g):
        g_rows = _grouped(_batch_last(g, g_last), groups)
        # NOTE: cols @ g.T then a transpose: BLAS is ~2x faster this way round for these
        # short, very long-inner-dim products than g @ cols.T.
        gw = np.matmul(_grouped(cols, groups), g_rows.transpose(0, 2, 1))
        return gw.transpose(0, 2, 1).reshape((g.shape[1], -1) + kernel)
    return conv_weight_grad


@register("conv_input_grad")
def _conv_input_grad(node, dims):
    groups = node.attrs["groups"]
    g_last, result = _Buffer(), _Buffer()

    def conv_input_grad(g, w):
        g_rows = _grouped(_batch_last(g, g_last), groups)
        w_rows = _grouped(w, groups).transpose(0, 2, 1)
        cols = result.get((groups, w_rows.shape[1], g_rows.shape[2]), np.result_type(g, w))
        # NOTE: a depthwise product has inner dimension 1, which BLAS does ~10x slower than
        # the outer product by broadcasting.
        if w_rows.shape[2] == 1:
            np.multiply(w_rows, g_rows, out=cols)
        else:
            np.matmul(w_rows, g_rows, out=cols)
        return cols.reshape((cols.shape[0] * cols.shape[1],) + g.shape[2:] + g.shape[:1])
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
        np.greater(hit, taken, out=hit)                 # hit and not taken
        taken |= hit
        yield index, hit


@register("max_pool_grad")
def _max_pool_grad(node, dims):
    attrs, kernel = _pool_geometry(node)
    sums, share = _Buffer(), _Buffer()
    disjoint = all(s >= d * (k - 1) + 1 for k, s, d in
                   zip(kernel, attrs["stride"], attrs["dilation"]))

    def max_pool_grad(x, y, g):
        xp = _pad(x, attrs["pads"], -np.inf)
        gxp, part = sums.get(xp.shape, g.dtype), share.get(g.shape, g.dtype)
        gxp.fill(0)
        for index, hit in _first_hits(xp, y, kernel, attrs):
            if disjoint:        # each input pixel is in one window at most: no sum needed
                np.multiply(g, hit, out=gxp[index])
            else:
                gxp[index] += np.multiply(g, hit, out=part)
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
