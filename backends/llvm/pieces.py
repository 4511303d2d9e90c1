"""Pieces of a batch: a nested plan (a scan's body, a row group's) run on rows [lo, hi) of it.

When the body is row-separable along the batch (graphc/rows.py), the kernel that calls it cuts
the batch into pieces and runs each through the body with the batch dim set to the piece's
rows, its rows-class inputs and its results offset to the piece's first row, and its own part
of the arena (sized for the piece's rows). The pieces follow the batch size alone, so a
piece's products have the same rows (and bits) whoever runs it and however many threads
there are; the team takes them when the work is big.
"""
from __future__ import annotations

from llvmlite import ir

from backends.llvm import parallel
from backends.llvm.irutil import I8, I64, PTR, SIZES, i64
from graphc import dims as D
from graphc import rows
from graphc.dims import Dim
from graphc.tensor import Tensor

# NOTE: 16 rows still fill a product's register tiles. A piece has at most
# ceil(N / MAX_PIECES) rows, or fewer than 2 * MIN_PIECE_ROWS (fewer pieces for small N).
MAX_PIECES = 4
MIN_PIECE_ROWS = 16


def row_classes(body_plan, batch_inputs) -> tuple[str | None, list[str] | None]:
    """The batch's symbol and each body input's class (ROWS or FREE) when the given inputs
    share a batch the body keeps apart; else (None, None): the body runs on the whole batch."""
    graph, env = body_plan.graph, body_plan.env
    symbol = rows.batch_symbol(graph, batch_inputs, env)
    if symbol is None or symbol not in env.signature:
        return None, None
    classes = rows.separable(graph, symbol, env)
    return (symbol, classes) if classes is not None else (None, None)


def piece_arena(body_plan, symbol: str | None) -> Dim:
    """The bytes of arena one piece needs: the body's, for a piece's most rows.

    NOTE: MAX_PIECES of them hold the whole batch's too: a row-separable body mentions the
    batch only as its values' leading dim, so its arena grows linearly with the rows."""
    if symbol is None:
        return body_plan.arena_size
    most_rows = D.add(D.floordiv(D.add(symbol, MAX_PIECES - 1), MAX_PIECES),
                      2 * MIN_PIECE_ROWS - 1)
    return D.substitute(body_plan.arena_size, lambda d: most_rows if d == symbol else d)


def run(kern, chunk_fn: ir.Function, batch: ir.Value, row_work: ir.Value,
        cut: ir.Value | None = None) -> ir.Value:
    """Run chunk_fn(kernel's arguments, lo, hi, piece, scratch) on the pieces of a batch of
    `batch` rows, on the team when `row_work` (per row, parallel.py's units) makes the work
    big; the status. At most MAX_PIECES pieces of at least MIN_PIECE_ROWS rows; one (the
    whole batch, in the first piece's arena) where `cut` (i1, a function of sizes only) is
    false."""
    b = kern.b
    pieces = b.sdiv(batch, i64(MIN_PIECE_ROWS))
    pieces = b.select(b.icmp_signed(">", pieces, i64(MAX_PIECES)), i64(MAX_PIECES), pieces)
    pieces = parallel.larger(b, pieces, i64(1))
    if cut is not None:
        pieces = b.select(cut, pieces, i64(1))
    per_piece = parallel.ceil_div(b, batch, pieces)
    args = list(kern.function.args)
    # (no rows: one piece of none still runs the body, as the whole batch would)
    extent = parallel.larger(b, batch, i64(1))
    # NOTE: one piece is called directly: offered to the team it would leave the other
    # threads idle, and the offer costs a W1 step 3%
    with b.if_else(b.icmp_signed(">", pieces, i64(1))) as (several, one):
        with several:
            shared = parallel.run_pieces(b, kern.alloca, chunk_fn, args, extent, row_work,
                                         per_piece)
            after_several = b.block
        with one:
            alone = b.call(chunk_fn, args + [i64(0), extent, i64(0), ir.Constant(PTR, None)])
            after_one = b.block
    status = b.phi(shared.type)
    status.add_incoming(shared, after_several)
    status.add_incoming(alone, after_one)
    return status


class Piece:
    """Inside a chunk function: the piece's rows, its dims table and arena for the body, and
    its rows of a batch-leading buffer. With no symbol, the whole batch and arena."""

    def __init__(self, kern, body_plan, symbol: str | None, batch: Dim, arena: ir.Value,
                 arena_bytes: Dim):
        b = self.b = kern.b
        self.kern, self.symbol = kern, symbol
        lo, hi, piece, _ = kern.extra
        self.lo = lo
        signature = body_plan.env.signature
        self.dims = kern.alloca(ir.ArrayType(I64, max(len(signature), 1)))
        self.arena = arena
        rows_ = None
        if symbol is not None:
            whole = kern.dims(batch)
            rows_ = b.sub(b.select(b.icmp_signed("<", hi, whole), hi, whole), lo)
            self.arena = b.gep(arena, [b.mul(piece, kern.dims(arena_bytes))], source_etype=I8)
        for j, sym in enumerate(signature):
            value = rows_ if sym == symbol else kern.dims(sym)
            b.store(value, b.gep(self.dims, [i64(0), i64(j)], inbounds=True))

    def own_rows(self, pointer: ir.Value, t: Tensor) -> ir.Value:
        """pointer (to a contiguous array shaped like t, leading with the batch) moved to the
        piece's first row; unmoved with no symbol."""
        if self.symbol is None:
            return pointer
        row = self.b.mul(self.kern.size(t.shape[1:]), i64(SIZES[t.dtype]))
        return self.b.gep(pointer, [self.b.mul(self.lo, row)], source_etype=I8)
