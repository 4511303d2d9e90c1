"""Copies between strided views, `dst[...] = src[...]` (or `+=`): the loops of layout kernels.

Axes that both views walk evenly are merged first. A copy whose destination runs along its
last axis while the source runs along another (a transpose: batch-last columns written out
batch-first, say) goes tile by tile, TILE×TILE elements, so that each cache line it reads
or writes is used whole while it is in L1; element by element, every read touched a new
line (~2x slower for a 4704×64 float32 transpose). Elements are visited in row-major order
of the shape within a tile and tiles in row-major order, so an accumulating copy adds in an
order that does not depend on the machine.
"""
from __future__ import annotations

from collections.abc import Callable

from backends.llvm.access import Access
from backends.llvm.irutil import i64, is_float, loop
from backends.llvm.kernels.base import Kernel
from backends.llvm.kernels.elementwise import collapse

TILE = 16


def move(k: Kernel, dst: Access, src: Access, add: bool = False) -> None:
    """dst[...] = src[...] (or += with add) for accesses of one shape."""
    shape, strides, _ = collapse([dst, src], k.env)
    dst, src = (Access(x.buffer, shape, s, x.offset) for x, s in zip((dst, src), strides))
    floating = is_float(dst.dtype)

    def one(indices: list) -> None:
        value = k.load(src, indices)
        if add:
            old = k.load(dst, indices)
            value = k.b.fadd(old, value) if floating else k.b.add(old, value)
        k.store(dst, indices, value)

    if not shape:           # every axis of size 1 (collapse drops them): one element
        one([])
        return
    axis = _source_axis(k, dst, src)
    if axis is None:
        over_flat(k, shape[:-1], lambda outer: _run(k, shape[-1], outer, one))
    else:
        _tiled(k, shape, axis, one)


def _source_axis(k: Kernel, dst: Access, src: Access) -> int | None:
    """The axis other than the last along which src runs when dst runs along the last."""
    resolve = k.env.resolve
    if resolve(dst.strides[-1]) != 1 or resolve(src.strides[-1]) == 1:
        return None
    return next((a for a, s in enumerate(src.strides[:-1]) if resolve(s) == 1), None)


def _run(k: Kernel, size, outer: list, one: Callable[[list], None]) -> None:
    with loop(k.b, k.dims(size), name="m") as i:
        one(outer + [i])


def _tiled(k: Kernel, shape: tuple, axis: int, one: Callable[[list], None]) -> None:
    """one(indices) over the box, axes `axis` and last in TILE×TILE tiles."""
    b, last = k.b, len(shape) - 1
    others = [a for a in range(len(shape)) if a not in (axis, last)]
    tile = i64(TILE)

    def tiles(outer: list) -> None:
        fixed = dict(zip(others, outer))
        rows, cols = k.dims(shape[axis]), k.dims(shape[last])
        row_tiles, col_tiles = (b.sdiv(b.add(n, i64(TILE - 1)), tile) for n in (rows, cols))
        with loop(b, row_tiles, name="tile_row") as r:
            with loop(b, col_tiles, name="tile_col") as c:
                r0, c0 = b.mul(r, tile), b.mul(c, tile)
                r1, c1 = (_smaller(b, b.add(start, tile), n) for start, n in
                          ((r0, rows), (c0, cols)))
                with loop(b, r1, start=r0, name="row") as i:
                    with loop(b, c1, start=c0, name="col") as j:
                        position = fixed | {axis: i, last: j}
                        one([position[a] for a in range(len(shape))])
    over_flat(k, tuple(shape[a] for a in others), tiles)


def _smaller(b, x, y):
    return b.select(b.icmp_signed("<", x, y), x, y)


def over_flat(k: Kernel, shape: tuple, body: Callable[[list], None]) -> None:
    """body(indices) over a box in row-major order, as one flat loop whose index is split into
    per-axis indices: a deep nest of short static loops would make LLVM unroll and analyse
    each level (seconds of compile time for a 3-D window), for no speed."""
    if len(shape) <= 1:
        if shape:
            with loop(k.b, k.dims(shape[0]), name="flat") as i:
                body([i])
        else:
            body([])
        return
    b = k.b
    with loop(b, k.size(shape), name="flat") as flat:
        indices, rest = [], flat
        for d in reversed(shape[1:]):
            size = k.dims(d)
            indices.append(b.urem(rest, size))
            rest = b.udiv(rest, size)
        body([rest] + indices[::-1])
