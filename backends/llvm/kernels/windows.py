"""Native kernels for pooling and its gradients, over 1, 2 or 3 spatial axes.

Each (example, channel) plane is done in turn, or, with enough of them, planes are shared
with the thread team (each done the same way wherever it runs). Pooling and the gradients
that scatter onto the input loop over kernel positions outermost, and for each over the
outputs whose window puts that position inside the input (a range per axis, worked out from
the geometry): no bounds test in the inner loop, which walks a row of the result, and each
input pixel gathers its terms in kernel-position order, as the interpreter's kernels add them
(backends/numpy/conv_kernels.py), so sums round alike. Unpadded windows with few kernel
positions go output by output instead, the positions unrolled in the same order (and max
pooling's gradient, when no two windows share a pixel, window by window); windows that tile
the input side by side (stride == kernel) go a vector of outputs at a time, each row of
pixels loaded whole and split into its kernel positions with shuffles. Max pooling's
gradient goes to the first maximum of each window (PyTorch's rule for ties): a pass over each
window finds it, reading padding as -inf through clamped, always in-bounds loads.
"""
from __future__ import annotations

import itertools
import math
from typing import Callable

import numpy as np
from llvmlite import ir

from backends.llvm import parallel
from backends.llvm.access import Access
from backends.llvm.irutil import I1, I32, const, i64, ir_type, is_float, loop
from backends.llvm.kernels import lanes as L
from backends.llvm.kernels import register
from backends.llvm.kernels.base import Kernel
from backends.llvm.kernels.moves import over_flat
from backends.llvm.scalar_emit import ScalarEmitter
from backends.llvm.target import register_bits
from graphc import scalar
from graphc.tensor import Tensor


class _Geometry:
    """A window op's attributes, with the input's and the output's spatial dims."""

    def __init__(self, node: Tensor, spatial: tuple, out: tuple):
        attrs = node.attrs
        self.kernel, self.stride = tuple(attrs["kernel"]), tuple(attrs["stride"])
        self.dilation, self.low = tuple(attrs["dilation"]), tuple(lo for lo, _ in attrs["pads"])
        self.spatial, self.out = tuple(spatial), tuple(out)
        self.taps = math.prod(self.kernel)
        self.padded = any(lo or hi for lo, hi in attrs["pads"])
        # each input pixel in at most one window: the gradient can assign instead of add
        self.disjoint = all(s >= d * (k - 1) + 1 for k, s, d in
                            zip(self.kernel, self.stride, self.dilation))


def _planes_kernel(low, node: Tensor, accesses: list[Access], planes: Access,
                   build: Callable[[Kernel], Callable[[list], None]], plane_work: int) -> Kernel:
    """The kernel doing every (example, channel) plane of an (N, C, ...) access: build(k)
    gives the code of one plane, plane([n, c]), emitted in kernel k. With enough planes
    (plane_work: the work of one, in expression_cost units) they are shared with the team:
    each plane is done the same way wherever it runs."""
    k = Kernel(low.module, low.name(node), accesses, low.env)
    shape = planes.shape[:2]
    if not parallel.may_share(parallel.static_work(low.env, shape, plane_work)):
        over_flat(k, shape, build(k))
        return k
    chunk = Kernel(low.module, low.name(node) + ".chunk", accesses, low.env,
                   extra=parallel.CHUNK_ARGS)
    lo, hi = chunk.extra[:2]
    plane, channels = build(chunk), chunk.dims(shape[1])
    with loop(chunk.b, hi, start=lo, name="plane") as p:
        plane([chunk.b.sdiv(p, channels), chunk.b.srem(p, channels)])
    chunk.finish()
    parallel.check(k, parallel.run_chunks(k, chunk.function, k.size(shape), i64(plane_work)))
    return k


def _flat_tap(b: ir.IRBuilder, geo: _Geometry, taps: list) -> ir.Value:
    """The row-major number of a kernel position."""
    flat = i64(0)
    for t, size in zip(taps, geo.kernel):
        flat = b.add(b.mul(flat, i64(size)), t)
    return flat


def _input_index(b: ir.IRBuilder, geo: _Geometry, outs: list, taps: list) -> list:
    """Per axis, o * stride + t * dilation - low pad (outside the input in the padding)."""
    return [b.sub(b.add(b.mul(o, i64(s)), b.mul(t, i64(d))), i64(lo))
            for o, t, s, d, lo in zip(outs, taps, geo.stride, geo.dilation, geo.low)]


def _over_hits(k: Kernel, geo: _Geometry, taps: list, body: Callable[[list, list], None]) -> None:
    """body(outs, ins) for every output whose window puts kernel position `taps` inside the
    input, and the input pixel it reads there (no padding, so no bounds test inside)."""
    b = k.b
    ranges = []
    for t, n, out, s, d, lo in zip(taps, geo.spatial, geo.out, geo.stride, geo.dilation,
                                   geo.low):
        # first: o * s >= lo - t * d; last: o * s <= n - 1 + lo - t * d
        before = b.sub(i64(lo), b.mul(t, i64(d)))
        first = b.select(b.icmp_signed(">", before, i64(0)),
                         b.sdiv(b.add(before, i64(s - 1)), i64(s)), i64(0))
        reach = b.add(before, i64(n - 1))
        last = b.sdiv(reach, i64(s))
        stop = b.select(b.icmp_signed("<", reach, i64(0)), i64(0),
                        b.select(b.icmp_signed("<", last, i64(out - 1)), b.add(last, i64(1)),
                                 i64(out)))
        ranges.append((first, stop))

    def nest(outs: list) -> None:
        if len(outs) == len(ranges):
            body(outs, _input_index(b, geo, outs, taps))
            return
        first, stop = ranges[len(outs)]
        with loop(b, stop, start=first, name=f"o{len(outs)}") as o:
            nest(outs + [o])
    nest([])


def _geometry_of(node: Tensor, x: Access, y_shape: tuple) -> _Geometry:
    return _Geometry(node, x.shape[2:], y_shape[2:])


# NOTE: up to this many kernel positions, a window whose pixels all lie inside the input (no
# padding) is computed output by output, its positions unrolled: 3-4x faster than a pass over
# the outputs per position (LeNet's 2x2 pooling of 28x28 maps), and the same values in the
# same order.
MAX_UNROLLED_TAPS = 27


def _inside(geo: _Geometry) -> bool:
    """Whether windows are done output by output: unpadded (each lies inside the input) and
    with few enough kernel positions to unroll."""
    return not geo.padded and geo.taps <= MAX_UNROLLED_TAPS


def _covered(geo: _Geometry) -> bool:
    """Whether the windows tile the input exactly (no pixel outside all of them)."""
    return all(d == 1 and s == t and o * s == n for t, s, d, o, n in
               zip(geo.kernel, geo.stride, geo.dilation, geo.out, geo.spatial))


def _unrolled_taps(geo: _Geometry) -> list[list[ir.Value]]:
    """Every kernel position, as constant indices, in row-major order."""
    return [[i64(t) for t in taps] for taps in itertools.product(*map(range, geo.kernel))]


def _over_rows(k: Kernel, shape: tuple, body: Callable[[list], None]) -> None:
    """body(indices) over a box in row-major order, the last axis a loop of its own (which
    LLVM can vectorize) inside one flat loop over the others."""
    def row(outer: list) -> None:
        with loop(k.b, i64(shape[-1]), name="row") as i:
            body(outer + [i])
    over_flat(k, shape[:-1], row)


# ---- windows that tile the input, a vector of them at a time ----------------------------------

# NOTE: windows that tile the input side by side along the last axis (stride == kernel, LeNet's
# 2x2 pools) go a vector of outputs at a time: LLVM vectorized the output-by-output loop with
# gathers and scatters over the stride-2 pixels, ~1 ns a pixel on Zen 5: the gradient of a
# (64, 6, 28, 28) pool took 0.32 ms on one core, 36 µs this way.
def _vector_lanes(env, geo: _Geometry, accesses: list[Access], dtype: str) -> int:
    """Outputs per vector when windows go a vector of them at a time, else 0: float windows
    that tile the input exactly (no padding, stride == kernel), few enough positions to
    unroll, every access running along its last axis. A static row of outputs shorter than
    the host's vectors takes the smallest power of two that holds it."""
    if not (is_float(dtype) and _inside(geo) and _covered(geo)
            and all(env.resolve(a.strides[-1]) == 1 for a in accesses)):
        return 0
    count = register_bits() // (8 * np.dtype(dtype).itemsize)
    width = env.resolve(geo.out[-1])
    if isinstance(width, int):
        count = min(count, 1 << max(0, width - 1).bit_length())
    return count


def _over_vectors(k: Kernel, geo: _Geometry, count: int,
                  body: Callable[[list, ir.Value, ir.Value], None]) -> None:
    """body(outs, mask, pixel mask) for each vector of `count` outputs along a row of the
    result, in row-major order: outs the first one's indices, mask the lanes inside the row,
    pixel mask the lanes of its input rows' pixels (kernel[-1] per output) inside it."""
    b, width = k.b, k.dims(geo.out[-1])

    def row(outer: list) -> None:
        with loop(b, parallel.ceil_div(b, width, i64(count)), name="vector") as v:
            first = b.mul(v, i64(count))
            left = b.sub(width, first)
            body(outer + [first], L.first_lanes(b, count, left),
                 L.first_lanes(b, count * geo.kernel[-1], b.mul(left, i64(geo.kernel[-1]))))
    over_flat(k, geo.out[:-1], row)


def _pixel_rows(geo: _Geometry) -> list[list[ir.Value]]:
    """The kernel positions that start a run of kernel[-1] pixels, as constant indices."""
    return [[i64(t) for t in taps] + [i64(0)]
            for taps in itertools.product(*map(range, geo.kernel[:-1]))]


def _tap_vectors(k: Kernel, geo: _Geometry, x: Access, nc: list, outs: list, count: int,
                 pixel_mask: ir.Value) -> list[ir.Value]:
    """Per kernel position, in row-major order, the vector of its pixels in `count` windows
    from `outs` on: each row of pixels loaded whole and split into its kernel[-1] parts."""
    b, width = k.b, geo.kernel[-1]
    wide = L.vector(ir_type(x.dtype), count * width)
    values = []
    for taps in _pixel_rows(geo):
        pixels = k.address(x, k.index(x, nc + _input_index(b, geo, outs, taps)))
        values += L.deinterleave(b, L.load(b, pixels, wide, pixel_mask), width)
    return values


# ---- pooling ----------------------------------------------------------------------------------

@register("max_pool", "avg_pool")
def pool(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    """Each output starts at the identity (-inf or 0), then meets its window's pixels kernel
    position by kernel position; an average is then scaled by 1 / kernel size (padding counts)."""
    (x,) = ins
    geo = _geometry_of(node, x, out.shape)
    count = _vector_lanes(low.env, geo, [out, x], node.dtype)

    def build(k: Kernel) -> Callable[[list], None]:
        dtype, b = node.dtype, k.b
        maximum = node.op == "max_pool"
        combine = ScalarEmitter(b, [scalar.maximum(scalar.arg(0), scalar.arg(1)) if maximum
                                    else scalar.arg(0) + scalar.arg(1)], [dtype, dtype], [dtype])
        scale = const(dtype, float(_dtype_reciprocal(dtype, geo.taps)))

        identity = const(dtype, float("-inf") if maximum else 0.0)

        def window(nc: list, outs: list) -> None:
            """One output from its window's pixels, met in kernel-position order in registers."""
            acc = identity
            for taps in _unrolled_taps(geo):
                (acc,) = combine.emit([acc, k.load(x, nc + _input_index(b, geo, outs, taps))])
            k.store(out, nc + outs, acc if maximum else b.fmul(acc, scale))

        def windows(nc: list, outs: list, mask: ir.Value, pixel_mask: ir.Value) -> None:
            """A vector of outputs, as window() computes each, lane by lane."""
            acc = L.splat(b, identity, count)
            for value in _tap_vectors(k, geo, x, nc, outs, count, pixel_mask):
                (acc,) = combine.emit([acc, value])
            if not maximum:
                acc = b.fmul(acc, L.splat(b, scale, count))
            L.store(b, acc, k.address(out, k.index(out, nc + outs)), mask)

        def plane(nc: list) -> None:
            if count:
                _over_vectors(k, geo, count, lambda o, m, pm: windows(nc, o, m, pm))
                return
            if _inside(geo):
                _over_rows(k, geo.out, lambda o: window(nc, o))
                return
            over_flat(k, geo.out, lambda o: k.store(out, nc + o, identity))

            def tap(taps: list) -> None:
                def update(outs: list, pixel: list) -> None:
                    (value,) = combine.emit([k.load(out, nc + outs), k.load(x, nc + pixel)])
                    k.store(out, nc + outs, value)
                _over_hits(k, geo, taps, update)
            over_flat(k, geo.kernel, tap)
            if not maximum:
                over_flat(k, geo.out,
                          lambda o: k.store(out, nc + o, b.fmul(k.load(out, nc + o), scale)))
        return plane
    return _planes_kernel(low, node, [out, x], out, build, math.prod(geo.out) * geo.taps)


def _dtype_reciprocal(dtype: str, n: int) -> float:
    """1 / n rounded to dtype, as the interpreter scales an average."""
    return float(np.dtype(dtype).type(1 / n))


@register("avg_pool_grad")
def avg_pool_grad(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    """Each output's share g / kernel size added onto its window's pixels."""
    (g,) = ins
    geo = _geometry_of(node, out, g.shape)

    def build(k: Kernel) -> Callable[[list], None]:
        dtype, b = node.dtype, k.b
        scale = const(dtype, _dtype_reciprocal(dtype, geo.taps))

        def plane(nc: list) -> None:
            over_flat(k, geo.spatial, lambda p: k.store(out, nc + p, const(dtype, 0)))

            def tap(taps: list) -> None:
                def add(outs: list, pixel: list) -> None:
                    share = b.fmul(k.load(g, nc + outs), scale)
                    k.store(out, nc + pixel, b.fadd(k.load(out, nc + pixel), share))
                _over_hits(k, geo, taps, add)
            over_flat(k, geo.kernel, tap)
        return plane
    work = math.prod(geo.out) * geo.taps + math.prod(geo.spatial)
    return _planes_kernel(low, node, [out, g], g, build, work)


# ---- the first maximum of each window ---------------------------------------------------------

def _scan_window(k: Kernel, geo: _Geometry, x: Access, nc: list, outs: list, target: ir.Value,
                 on_tap: Callable[[ir.Value, ir.Value, list, ir.Value], None]) -> None:
    """on_tap(hit, inside, pixel, flat tap) for each kernel position of the window at `outs`,
    in order; hit (i1) is true at the first position whose value (-inf in the padding) equals
    target. `pixel` is clamped into the input, so loads there are always in bounds."""
    b = k.b
    found = k.alloca(I1)
    b.store(ir.Constant(I1, 0), found)
    minus_inf = const(x.dtype, float("-inf"))
    empty = 0 in geo.spatial

    def tap(taps: list) -> None:
        pixel = _input_index(b, geo, outs, taps)
        inside = ir.Constant(I1, 1)
        if geo.padded:
            for p, n in zip(pixel, geo.spatial):
                inside = b.and_(inside, b.icmp_unsigned("<", p, i64(n)))
            pixel = [b.select(inside, p, i64(0)) for p in pixel]
        value = minus_inf if empty else b.select(inside, k.load(x, nc + pixel), minus_inf)
        was = b.load(found)
        hit = b.and_(b.not_(was), b.fcmp_ordered("==", value, target))
        b.store(b.or_(was, hit), found)
        on_tap(hit, inside, pixel, _flat_tap(b, geo, taps))
    over_flat(k, geo.kernel, tap)


def _first_scratch(plan, node: Tensor, ins: list[Access], out: Access) -> dict:
    return {"first": plan.scratch("int32", ins[1].shape)}


@register("max_pool_grad", scratch=_first_scratch)
def max_pool_grad(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    """Per window, the kernel position of its first maximum (-1 if none equals y); then, kernel
    position by kernel position, each window's g times (its first maximum is here) added onto
    (or, windows disjoint, stored into) the pixel there, as the interpreter computes it."""
    x, y, g = ins
    first = low.step.scratch["first"]
    geo = _geometry_of(node, x, y.shape)
    count = _vector_lanes(low.env, geo, [out, x, y, g], node.dtype)

    def build(k: Kernel) -> Callable[[list], None]:
        dtype, b = node.dtype, k.b
        where = k.alloca(I32)

        def find(nc: list, outs: list) -> None:
            b.store(ir.Constant(I32, -1), where)

            def note(hit, inside, pixel, flat) -> None:
                b.store(b.select(hit, b.trunc(flat, I32), b.load(where)), where)
            _scan_window(k, geo, x, nc, outs, k.load(y, nc + outs), note)
            k.store(first, nc + outs, b.load(where))

        def route(nc: list, outs: list) -> None:
            """A window whose pixels are its alone: g times (first maximum here) stored into each
            of them, the first maximum found in registers, in kernel-position order."""
            target, found, where = k.load(y, nc + outs), ir.Constant(I1, 0), ir.Constant(I32, -1)
            pixels = [_input_index(b, geo, outs, taps) for taps in _unrolled_taps(geo)]
            for flat, pixel in enumerate(pixels):
                hit = b.and_(b.not_(found), b.fcmp_ordered("==", k.load(x, nc + pixel), target))
                where, found = b.select(hit, ir.Constant(I32, flat), where), b.or_(found, hit)
            share = k.load(g, nc + outs)
            for flat, pixel in enumerate(pixels):
                chosen = b.icmp_signed("==", where, ir.Constant(I32, flat))
                k.store(out, nc + pixel, b.fmul(share, b.uitofp(chosen, ir_type(dtype))))

        def routes(nc: list, outs: list, mask: ir.Value, pixel_mask: ir.Value) -> None:
            """A vector of windows, as route() does each, lane by lane; each row of pixels
            joined back from its kernel[-1] parts and stored whole."""
            at = k.address(y, k.index(y, nc + outs))
            target = L.load(b, at, L.vector(ir_type(dtype), count), mask)
            found = ir.Constant(L.vector(I1, count), [0] * count)
            where = L.splat(b, ir.Constant(I32, -1), count)
            values = _tap_vectors(k, geo, x, nc, outs, count, pixel_mask)
            for flat, value in enumerate(values):
                hit = b.and_(b.xor(found, ir.Constant(found.type, [1] * count)),
                             b.fcmp_ordered("==", value, target))
                where = b.select(hit, L.splat(b, ir.Constant(I32, flat), count), where)
                found = b.or_(found, hit)
            share = L.load(b, k.address(g, k.index(g, nc + outs)), target.type, mask)
            shares = [b.fmul(share, b.uitofp(b.icmp_signed(
                "==", where, L.splat(b, ir.Constant(I32, flat), count)), target.type))
                for flat in range(len(values))]
            width = geo.kernel[-1]
            for row, taps in enumerate(_pixel_rows(geo)):
                pixels = k.address(out, k.index(out, nc + _input_index(b, geo, outs, taps)))
                L.store(b, L.interleave(b, shares[row * width:(row + 1) * width]), pixels,
                        pixel_mask)

        def plane(nc: list) -> None:
            if count:
                _over_vectors(k, geo, count, lambda o, m, pm: routes(nc, o, m, pm))
                return
            if _inside(geo) and geo.disjoint:
                if not _covered(geo):
                    over_flat(k, geo.spatial, lambda p: k.store(out, nc + p, const(dtype, 0)))
                _over_rows(k, geo.out, lambda o: route(nc, o))
                return
            over_flat(k, geo.out, lambda o: find(nc, o))
            over_flat(k, geo.spatial, lambda p: k.store(out, nc + p, const(dtype, 0)))

            def tap(taps: list) -> None:
                here = b.trunc(_flat_tap(b, geo, taps), I32)

                def scatter(outs: list, pixel: list) -> None:
                    chosen = b.icmp_signed("==", k.load(first, nc + outs), here)
                    share = b.fmul(k.load(g, nc + outs), b.uitofp(chosen, ir_type(dtype)))
                    if not geo.disjoint:
                        share = b.fadd(k.load(out, nc + pixel), share)
                    k.store(out, nc + pixel, share)
                _over_hits(k, geo, taps, scatter)
            over_flat(k, geo.kernel, tap)
        return plane
    work = 2 * math.prod(geo.out) * geo.taps + math.prod(geo.spatial)
    return _planes_kernel(low, node, [out, x, y, g, first], x, build, work)


@register("max_pool_select")
def max_pool_select(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    """Per window, h at its first maximum (0 in the padding or when no value equals y)."""
    x, y, h = ins
    geo = _geometry_of(node, x, y.shape)

    def build(k: Kernel) -> Callable[[list], None]:
        dtype, b = node.dtype, k.b
        picked = k.alloca(ir_type(dtype))
        zero = const(dtype, 0)
        empty = 0 in geo.spatial

        def select(nc: list, outs: list) -> None:
            b.store(zero, picked)

            def note(hit, inside, pixel, flat) -> None:
                value = zero if empty else b.select(inside, k.load(h, nc + pixel), zero)
                b.store(b.select(hit, value, b.load(picked)), picked)
            _scan_window(k, geo, x, nc, outs, k.load(y, nc + outs), note)
            k.store(out, nc + outs, b.load(picked))
        return lambda nc: over_flat(k, geo.out, lambda o: select(nc, o))
    return _planes_kernel(low, node, [out, x, y, h], y, build, math.prod(geo.out) * geo.taps)

