"""Copies between strided views, `dst[...] = src[...]` (or `+=`): the loops of layout kernels.

Axes that both views walk evenly are merged first. A copy whose destination runs along its
last axis while the source runs along another (a transpose: batch-last columns written out
batch-first, say) goes tile by tile, TILE×TILE elements, so that each cache line it reads
or writes is used whole while it is in L1; element by element, every read touched a new
line (~2x slower for a 4704×64 float32 transpose). A whole tile of floats is one vector of
the host's width per source column, transposed in registers with shuffles (LLVM had made
the tile's loops gathers and scatters), a tile cut by the box's edges under masks;
accumulating copies and integers go element by element.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from llvmlite import ir

from backends.llvm.access import Access
from backends.llvm.irutil import i64, ir_type, is_float, loop
from backends.llvm.kernels import lanes as L
from backends.llvm.kernels.base import Kernel
from backends.llvm.kernels.elementwise import collapse
from backends.llvm.target import register_bits

TILE = 16


def move(k: Kernel, dst: Access, src: Access, add: bool = False,
         at: Sequence[ir.Value] = ()) -> None:
    """dst[...] = src[...] (or += with add) for accesses of one shape; with `at`, indices of
    the leading axes, only the box there (a piece of the move that a chunk does)."""
    n, b = len(at), k.b
    starts = [k.index(Access(x.buffer, x.shape[:n], x.strides[:n], x.offset), list(at))
              for x in (dst, src)]
    boxes = [Access(x.buffer, x.shape[n:], x.strides[n:], 0) for x in (dst, src)]
    shape, strides, _ = collapse(boxes, k.env)
    dst, src = (Access(x.buffer, shape, s, 0) for x, s in zip((dst, src), strides))
    floating = is_float(dst.dtype)
    ty = ir_type(dst.dtype)

    def address(x: Access, start: ir.Value, indices: list) -> ir.Value:
        return k.address(x, b.add(start, k.index(x, indices)))

    def one(indices: list) -> None:
        target = address(dst, starts[0], indices)
        value = b.load(address(src, starts[1], indices), typ=ty)
        if add:
            old = b.load(target, typ=ty)
            value = b.fadd(old, value) if floating else b.add(old, value)
        b.store(value, target)

    if not shape:           # every axis of size 1 (collapse drops them): one element
        one([])
        return
    axis = _source_axis(k, dst, src)
    if axis is None:
        over_flat(k, shape[:-1], lambda outer: _run(k, shape[-1], outer, one))
    elif floating and not add:
        _tiled(k, shape, axis, one,
               _transposer(k, lambda i: address(dst, starts[0], i),
                           lambda i: address(src, starts[1], i), dst.dtype))
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


InRegisters = Callable[[Callable[[ir.Value, ir.Value], list], ir.Value, ir.Value], None]


def _tiled(k: Kernel, shape: tuple, axis: int, one: Callable[[list], None],
           registers: tuple[int, InRegisters] | None = None) -> None:
    """one(indices) over the box, axes `axis` and last in TILE×TILE tiles; with registers =
    (size, fn), size×size tiles, each done by fn(at, rows, cols): at(i, j) the indices of
    the tile's element (i, j), rows × cols of its elements inside the box."""
    b, last = k.b, len(shape) - 1
    others = [a for a in range(len(shape)) if a not in (axis, last)]
    size = registers[0] if registers else TILE
    tile = i64(size)
    rows, cols = k.dims(shape[axis]), k.dims(shape[last])
    row_tiles, col_tiles = (b.sdiv(b.add(n, i64(size - 1)), tile) for n in (rows, cols))

    def tiles(c: ir.Value, outer: list) -> None:
        fixed = dict(zip(others, outer))

        def at(i: ir.Value, j: ir.Value) -> list:
            position = fixed | {axis: i, last: j}
            return [position[a] for a in range(len(shape))]
        with loop(b, row_tiles, name="tile_row") as r:
            r0, c0 = b.mul(r, tile), b.mul(c, tile)
            r1, c1 = (_smaller(b, b.add(start, tile), n) for start, n in
                      ((r0, rows), (c0, cols)))
            if registers:
                registers[1](lambda i, j: at(b.add(r0, i), b.add(c0, j)), b.sub(r1, r0),
                             b.sub(c1, c0))
            else:
                with loop(b, r1, start=r0, name="row") as i:
                    with loop(b, c1, start=c0, name="col") as j:
                        one(at(i, j))
    # NOTE: columns of tiles outermost: the other axes then walk on along the same `size`
    # runs of src, which the prefetcher follows (im2col's copy of x batch-last: 22 -> 12 µs in W3)
    with loop(b, col_tiles, name="tile_col") as c:
        over_flat(k, tuple(shape[a] for a in others), lambda outer: tiles(c, outer))


def _transposer(k: Kernel, dst: Callable[[list], ir.Value], src: Callable[[list], ir.Value],
                dtype: str) -> tuple[int, InRegisters] | None:
    """(size, fn) copying a tile of floats, up to size×size, through registers, size the
    lanes of the host's vectors: fn(at, rows, cols) loads the tile's columns (runs of src)
    under masks, transposes them and stores the rows of dst under masks; at(i, j) gives the
    indices of the tile's element (i, j), dst and src their addresses. Masked-off columns
    and rows are addressed at the tile's first, so every address is inside the box."""
    size = register_bits() // (8 * np.dtype(dtype).itemsize)
    if size < 4:
        return None
    b, ty = k.b, L.vector(ir_type(dtype), size)
    nothing = ir.Constant(L.vector(ir.IntType(1), size), [0] * size)

    def fn(at: Callable[[ir.Value, ir.Value], list], rows: ir.Value, cols: ir.Value) -> None:
        def part(n: int, inside: ir.Value, mask: ir.Value) -> tuple[ir.Value, ir.Value]:
            """(index, mask) of column or row n of the tile."""
            within = b.icmp_signed("<", i64(n), inside)
            return b.select(within, i64(n), i64(0)), b.select(within, mask, nothing)
        column_mask, row_mask = L.first_lanes(b, size, rows), L.first_lanes(b, size, cols)
        columns = []
        for j in range(size):
            index, mask = part(j, cols, column_mask)
            columns.append(L.load(b, src(at(i64(0), index)), ty, mask))
        for i, row in enumerate(L.transpose(b, columns)):
            index, mask = part(i, rows, row_mask)
            L.store(b, row, dst(at(index, i64(0))), mask)
    return size, fn


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
    with loop(k.b, k.size(shape), name="flat") as flat:
        body(unflatten(k, flat, shape))


def unflatten(k: Kernel, flat: ir.Value, shape: tuple) -> list[ir.Value]:
    """The per-axis indices of the row-major number `flat` in a box."""
    b, indices, rest = k.b, [], flat
    for d in reversed(shape[1:]):
        size = k.dims(d)
        indices.append(b.urem(rest, size))
        rest = b.udiv(rest, size)
    return [rest] + indices[::-1]
