"""Native row groups: a fused "rows" node's body run on pieces of the batch.

The body (graphc/passes/row_groups.py: a region of nodes that keep the batch's rows apart, an
unrolled LSTM's forward steps, say) becomes an entry function of its own, like a scan's body.
One kernel calls it per piece of the batch (backends/llvm/pieces.py) with its operands and
results moved to the piece's first row, the batch dim set to the piece's rows and the piece's
own part of the arena, on the thread team when the work is big: the threads meet once for
the region, not at each of its kernels, and each keeps the rows it wrote. A weight the body
reads only as a product's transposed b is transposed once first (backends/llvm/
transposed.py).
"""
from __future__ import annotations

from llvmlite import ir

from backends.llvm import parallel, pieces
from backends.llvm.access import Access, is_contiguous
from backends.llvm.irutil import I32, PTR, i64, unoptimized
from backends.llvm.kernels import MESSAGES, Where
from backends.llvm.kernels.base import Kernel
from backends.llvm.kernels.contraction import TOO_LARGE
from backends.llvm.kernels.reduce import OUT_OF_MEMORY, REDUCE_MESSAGES
from backends.llvm.transposed import read_transposed, transpose_once, with_transposed_inputs
from graphc import dims as D
from graphc import rows
from graphc.errors import CompileError
from graphc.graph import Graph
from graphc.rows import ROWS
from graphc.tensor import Tensor

# the most work per kernel (on average, parallel.py's units) with which a region runs on
# pieces, not whole with each kernel on the team
KERNEL_WORK = 2 * parallel.MIN_WORK
# NOTE: the statuses a group's body can return (graphc/passes/row_groups.py keeps out the ops
# failing on what they read); the group reports the failing kernel's code as its own.
MESSAGES["fused"] = {1: TOO_LARGE[1], OUT_OF_MEMORY: REDUCE_MESSAGES[OUT_OF_MEMORY]}


def expand(plan, node: Tensor, ins: list[Access], results: dict, where: Where) -> None:
    """Add the group's one step: operands copied contiguous where they are not, a slot for
    each result the graph does not read, the body's plan and the pieces' arena."""
    from backends.llvm.lower import Plan
    body = node.attrs["body"]
    weights = [j for j, p in enumerate(body.inputs) if all(isinstance(d, int) for d in p.shape)]
    transposed = read_transposed(body, weights)
    body_plan = Plan(with_transposed_inputs(body, list(body.outputs), transposed))
    ins = [a if is_contiguous(a, plan.env) else plan.contiguous(a, f"rows.in{k}")
           for k, a in enumerate(ins)]
    flipped = {j: plan.scratch(ins[j].dtype, ins[j].shape[::-1]) for j in transposed}
    outs = [results[k] if k in results else plan.scratch(t.dtype, t.shape)
            for k, t in enumerate(body.outputs)]
    for k, a in enumerate(outs):
        if not is_contiguous(a, plan.env):
            raise CompileError(f"internal error: result {k} of a row group is placed in a "
                               "strided window")
    symbol, classes = pieces.row_classes(body_plan, _batch_inputs(body, plan.env))
    piece_arena = pieces.piece_arena(body_plan, symbol)
    arena = piece_arena if classes is None else D.mul(pieces.MAX_PIECES, piece_arena)
    scratch = {"plan": body_plan, "symbol": symbol, "rows": classes, "outs": outs,
               "transposed": flipped, "piece_arena": piece_arena,
               "arena": plan.scratch("bool", (arena,))}
    plan.add_step("rows", node, outs[0],
                  ins + outs[1:] + list(flipped.values()) + [scratch["arena"]], _emit, where,
                  scratch)


def _batch_inputs(body: Graph, env) -> list[int]:
    """The body inputs leading with the symbol its results lead with (the batch)."""
    symbol = env.resolve(body.outputs[0].shape[0]) if body.outputs[0].ndim else None
    return [i for i, p in enumerate(body.inputs)
            if p.ndim and env.resolve(p.shape[0]) == symbol] or [0]


def _emit(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    sc = low.step.scratch
    accesses = [*ins, out]
    kern = Kernel(low.module, low.name(node), accesses, low.env)
    rows_fn = _rows_function(low, node, accesses)
    b = kern.b
    transpose_once(kern, sc["transposed"], low.step.ins)
    args = list(kern.function.args)
    if sc["rows"] is None:
        status = b.call(rows_fn, args + [i64(0), i64(0), i64(0), ir.Constant(PTR, None)])
    else:
        body_plan = sc["plan"]
        batch = kern.dims(body_plan.graph.inputs[_first_rows(sc["rows"])].shape[0])
        row_work = rows.row_work(body_plan.graph.nodes)
        # NOTE: kernels that each make work for the team (W2's products, 128 rows of 784 x
        # 256) share it better whole: pieces would each read all of the weights, in GEMMs of
        # fewer rows. Pieces pay where the kernels are small (W7's steps: 4096-element gate
        # math around a 32 x 128 x 512 product, 100 kernels a region).
        whole_batch_work = b.mul(batch, i64(row_work))
        cut = b.icmp_signed("<", whole_batch_work,
                            i64(KERNEL_WORK * max(len(body_plan.steps), 1)))
        status = pieces.run(kern, rows_fn, batch, i64(row_work), cut)
    parallel.check(kern, status)
    unoptimized(kern.function)
    return kern


def _first_rows(classes: list[str]) -> int:
    return classes.index(ROWS)


def _rows_function(low, node: Tensor, accesses: list[Access]) -> ir.Function:
    """i32 rows(kernel's arguments, lo, hi, piece, scratch): the body on rows [lo, hi) of the
    batch (all of it when it is not row-separable) in the piece's part of the arena; the
    failing kernel's code."""
    from backends.llvm.lower import Lowering
    sc = low.step.scratch
    body_plan, classes = sc["plan"], sc["rows"]
    graph = body_plan.graph
    # NOTE: glue, run once per piece: LLVM's time on it (W2's cold compile: +15 ms) buys
    # nothing; the kernels it calls are optimized as ever
    body_fn = unoptimized(Lowering(body_plan, low.module, low.name(node) + ".")
                          .entry(low.name(node) + ".body"))
    kern = Kernel(low.module, low.name(node) + ".rows", accesses, low.env,
                  extra=parallel.CHUNK_ARGS)
    b = kern.b
    batch = graph.inputs[_first_rows(classes)].shape[0] if classes is not None else 0
    arena = sc["arena"]
    piece = pieces.Piece(kern, body_plan, sc["symbol"], batch,
                         kern.address(arena, kern.dims(arena.offset)), sc["piece_arena"])
    n_in = len(graph.inputs)
    in_table = kern.alloca(ir.ArrayType(PTR, max(n_in, 1)))
    out_table = kern.alloca(ir.ArrayType(PTR, max(len(graph.outputs), 1)))
    operands = low.step.ins[:n_in]
    for j, (a, p) in enumerate(zip(operands, graph.inputs)):
        a = sc["transposed"].get(j, a)
        pointer = kern.address(a, kern.dims(a.offset))
        if classes is not None and classes[j] == ROWS:
            pointer = piece.own_rows(pointer, p)
        b.store(pointer, b.gep(in_table, [i64(0), i64(j)], inbounds=True))
    for k, (a, t) in enumerate(zip(sc["outs"], graph.outputs)):
        pointer = piece.own_rows(kern.address(a, kern.dims(a.offset)), t)
        b.store(pointer, b.gep(out_table, [i64(0), i64(k)], inbounds=True))
    status = b.call(body_fn, [in_table, ir.Constant(PTR, None), out_table, piece.arena,
                              piece.dims, kern.context])
    failed = b.icmp_unsigned("!=", status, ir.Constant(I32, 0))
    with b.if_then(failed, likely=False):
        b.ret(b.urem(status, ir.Constant(I32, 256)))
    return unoptimized(kern.finish())
