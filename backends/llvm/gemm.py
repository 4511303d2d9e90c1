"""A generated GEMM for the float products BLAS does badly: few rows, or a short inner size.

BLAS packs the whole of b before it multiplies, which for such products costs more than the
arithmetic, and the scipy OpenBLAS this machine type gets runs Haswell's 256-bit kernels
where the host has 512-bit vectors. This kernel goes tile by tile: a tile of the result,
tile_rows() rows of TILE_VECTORS vectors, is accumulated in registers while the inner index
runs, and a column of tiles reads the same block of b, which stays in cache; the columns left
over go by single vectors, the last one masked. Every element of the result is one chain of
fused multiply-adds over the inner index, in order: its bits do not depend on where it lies.

The code is a function, `columns(record, lo, hi, ...)`, which computes the column blocks
[lo, hi) of the product the record describes (one per module, dtype and tile shape). A big
product (parallel.py's min_work, counted like BLAS products in blas.MACS_PER_UNIT
multiply-adds) is cut into pieces of column blocks that the thread team shares; the pieces
depend on the sizes only.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from backends.llvm import blas, parallel
from backends.llvm.irutil import entry_alloca, i64, ir_type, loop
from backends.llvm.target import register_bits
from backends.llvm.vmath.fir import declare, type_suffix

TILE_VECTORS = 4


def tile_rows() -> int:
    """Rows in a tile: 4 (16 accumulators) with AVX-512's 32 vector registers, else 2 (8)."""
    return 4 if register_bits() == 512 else 2


def row_vectors() -> int:
    """Vectors in a tile of a one-row product (a vector times a matrix): 16 accumulators with
    AVX-512's 32 registers, else 8; four would leave the FMA units waiting on each other."""
    return 16 if register_bits() == 512 else 8


_I32, _PTR = ir.IntType(32), ir.PointerType()
_I64 = ir.IntType(64)
# the record a product hands its column function: pointers to c, a, b, then sizes and strides
FIELDS = ("c", "a", "b", "m", "n", "k", "ldc", "lda", "a_step", "ldb")
RECORD = ir.LiteralStructType([_PTR] * 3 + [_I64] * 7)


def emit_product(builder: ir.IRBuilder, dtype, one_row: bool = False,
                 **operands: ir.Value) -> None:
    """Emit c = a @ b: c (m × n) and b (k × n) rows of contiguous elements ldc and ldb apart,
    a's element (i, l) at a + i·lda + l·a_step (pointers and i64 sizes, by FIELDS). With
    `one_row` (the caller knows m is 1) tiles are one row of row_vectors() vectors."""
    record = entry_alloca(builder, RECORD)
    for i, name in enumerate(FIELDS):
        builder.store(operands[name], builder.gep(record, [_I32(0), _I32(i)], inbounds=True))
    tile = (1, row_vectors()) if one_row else (tile_rows(), TILE_VECTORS)
    columns = _columns_function(builder.module, dtype, tile)
    width = i64(_lanes(dtype) * tile[1])
    blocks = parallel.ceil_div(builder, operands["n"], width)
    args, null = [record], ir.Constant(_PTR, None)
    sizes = [operands[d] for d in "mnk"]
    if all(isinstance(d, ir.Constant) for d in sizes) and (
            int(np.prod([d.constant for d in sizes], dtype=object))
            < parallel.MIN_WORK * blas.MACS_PER_UNIT):       # never big enough for the team
        builder.call(columns, args + [i64(0), blocks, i64(0), null])
        return
    macs = builder.mul(builder.mul(operands["m"], operands["n"]), operands["k"])
    work = builder.udiv(macs, i64(blas.MACS_PER_UNIT))
    with builder.if_else(builder.icmp_signed(">=", work, parallel.min_work(builder)),
                         likely=False) as (big, small):
        with big:
            item_work = builder.udiv(builder.mul(builder.mul(operands["m"], width),
                                                 operands["k"]), i64(blas.MACS_PER_UNIT))
            chunk = parallel.ceil_div(builder, blocks, i64(blas.SPLIT_PIECES))
            parallel.run_pieces(builder, lambda ty: entry_alloca(builder, ty), columns, args,
                                blocks, item_work, chunk)
        with small:
            builder.call(columns, args + [i64(0), blocks, i64(0), null])


def _lanes(dtype) -> int:
    """Elements of dtype in one of the host's widest vectors."""
    return register_bits() // (np.dtype(dtype).itemsize * 8)


def _columns_function(module: ir.Module, dtype, tile: tuple[int, int]) -> ir.Function:
    """i32 columns(record, lo, hi, index, scratch): the product's column blocks [lo, hi),
    in tiles of (rows, vectors); one per module, dtype and tile.

    NOTE: sizes known when the code is generated are not made constants in it: measured, that
    made no product faster and compiling W3's step 40% slower.
    """
    name = f"graphc.gemm.{np.dtype(dtype).name}.columns{tile[0]}x{tile[1]}"
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    fn = ir.Function(module, ir.FunctionType(_I32, [_PTR, *parallel.CHUNK_ARGS]), name=name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    record, lo, hi = fn.args[:3]
    entry = ir.IRBuilder(fn.append_basic_block("entry"))
    body = fn.append_basic_block("body")
    bld = ir.IRBuilder(body)
    fields = {f: bld.load(bld.gep(record, [_I32(0), _I32(i)], inbounds=True,
                                  source_etype=RECORD), typ=RECORD.elements[i])
              for i, f in enumerate(FIELDS)}
    _Columns(bld, entry, dtype, fields, tile).emit(lo, hi)
    bld.ret(_I32(0))
    entry.branch(body)
    return fn


class _Columns:
    """The tile code over one product's column blocks."""

    def __init__(self, bld: ir.IRBuilder, entry: ir.IRBuilder, dtype, fields: dict,
                 tile: tuple[int, int]):
        self.bld, self.entry, self.f = bld, entry, fields
        self.tile_rows, self.tile_vectors = tile
        self.scalar, self.size = ir_type(np.dtype(dtype).name), np.dtype(dtype).itemsize
        self.lanes = register_bits() // (self.size * 8)
        self.vector = ir.VectorType(self.scalar, self.lanes)
        self.width = self.lanes * self.tile_vectors
        module = bld.module
        self.fma = {t: declare(module, f"llvm.fma.{type_suffix(t)}", ir.FunctionType(t, [t] * 3))
                    for t in (self.scalar, self.vector)}

    def emit(self, lo: ir.Value, hi: ir.Value) -> None:
        bld, f = self.bld, self.f
        with loop(bld, hi, start=lo, name="block", plain=True) as block:
            first = bld.mul(block, i64(self.width))
            full = bld.icmp_signed("<=", bld.add(first, i64(self.width)), f["n"])
            with bld.if_else(full) as (tiles, left_over):
                with tiles:
                    self.rows(first, self.tile_vectors)
                with left_over:
                    self.left_over(first)

    def left_over(self, first_col: ir.Value) -> None:
        """The columns from first_col on (fewer than a block): tiles of 2^i vectors by the
        binary digits of how many whole vectors are left, then one masked vector."""
        bld, lanes = self.bld, self.lanes
        count = bld.sub(self.f["n"], first_col)
        vectors = bld.sdiv(count, i64(lanes))
        start, width = first_col, self.tile_vectors // 2
        while width:
            present = bld.icmp_signed("!=", bld.and_(vectors, i64(width)), i64(0))
            with bld.if_then(present):
                self.rows(start, width)
            start = bld.select(present, bld.add(start, i64(width * lanes)), start)
            width //= 2
        rest = bld.sub(count, bld.mul(vectors, i64(lanes)))
        with bld.if_then(bld.icmp_signed(">", rest, i64(0))):
            lane = ir.Constant(ir.VectorType(_I64, lanes), list(range(lanes)))
            mask = bld.icmp_unsigned("<", lane, _splat(bld, rest, lane.type))
            self.rows(start, 1, mask)

    def rows(self, first_col: ir.Value, vectors: int, mask: ir.Value | None = None) -> None:
        """The tiles of a column block `vectors` wide: rows by the tile's rows, the rest by
        halves."""
        bld, start, rows = self.bld, i64(0), self.tile_rows
        while rows:
            count = bld.sdiv(bld.sub(self.f["m"], start), i64(rows))
            with loop(bld, count, name=f"rows{rows}", plain=True) as p:
                self.tile(bld.add(start, bld.mul(p, i64(rows))), rows, first_col, vectors, mask)
            start, rows = bld.add(start, bld.mul(count, i64(rows))), rows // 2

    def at(self, name: str, row: ir.Value, ld: ir.Value, col: ir.Value) -> ir.Value:
        bld = self.bld
        return bld.gep(self.f[name], [bld.add(bld.mul(row, ld), col)], inbounds=True,
                       source_etype=self.scalar)

    def a_at(self, row: ir.Value, l_: ir.Value) -> ir.Value:
        f = self.f
        return self.bld.load(self.at("a", row, f["lda"], self.bld.mul(l_, f["a_step"])),
                             typ=self.scalar)

    def tile(self, first_row: ir.Value, rows: int, first_col: ir.Value, vectors: int,
             mask: ir.Value | None) -> None:
        """rows × vectors vectors of c from their accumulators (lanes outside a mask are
        neither read nor written)."""
        bld, f, vector = self.bld, self.f, self.vector
        slots = [[self.entry.alloca(vector) for _ in range(vectors)] for _ in range(rows)]
        for row in slots:
            for slot in row:
                bld.store(ir.Constant(vector, None), slot)
        with loop(bld, f["k"], name="l", plain=True) as l_:
            bs = [self.load(self.at("b", l_, f["ldb"], bld.add(first_col, i64(v * self.lanes))),
                            mask) for v in range(vectors)]
            for r, row in enumerate(slots):
                x = _splat(bld, self.a_at(bld.add(first_row, i64(r)), l_), vector)
                for slot, y in zip(row, bs):
                    bld.store(bld.call(self.fma[vector], [x, y, bld.load(slot, typ=vector)]),
                              slot)
        for r, row in enumerate(slots):
            for v, slot in enumerate(row):
                target = self.at("c", bld.add(first_row, i64(r)), f["ldc"],
                                 bld.add(first_col, i64(v * self.lanes)))
                self.store(bld.load(slot, typ=vector), target, mask)

    def load(self, pointer: ir.Value, mask: ir.Value | None) -> ir.Value:
        bld, vector = self.bld, self.vector
        if mask is None:
            return bld.load(pointer, typ=vector, align=self.size)
        fn = declare(bld.module, f"llvm.masked.load.{type_suffix(vector)}.p0",
                     ir.FunctionType(vector, [_PTR, _I32, mask.type, vector]))
        return bld.call(fn, [pointer, _I32(self.size), mask, ir.Constant(vector, None)])

    def store(self, value: ir.Value, pointer: ir.Value, mask: ir.Value | None) -> None:
        bld = self.bld
        if mask is None:
            bld.store(value, pointer, align=self.size)
            return
        fn = declare(bld.module, f"llvm.masked.store.{type_suffix(value.type)}.p0",
                     ir.FunctionType(ir.VoidType(), [value.type, _PTR, _I32, mask.type]))
        bld.call(fn, [value, pointer, _I32(self.size), mask])


def _splat(bld: ir.IRBuilder, x: ir.Value, vector: ir.VectorType) -> ir.Value:
    """x in every lane."""
    lanes = bld.insert_element(ir.Constant(vector, None), x, _I32(0))
    return bld.shuffle_vector(lanes, ir.Constant(vector, None),
                              ir.Constant(ir.VectorType(_I32, vector.count), None))
