"""A generated GEMM for the float products BLAS does badly: few rows, or a short inner size,
and on AVX-512 hosts all of them (see kernels/contraction.py).

BLAS packs the whole of b before it multiplies, which for such products costs more than the
arithmetic, and the scipy OpenBLAS this machine type gets runs Haswell's 256-bit kernels
where the host has 512-bit vectors. This kernel goes tile by tile: a tile of the result,
tile_rows() rows of TILE_VECTORS vectors, is accumulated in registers while the inner index
runs, and a column of tiles reads the same block of b, which stays in cache (in a big
product, copied to a contiguous panel on the stack a slice of the inner index at a time, the
accumulators going to c and back between slices); the columns left over go in tiles of 2^i
vectors, the last vector masked. Every element of the result is one chain of fused
multiply-adds over the inner index, in order (a product by a transposed b with few rows:
one vector of partial sums, its lanes added by one fixed tree; with more, b is transposed
into the panels), so its bits do not depend on where it lies.

The kernels are functions `kernel(record, lo, hi, ...)`, which compute the column blocks
[lo, hi) of the product the record describes, one per dtype and kind of product. They are
compiled once per process (and cached on disk like a graph's code) and reached, as BLAS is,
through the context table: a graph's code only fills in a record and calls, which keeps
its compile time what it was with BLAS alone. A big product (parallel.py's min_work,
counted like BLAS products in blas.MACS_PER_UNIT multiply-adds) is cut into pieces of column
blocks that the thread team shares; the pieces depend on the sizes only.
"""
from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import numpy as np
from llvmlite import ir

from backends.llvm import blas, parallel
from backends.llvm.irutil import entry_alloca, i64, ir_type, loop
from backends.llvm.kernels import lanes
from backends.llvm.target import register_bits
from backends.llvm.vmath.fir import declare, type_suffix

TILE_VECTORS = 4
# NOTE: a whole block of b is copied, PACK_DEPTH of its rows at a time (32 KiB: L1 holds it),
# into a contiguous panel when the product has at least PACK_ROWS rows and an inner size of
# at least PACK_INNER. In place, b's rows ldb apart fall in few cache sets when ldb is a
# multiple of a large power of two. Measured on one core (Zen 5), GFLOP/s in place / packed:
# 1024^3 float32 200 / 250, 128x1024 by 1024x512 218 / 250, 128x784 by 784x256 ~238 / 250,
# 32x1024 by 1024x1024 176 / 205; but 64x300 by 300x2048 248 / 226 and 16x150 by 150x6400
# 200 / 176: with few rows or a short inner size the copy costs more than it saves.
PACK_DEPTH = 128
PACK_ROWS = 32
PACK_INNER = 512
DOT_TILE = (4, 4)                  # rows × columns of c whose dot products run together
# NOTE: dot products go a slice of DOT_SLICE_BYTES of each row at a time over a group of
# columns whose partial sums fit DOT_PARTIALS vectors (16 KiB on the stack), so a
# slice's rows of a and b are read from memory once and stay in L2 while the group's tiles
# pass over them. Measured on one core, GFLOP/s before / after: LeNet's weight gradients
# 6x50176 by (25x50176)^T 80 / 118 and 16x6400 by (150x6400)^T 150 / 175.
DOT_SLICE_BYTES = 4096
DOT_PARTIALS = 256
# NOTE: a vector times a matrix reads each element of b once, so it runs at the speed b
# comes from cache: 784x256 float32 (800 KB, W6's first layer) read at ~150 GB/s, where a
# matrix half its size, which one core's L2 holds, read at ~200. From HALVES_BYTES of b on,
# the product is cut into two halves of the inner index, each core's L2 holding its half of
# b from call to call, and their partial rows added (HALVES_COLUMNS at most, on the stack).
HALVES_BYTES = 1 << 19
HALVES_COLUMNS = 1024


def tile_rows() -> int:
    """Rows in a tile: 6 (24 accumulators and the 4 vectors of b) with AVX-512's 32 vector
    registers, else 2 (8 of 16)."""
    return 6 if register_bits() == 512 else 2


def row_vectors() -> int:
    """Vectors in a tile of a one-row product (a vector times a matrix): 16 accumulators with
    AVX-512's 32 registers, else 8; four would leave the FMA units waiting on each other."""
    return 16 if register_bits() == 512 else 8


_I32, _PTR = ir.IntType(32), ir.PointerType()
_I64 = ir.IntType(64)
# the record a product hands its column function: pointers to c, a, b, then sizes and strides
FIELDS = ("c", "a", "b", "m", "n", "k", "ldc", "lda", "a_step", "ldb")
RECORD = ir.LiteralStructType([_PTR] * 3 + [_I64] * 7)


def emit_product(builder: ir.IRBuilder, context: ir.Value, dtype, kind: str = "rows",
                 **operands: ir.Value) -> None:
    """Emit c = a @ b, c (m × n) with rows of contiguous elements ldc apart, a's element
    (i, l) at a + i·lda + l·a_step (pointers and i64 sizes, by FIELDS). By `kind`:

    - "rows": b (k × n) has rows of contiguous elements ldb apart;
    - "one_row": the same, and the caller knows m is 1: tiles of one row and row_vectors();
    - "dots": b is stored transposed, element (l, j) at b + j·ldb + l, and a_step is 1: with
      fewer than PACK_ROWS rows each element a dot product of contiguous rows, DOT_TILE of
      them at once; with more, tiles of rows over panels transposed from b ("transposed").
    """
    record = entry_alloca(builder, RECORD)
    for i, name in enumerate(FIELDS):
        builder.store(operands[name], builder.gep(record, [_I32(0), _I32(i)], inbounds=True))
    if kind == "one_row":
        nbytes = builder.mul(builder.mul(operands["k"], operands["n"]),
                             i64(np.dtype(dtype).itemsize))
        halves = builder.and_(builder.icmp_signed(">=", nbytes, i64(HALVES_BYTES)),
                              builder.icmp_signed("<=", operands["n"], i64(HALVES_COLUMNS)))
        with builder.if_else(halves) as (cut, whole):
            with cut:
                _run_halves(builder, record, context, dtype, operands)
            with whole:
                _run(builder, record, context, dtype, kind, operands)
        return
    if kind != "dots":
        _run(builder, record, context, dtype, kind, operands)
        return
    with builder.if_else(builder.icmp_signed(">=", operands["m"], i64(PACK_ROWS))) as (
            transposed, dots):
        with transposed:
            _run(builder, record, context, dtype, "transposed", operands)
        with dots:
            _run(builder, record, context, dtype, "dots", operands)


def _run(builder: ir.IRBuilder, record: ir.Value, context: ir.Value, dtype, kind: str,
         operands: dict[str, ir.Value]) -> None:
    """The call of kind's kernel on the record: alone, or in pieces the team shares."""
    columns = _caller(builder.module, dtype, kind)
    width = i64(_block_width(dtype, kind))
    blocks = parallel.ceil_div(builder, operands["n"], width)
    args, null = [record, context], ir.Constant(_PTR, None)
    m, n, k = (operands[d] for d in "mnk")

    def split() -> None:
        item_work = builder.udiv(builder.mul(builder.mul(m, width), k),
                                 i64(blas.MACS_PER_UNIT))
        chunk = parallel.ceil_div(builder, blocks, i64(blas.SPLIT_PIECES))
        parallel.run_pieces(builder, lambda ty: entry_alloca(builder, ty), columns, args,
                            blocks, item_work, chunk)
    blas.by_size(builder, m, n, k,
                 lambda: builder.call(columns, args + [i64(0), blocks, i64(0), null]), split)


def _run_halves(builder: ir.IRBuilder, record: ir.Value, context: ir.Value, dtype,
                operands: dict[str, ir.Value]) -> None:
    """A one-row product as two halves of the inner index (see HALVES_BYTES), offered to
    the team whatever its arithmetic (it declines while busy or backing off), then c = first
    half's row + second half's: the same sums for any number of threads."""
    scalar = ir_type(np.dtype(dtype).name)
    partials = entry_alloca(builder, ir.ArrayType(scalar, 2 * HALVES_COLUMNS))
    partials = builder.bitcast(partials, _PTR)
    half = _half_function(builder.module, dtype)
    parallel.run_pieces(builder, lambda ty: entry_alloca(builder, ty), half, [record, context],
                        i64(2), parallel.min_work(builder), i64(1), partials)
    c = operands["c"]
    with loop(builder, operands["n"], name="halves") as j:
        first = builder.load(builder.gep(partials, [j], source_etype=scalar), typ=scalar)
        second = builder.load(builder.gep(partials, [builder.add(j, i64(HALVES_COLUMNS))],
                                          source_etype=scalar), typ=scalar)
        builder.store(builder.fadd(first, second), builder.gep(c, [j], source_etype=scalar))


def _half_function(module: ir.Module, dtype) -> ir.Function:
    """i32 half(record, context, lo, hi, index, partials): halves [lo, hi) of the record's
    one-row product, half h's row into partials + h·HALVES_COLUMNS."""
    fn = _graph_function(module, f"graphc.gemm.{np.dtype(dtype).name}.one_row.half")
    if fn.blocks:
        return fn
    record, context, lo, hi, _, partials = fn.args
    b = ir.IRBuilder(fn.append_basic_block("start"))
    scalar = ir_type(np.dtype(dtype).name)
    fields = {f: b.load(b.gep(record, [_I32(0), _I32(i)], inbounds=True, source_etype=RECORD),
                        typ=RECORD.elements[i]) for i, f in enumerate(FIELDS)}
    k = fields["k"]
    first_size = b.sdiv(b.add(k, i64(1)), i64(2))
    width = i64(_block_width(dtype, "one_row"))
    blocks = parallel.ceil_div(b, fields["n"], width)
    own = entry_alloca(b, RECORD)
    with loop(b, hi, start=lo, name="half") as h:
        start = b.mul(h, first_size)
        part = dict(fields)
        part["k"] = b.select(b.icmp_signed("==", h, i64(0)), first_size, b.sub(k, first_size))
        part["a"] = b.gep(fields["a"], [b.mul(start, fields["a_step"])], source_etype=scalar)
        part["b"] = b.gep(fields["b"], [b.mul(start, fields["ldb"])], source_etype=scalar)
        part["c"] = b.gep(partials, [b.mul(h, i64(HALVES_COLUMNS))], source_etype=scalar)
        for i, field in enumerate(FIELDS):
            b.store(part[field], b.gep(own, [_I32(0), _I32(i)], inbounds=True))
        b.call(_caller(module, dtype, "one_row"),
               [own, context, i64(0), blocks, i64(0), ir.Constant(_PTR, None)])
    b.ret(_I32(0))
    return fn


# ---- the kernels, compiled once per process (and cached on disk) --------------------------

KINDS = ("rows", "one_row", "dots", "transposed")
DTYPES = ("float32", "float64")
RUNTIME = tuple(f"graphc_gemm_{dtype}_{kind}" for dtype in DTYPES for kind in KINDS)


def runtime_addresses() -> list[int]:
    """The addresses of the kernels, in RUNTIME's order (the context table's last slots)."""
    loaded = _runtime()
    return [loaded[name] for name in RUNTIME]


@functools.cache
def _runtime():
    """The kernels' object code, loaded into this process (built, or read from the cache)."""
    from backends.llvm import cache
    return cache.load_or_build("graphc generated GEMM kernels", _runtime_module, RUNTIME)


def _runtime_module() -> ir.Module:
    module = ir.Module("graphc.gemm")
    for name in RUNTIME:
        _, _, dtype, kind = name.split("_", 3)
        _columns_function(module, dtype, kind, name)
    return module


def _caller(module: ir.Module, dtype, kind: str) -> ir.Function:
    """i32 call(record, context, lo, hi, index, scratch): the kernel for dtype and kind, from
    its slot of the context table (object code holds no address)."""
    fn = _graph_function(module, f"graphc.gemm.{np.dtype(dtype).name}.{kind}")
    if fn.blocks:
        return fn
    record, context, *rest = fn.args
    b = ir.IRBuilder(fn.append_basic_block("start"))
    kernel_type = ir.FunctionType(_I32, [_PTR, *parallel.CHUNK_ARGS])
    slot = len(blas.SLOTS) + RUNTIME.index(f"graphc_gemm_{np.dtype(dtype).name}_{kind}")
    pointer = b.load(b.gep(context, [i64(slot)], inbounds=True, source_etype=_PTR),
                     typ=kernel_type.as_pointer())
    b.ret(b.call(pointer, [record, *rest]))
    return fn


def _graph_function(module: ir.Module, name: str) -> ir.Function:
    """The graph module's internal i32 name(record, context, lo, hi, index, scratch), as
    made before or new without a body."""
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    fn = ir.Function(module, ir.FunctionType(_I32, [_PTR, _PTR, *parallel.CHUNK_ARGS]),
                     name=name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    return fn


def _lanes(dtype) -> int:
    """Elements of dtype in one of the host's widest vectors."""
    return register_bits() // (np.dtype(dtype).itemsize * 8)


def _tile(kind: str) -> tuple[int, int]:
    """A kind's tile: (rows, vectors), or for dots (rows, columns)."""
    return {"rows": (tile_rows(), TILE_VECTORS), "one_row": (1, row_vectors()),
            "dots": DOT_TILE, "transposed": (tile_rows(), TILE_VECTORS)}[kind]


def _block_width(dtype, kind: str) -> int:
    """Columns of c in one block of the kind's tiles."""
    rows, across = _tile(kind)
    return across if kind == "dots" else _lanes(dtype) * across


def _columns_function(module: ir.Module, dtype, kind: str, name: str) -> ir.Function:
    """i32 name(record, lo, hi, index, scratch): the product's column blocks [lo, hi).

    NOTE: no size is a constant in it: specialized to a graph's static sizes, no product
    ran faster and compiling W3's step took 40% longer.
    """
    fn = ir.Function(module, ir.FunctionType(_I32, [_PTR, *parallel.CHUNK_ARGS]), name=name)
    fn.attributes.add("nounwind")
    record, lo, hi = fn.args[:3]
    entry = ir.IRBuilder(fn.append_basic_block("entry"))
    body = fn.append_basic_block("body")
    bld = ir.IRBuilder(body)
    fields = {f: bld.load(bld.gep(record, [_I32(0), _I32(i)], inbounds=True,
                                  source_etype=RECORD), typ=RECORD.elements[i])
              for i, f in enumerate(FIELDS)}
    if kind == "dots":
        _Dots(bld, entry, dtype, fields, _tile(kind)).emit(lo, hi)
    elif kind == "transposed":
        _Transposed(bld, entry, dtype, fields, _tile(kind)).emit(lo, hi)
    else:
        _Columns(bld, entry, dtype, fields, _tile(kind), packs=kind == "rows").emit(lo, hi)
    bld.ret(_I32(0))
    entry.branch(body)
    return fn


class _Panel(NamedTuple):
    """Where a tile reads b: element (l, j) of the block at b + l·ldb + j, for the inner
    indices [start, start + depth); `fresh` (i1) says the accumulators start at zero, else
    from c (a later block of the inner index: the chain goes on, with the same bits)."""
    b: ir.Value
    ldb: ir.Value
    start: ir.Value
    depth: ir.Value
    fresh: ir.Value
    col: ir.Value           # the column of c its first column is


class _Columns:
    """The tile code over one product's column blocks."""

    def __init__(self, bld: ir.IRBuilder, entry: ir.IRBuilder, dtype, fields: dict,
                 tile: tuple[int, int], packs: bool = False):
        self.bld, self.entry, self.f = bld, entry, fields
        self.tile_rows, self.tile_vectors = tile
        self.packs = packs
        self.scalar, self.size = ir_type(np.dtype(dtype).name), np.dtype(dtype).itemsize
        self.lanes = register_bits() // (self.size * 8)
        self.vector = ir.VectorType(self.scalar, self.lanes)
        self.width = self.lanes * self.tile_vectors
        module = bld.module
        self.fma = {t: declare(module, f"llvm.fma.{type_suffix(t)}", ir.FunctionType(t, [t] * 3))
                    for t in (self.scalar, self.vector)}

    def emit(self, lo: ir.Value, hi: ir.Value) -> None:
        bld, f = self.bld, self.f
        with loop(bld, hi, start=lo, name="block", interleave=1) as block:
            first = bld.mul(block, i64(self.width))
            full = bld.icmp_signed("<=", bld.add(first, i64(self.width)), f["n"])
            with bld.if_else(full) as (tiles, left_over):
                with tiles:
                    self.block(first)
                with left_over:
                    self.left_over(first)

    def direct(self, first_col: ir.Value) -> _Panel:
        """b's columns from first_col on, read where they are, the whole inner index."""
        f, bld = self.f, self.bld
        b = bld.gep(f["b"], [first_col], inbounds=True, source_etype=self.scalar)
        return _Panel(b, f["ldb"], i64(0), f["k"], ir.Constant(ir.IntType(1), 1), first_col)

    def block(self, first_col: ir.Value) -> None:
        """A whole block of columns: packed when the product is big enough, else in place."""
        bld, f = self.bld, self.f
        if not self.packs:
            self.rows(self.direct(first_col), self.tile_vectors)
            return
        big = bld.and_(bld.icmp_signed(">=", f["m"], i64(PACK_ROWS)),
                       bld.icmp_signed(">=", f["k"], i64(PACK_INNER)))
        with bld.if_else(big) as (packed, in_place):
            with packed:
                self.packed(first_col)
            with in_place:
                self.rows(self.direct(first_col), self.tile_vectors)

    def packed(self, first_col: ir.Value) -> None:
        """The block by PACK_DEPTH rows of b at a time, each copied into a contiguous panel
        first (it stays in L1 while every row of a passes over it).

        NOTE: the panel is on the stack: each thread of the team has its own with nothing to
        allocate, pass or free, and its 32 KiB are far below any thread's stack (glibc's
        default for libgomp's threads and Python's is 8 MiB)."""
        bld, f, width = self.bld, self.f, self.width
        scratch = self.panel()
        source = self.direct(first_col)
        with loop(bld, parallel.ceil_div(bld, f["k"], i64(PACK_DEPTH)), name="kb",
                  interleave=1) as kb:
            start = bld.mul(kb, i64(PACK_DEPTH))
            left = bld.sub(f["k"], start)
            depth = bld.select(bld.icmp_signed("<", left, i64(PACK_DEPTH)), left, i64(PACK_DEPTH))
            with loop(bld, depth, name="pack", interleave=1) as l_:
                row = bld.gep(source.b, [bld.mul(bld.add(start, l_), f["ldb"])], inbounds=True,
                              source_etype=self.scalar)
                to = bld.gep(scratch, [bld.mul(l_, i64(width))], inbounds=True,
                             source_etype=self.scalar)
                for v in range(self.tile_vectors):
                    at = i64(v * self.lanes)
                    value = self.load(bld.gep(row, [at], inbounds=True, source_etype=self.scalar),
                                      None)
                    bld.store(value, bld.gep(to, [at], inbounds=True, source_etype=self.scalar),
                              align=64)
            fresh = bld.icmp_signed("==", kb, i64(0))
            self.rows(_Panel(scratch, i64(width), start, depth, fresh, first_col),
                      self.tile_vectors)

    def panel(self) -> ir.Value:
        """A panel of PACK_DEPTH rows of a block on the stack (see `packed`), 64-aligned."""
        stack = self.entry.alloca(ir.ArrayType(self.scalar, PACK_DEPTH * self.width))
        stack.align = 64
        # NOTE: llvmlite types a gep by an alloca's pointee: the panel is addressed by
        # elements through an untyped pointer
        return self.entry.inttoptr(self.entry.ptrtoint(stack, _I64), _PTR)

    def left_over(self, first_col: ir.Value) -> None:
        """The columns from first_col on (fewer than a block), read where they are."""
        self.by_vectors(first_col, self.bld.sub(self.f["n"], first_col), self.direct)

    def by_vectors(self, first_col: ir.Value, count: ir.Value,
                   panel_at: Callable[[ir.Value], _Panel]) -> None:
        """`count` columns from first_col on, fewer than a block: tiles of 2^i vectors by the
        binary digits of how many whole vectors there are, then one masked vector; b's
        columns from col on are read at panel_at(col)."""
        bld, lanes = self.bld, self.lanes
        vectors = bld.sdiv(count, i64(lanes))
        start, width = first_col, self.tile_vectors // 2
        while width:
            present = bld.icmp_signed("!=", bld.and_(vectors, i64(width)), i64(0))
            with bld.if_then(present):
                self.rows(panel_at(start), width)
            start = bld.select(present, bld.add(start, i64(width * lanes)), start)
            width //= 2
        rest = bld.sub(count, bld.mul(vectors, i64(lanes)))
        with bld.if_then(bld.icmp_signed(">", rest, i64(0))):
            lane = ir.Constant(ir.VectorType(_I64, lanes), list(range(lanes)))
            mask = bld.icmp_unsigned("<", lane, _splat(bld, rest, lane.type))
            self.rows(panel_at(start), 1, mask)

    def rows(self, panel: _Panel, vectors: int, mask: ir.Value | None = None) -> None:
        """The tiles of a column block `vectors` wide: rows by the tile's rows, the rest by
        powers of two.

        NOTE: with tiles of 6 rows, 2 or 3 rows left over go with the last whole tile as two
        tiles of 4 (and one of 1): a tile of 2 rows has 8 accumulators, too few chains for
        both FMA units. On one core, GFLOP/s: 32x128 by 128x512 227 -> 233, 8x128 by 128x512
        171 -> 180, 15x128 by 128x512 164 -> 172."""
        bld, start = self.bld, i64(0)
        for rows in _row_steps(self.tile_rows):
            count = bld.sdiv(bld.sub(self.f["m"], start), i64(rows))
            if rows == 6:
                left = bld.sub(self.f["m"], bld.mul(count, i64(rows)))
                fours = bld.and_(bld.icmp_signed(">", count, i64(0)),
                                 bld.icmp_unsigned("<", bld.sub(left, i64(2)), i64(2)))
                count = bld.sub(count, bld.zext(fours, _I64))
            with loop(bld, count, name=f"rows{rows}", interleave=1) as p:
                self.tile(bld.add(start, bld.mul(p, i64(rows))), rows, panel, vectors, mask)
            start = bld.add(start, bld.mul(count, i64(rows)))

    def at(self, name: str, row: ir.Value, ld: ir.Value, col: ir.Value) -> ir.Value:
        bld = self.bld
        return bld.gep(self.f[name], [bld.add(bld.mul(row, ld), col)], inbounds=True,
                       source_etype=self.scalar)

    def a_at(self, row: ir.Value, l_: ir.Value) -> ir.Value:
        f = self.f
        return self.bld.load(self.at("a", row, f["lda"], self.bld.mul(l_, f["a_step"])),
                             typ=self.scalar)

    def tile(self, first_row: ir.Value, rows: int, panel: _Panel, vectors: int,
             mask: ir.Value | None) -> None:
        """rows × vectors vectors of c from their accumulators (lanes outside a mask are
        neither read nor written)."""
        bld, f, vector = self.bld, self.f, self.vector
        targets = [[self.at("c", bld.add(first_row, i64(r)), f["ldc"],
                            bld.add(panel.col, i64(v * self.lanes))) for v in range(vectors)]
                   for r in range(rows)]
        slots = self.accumulators(panel.fresh, targets, lambda at: self.load(at, mask))
        with loop(bld, panel.depth, name="l", interleave=1) as l_:
            b_row = bld.gep(panel.b, [bld.mul(l_, panel.ldb)], inbounds=True,
                            source_etype=self.scalar)
            bs = [self.load(bld.gep(b_row, [i64(v * self.lanes)], inbounds=True,
                                    source_etype=self.scalar), mask) for v in range(vectors)]
            for r, row in enumerate(slots):
                x = _splat(bld, self.a_at(bld.add(first_row, i64(r)), bld.add(panel.start, l_)),
                           vector)
                for slot, y in zip(row, bs):
                    bld.store(bld.call(self.fma[vector], [x, y, bld.load(slot, typ=vector)]),
                              slot)
        for row, row_targets in zip(slots, targets):
            for slot, target in zip(row, row_targets):
                self.store(bld.load(slot, typ=vector), target, mask)

    def accumulators(self, fresh: ir.Value, kept: list[list[ir.Value]],
                     reload: Callable[[ir.Value], ir.Value]) -> list[list[ir.Value]]:
        """A stack slot of accumulators per place in `kept`: zero when `fresh` (i1), else
        reload(place), the sums an earlier panel or slice left there."""
        bld, vector = self.bld, self.vector
        slots = [[self.entry.alloca(vector) for _ in row] for row in kept]
        with bld.if_else(fresh) as (start, going_on):
            with start:
                for row in slots:
                    for slot in row:
                        bld.store(ir.Constant(vector, None), slot)
            with going_on:
                for row, row_kept in zip(slots, kept):
                    for slot, at in zip(row, row_kept):
                        bld.store(reload(at), slot)
        return slots

    def load(self, pointer: ir.Value, mask: ir.Value | None) -> ir.Value:
        if mask is None:
            return self.bld.load(pointer, typ=self.vector, align=self.size)
        return lanes.load(self.bld, pointer, self.vector, mask)

    def store(self, value: ir.Value, pointer: ir.Value, mask: ir.Value | None) -> None:
        if mask is None:
            self.bld.store(value, pointer, align=self.size)
        else:
            lanes.store(self.bld, value, pointer, mask)


class _Dots(_Columns):
    """The tile code of a product whose b is stored transposed: each element of c is the dot
    product of a row of a and a row of the stored b, both contiguous; a tile of them keeps
    one vector of partial sums each, added up across lanes at the end (the last, partial
    vector of each row loaded under a mask).

    NOTE: the lanes of a tile's 16 vectors are added together, 15 vector additions
    (_lane_sums); an ordered sum of each vector's lanes, 240 dependent scalar additions,
    cost a third of the time of 32x512 by (128x512)^T: 137 -> 223 GFLOP/s on one core."""

    def emit(self, lo: ir.Value, hi: ir.Value) -> None:
        """The blocks [lo, hi): in one go when the inner size fits one slice, else by groups
        of blocks whose partial sums (all rows: fewer than PACK_ROWS) fit DOT_PARTIALS
        vectors, each group a slice of the inner index at a time."""
        bld, f = self.bld, self.f
        length = DOT_SLICE_BYTES // self.size
        stack = self.entry.alloca(self.vector, size=i64(DOT_PARTIALS))
        stack.align = 64
        with bld.if_else(bld.icmp_signed("<=", f["k"], i64(length))) as (short, long):
            with short:
                true, zero = ir.Constant(ir.IntType(1), 1), i64(0)
                whole = _Slice(zero, f["k"], true, true, stack, zero, zero)
                with loop(bld, hi, start=lo, name="block", interleave=1) as block:
                    self.block_of_dots(block, whole)
            with long:
                self.sliced(lo, hi, length, stack)

    def sliced(self, lo: ir.Value, hi: ir.Value, length: int, stack: ir.Value) -> None:
        bld, f, across = self.bld, self.f, self.tile_vectors
        rows = parallel.larger(bld, f["m"], i64(1))
        group_blocks = bld.sdiv(i64(DOT_PARTIALS), bld.mul(rows, i64(across)))
        slices = parallel.ceil_div(bld, f["k"], i64(length))
        with loop(bld, parallel.ceil_div(bld, bld.sub(hi, lo), group_blocks), name="cg",
                  interleave=1) as cg:
            first_block = bld.add(lo, bld.mul(cg, group_blocks))
            end_block = _smaller(bld, bld.add(first_block, group_blocks), hi)
            with loop(bld, slices, name="slice", interleave=1) as s:
                start = bld.mul(s, i64(length))
                part = _Slice(start, _smaller(bld, i64(length), bld.sub(f["k"], start)),
                              bld.icmp_signed("==", s, i64(0)),
                              bld.icmp_signed("==", s, bld.sub(slices, i64(1))),
                              stack, bld.mul(first_block, i64(across)),
                              bld.mul(group_blocks, i64(across)))
                with loop(bld, end_block, start=first_block, name="block",
                          interleave=1) as block:
                    self.block_of_dots(block, part)

    def block_of_dots(self, block: ir.Value, part: _Slice) -> None:
        """A whole block of columns, else its columns by binary digits."""
        bld, f, across = self.bld, self.f, self.tile_vectors
        first = bld.mul(block, i64(across))
        left = bld.sub(f["n"], first)
        start, cols = first, across
        whole = bld.icmp_signed(">=", left, i64(across))
        while cols:
            present = whole if cols == across else bld.and_(
                bld.not_(whole), bld.icmp_signed("!=", bld.and_(left, i64(cols)), i64(0)))
            with bld.if_then(present):
                self.dot_rows(start, cols, part)
            start = bld.select(present, bld.add(start, i64(cols)), start)
            cols //= 2

    def dot_rows(self, first_col: ir.Value, cols: int, part: _Slice) -> None:
        bld, start, rows = self.bld, i64(0), self.tile_rows
        while rows:
            count = bld.sdiv(bld.sub(self.f["m"], start), i64(rows))
            with loop(bld, count, name=f"rows{rows}", interleave=1) as p:
                self.dots(bld.add(start, bld.mul(p, i64(rows))), rows, first_col, cols, part)
            start, rows = bld.add(start, bld.mul(count, i64(rows))), rows // 2

    def dots(self, first_row: ir.Value, rows: int, first_col: ir.Value, cols: int,
             part: _Slice) -> None:
        """rows × cols elements of c from as many vectors of partial sums, over one slice of
        the inner index: they start at zero or from the slice before, and go on to the
        slice after or are added up into c."""
        bld, f, vector, lanes = self.bld, self.f, self.vector, self.lanes
        kept = [[part.partial(bld, bld.add(first_row, i64(r)), bld.add(first_col, i64(c)))
                 for c in range(cols)] for r in range(rows)]
        slots = self.accumulators(part.fresh, kept, lambda at: bld.load(at, typ=vector))
        a_rows = [self.at("a", bld.add(first_row, i64(r)), f["lda"], part.start)
                  for r in range(rows)]
        b_rows = [self.at("b", bld.add(first_col, i64(c)), f["ldb"], part.start)
                  for c in range(cols)]

        def step(offset: ir.Value, mask: ir.Value | None) -> None:
            def at(base):
                return bld.gep(base, [offset], inbounds=True, source_etype=self.scalar)
            xs = [self.load(at(p), mask) for p in a_rows]
            ys = [self.load(at(p), mask) for p in b_rows]
            for x, row in zip(xs, slots):
                for y, slot in zip(ys, row):
                    bld.store(bld.call(self.fma[vector], [x, y, bld.load(slot, typ=vector)]),
                              slot)
        whole = bld.sdiv(part.length, i64(lanes))
        with loop(bld, whole, name="l", interleave=1) as s:
            step(bld.mul(s, i64(lanes)), None)
        rest = bld.sub(part.length, bld.mul(whole, i64(lanes)))
        with bld.if_then(bld.icmp_signed(">", rest, i64(0))):   # (the last slice only)
            lane = ir.Constant(ir.VectorType(_I64, lanes), list(range(lanes)))
            step(bld.mul(whole, i64(lanes)),
                 bld.icmp_unsigned("<", lane, _splat(bld, rest, lane.type)))
        with bld.if_else(part.last) as (last, more):
            with last:
                sums = _lane_sums(bld, [bld.load(slot, typ=vector)
                                        for row in slots for slot in row])
                for r in range(rows):
                    for c in range(cols):
                        bld.store(sums[r * cols + c],
                                  self.at("c", bld.add(first_row, i64(r)), f["ldc"],
                                          bld.add(first_col, i64(c))))
            with more:
                for row, row_kept in zip(slots, kept):
                    for slot, at in zip(row, row_kept):
                        bld.store(bld.load(slot, typ=vector), at)


class _Transposed(_Columns):
    """The tile code of a product by a transposed b (element (l, j) at b + j·ldb + l) with
    at least PACK_ROWS rows: a block of b's stored rows is transposed into a panel a slice
    of PACK_DEPTH of the inner index at a time, by register transposes of lanes × lanes
    squares (lanes.transpose), and the tiles of rows run over the panel as over a b stored
    row by row: each element one chain of fused multiply-adds over the inner index, in order.

    NOTE: dot products load both operands per multiply-add and add their lanes at the end.
    On one core (Zen 5), µs as dots / transposed here: 32x512 by (128x512)^T 24.3 / 21.9,
    64x512 by (128x512)^T 47 / 38.4, 128x128 by (256x128)^T 44.5 / 34.4, 64x120 by
    (256x120)^T 20.8 / 17.3, but 32x128 by (512x128)^T 19.7 / 20.3: from PACK_ROWS rows on
    the transposes pay.
    """

    def block(self, first_col: ir.Value) -> None:
        self.transposed(first_col, i64(self.width), whole=True)

    def left_over(self, first_col: ir.Value) -> None:
        self.transposed(first_col, self.bld.sub(self.f["n"], first_col), whole=False)

    def transposed(self, first_col: ir.Value, count: ir.Value, whole: bool) -> None:
        """`count` columns from first_col on (a whole block, or fewer), panel by panel."""
        bld, f, width = self.bld, self.f, self.width
        scratch = self.panel()
        with loop(bld, parallel.ceil_div(bld, f["k"], i64(PACK_DEPTH)), name="kb",
                  interleave=1) as kb:
            start = bld.mul(kb, i64(PACK_DEPTH))
            depth = _smaller(bld, bld.sub(f["k"], start), i64(PACK_DEPTH))
            self.transpose_into(scratch, first_col, count, start, depth, whole)
            fresh = bld.icmp_signed("==", kb, i64(0))

            def panel_at(col: ir.Value) -> _Panel:
                at = bld.gep(scratch, [bld.sub(col, first_col)], inbounds=True,
                             source_etype=self.scalar)
                return _Panel(at, i64(width), start, depth, fresh, col)
            if whole:
                self.rows(panel_at(first_col), self.tile_vectors)
            else:
                self.by_vectors(first_col, count, panel_at)

    def transpose_into(self, scratch: ir.Value, first_col: ir.Value, count: ir.Value,
                       start: ir.Value, depth: ir.Value, whole: bool) -> None:
        """Panel row l, column j <- b's stored row first_col + j, element start + l (zero
        for j from count on; rows from depth on to the next multiple of lanes are written
        and never read)."""
        bld, f, n = self.bld, self.f, self.lanes
        with loop(bld, parallel.ceil_div(bld, depth, i64(n)), name="square",
                  interleave=1) as square:
            inner = bld.mul(square, i64(n))
            in_depth = lanes.first_lanes(bld, n, bld.sub(depth, inner))
            for group in range(self.tile_vectors):
                columns = []
                for j in range(group * n, (group + 1) * n):
                    row, mask = bld.add(first_col, i64(j)), in_depth
                    if not whole:
                        present = bld.icmp_signed("<", i64(j), count)
                        row = bld.select(present, row, first_col)
                        mask = bld.and_(mask, lanes.splat(bld, present, n))
                    columns.append(self.load(self.at("b", row, f["ldb"], bld.add(start, inner)),
                                             mask))
                for t, line in enumerate(lanes.transpose(bld, columns)):
                    to = bld.gep(scratch, [bld.add(bld.mul(bld.add(inner, i64(t)), i64(self.width)),
                                                   i64(group * n))],
                                 inbounds=True, source_etype=self.scalar)
                    bld.store(line, to, align=64)


class _Slice(NamedTuple):
    """A slice of the inner index, [start, start + length), for a group of columns, whose
    partial sums wait in `partials` between slices (row by row, `stride` vectors a row)."""
    start: ir.Value
    length: ir.Value
    fresh: ir.Value         # i1: the first slice
    last: ir.Value          # i1: the last slice
    partials: ir.Value
    first_col: ir.Value
    stride: ir.Value

    def partial(self, bld: ir.IRBuilder, row: ir.Value, col: ir.Value) -> ir.Value:
        """Where element (row, col) of c keeps its vector of partial sums."""
        at = bld.add(bld.mul(row, self.stride), bld.sub(col, self.first_col))
        return bld.gep(self.partials, [at], inbounds=True)


def _smaller(bld: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return bld.select(bld.icmp_signed("<", x, y), x, y)


def _lane_sums(bld: ir.IRBuilder, vectors: list[ir.Value]) -> list[ir.Value]:
    """The sum of each vector's lanes, all by one tree: lane j plus lane j + half, halves
    halving, so a sum's bits do not depend on the other vectors or their number.

    Each step adds two vectors' lower halves to their upper halves in one vector of both,
    so 16 vectors of 16 lanes take 15 additions (an ordered sum of each: 240 in a chain).
    """
    lanes = vectors[0].type.count
    parts = [[v] for v in vectors]        # per vector: the accumulators it holds, in order
    held = list(vectors)
    width = lanes
    while width > 1:
        half = width // 2
        groups, merged = [], []
        for i in range(0, len(held), 2):
            x = held[i]
            y = held[i + 1] if i + 1 < len(held) else ir.Constant(x.type, None)
            segments = len(parts[i])
            low = [s * width + j for s in range(segments) for j in range(half)]
            low += [lanes + s * width + j for s in range(segments) for j in range(half)]
            high = [i_ + half for i_ in low]
            pick = [bld.shuffle_vector(x, y, ir.Constant(ir.VectorType(_I32, lanes), p))
                    for p in (low, high)]
            merged.append(bld.fadd(*pick))
            groups.append(parts[i] + (parts[i + 1] if i + 1 < len(held) else [None] * segments))
        held, parts, width = merged, groups, half
    sums = {}
    for vector, accumulators in zip(held, parts):
        for lane, accumulator in enumerate(accumulators):
            if accumulator is not None:
                sums[id(accumulator)] = bld.extract_element(vector, _I32(lane))
    return [sums[id(v)] for v in vectors]


def _row_steps(rows: int) -> list[int]:
    """Tile heights down a column block: `rows` while they fit, then powers of two below."""
    return [rows] + [1 << i for i in reversed(range(rows.bit_length())) if 1 << i < rows]


def _splat(bld: ir.IRBuilder, x: ir.Value, vector: ir.VectorType) -> ir.Value:
    """x in every lane."""
    lanes = bld.insert_element(ir.Constant(vector, None), x, _I32(0))
    return bld.shuffle_vector(lanes, ir.Constant(vector, None),
                              ir.Constant(ir.VectorType(_I32, vector.count), None))
