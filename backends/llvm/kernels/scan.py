"""Native scan: a loop calling the body, itself lowered (like a whole graph) into the module.

The body graph, extended with the per-step values the gradient reads (residuals) as extra
outputs, optimized and fused, becomes an entry function of its own with the same calling
convention as the graph's. (The fusion pass leaves a body whose residuals the gradient reads
by position alone; here they are outputs, so fusing cannot lose them: an LSTM step's gate
math becomes one loop instead of ten kernels.) Each step the scan kernel fills the body's
pointer tables: the carries (two buffers per carry, swapped each step), x_t (a slice of each
sequence), the closed-over inputs; and as outputs the next carries and the step's slots of
the stacked results. A carry whose entering values the graph reads stacked (its history)
lives in that history instead: the body reads step t's slot and writes the next one (the
last step, the second buffer), so nothing is copied per step. The final carries are copied
out after the loop. A failing step stops the loop with an error.

When the body is row-separable along the batch (graphc/rows.py: an LSTM step is), the loop
runs on pieces of the batch, each piece through all the steps with its own part of the arena
and the batch dim set to its rows, on the thread team when the work is big. The threads then
meet once per scan, not once or twice per step (in W7's LSTM, the step's gate math ran on one
thread below the team's threshold, and each step's product paid a team start).

A closed-over matrix the body reads only as a product's transposed b (dz @ W_hh.T, in an
LSTM's backward step) is transposed once before the loop; the steps' products read its rows.
"""
from __future__ import annotations

from functools import partial

from llvmlite import ir

from backends.llvm import parallel, pieces
from backends.llvm.access import Access
from backends.llvm.irutil import I1, I32, I64, PTR, SIZES, i64, loop
from backends.llvm.kernels import Failure, register
from backends.llvm.kernels.base import Kernel
from backends.llvm.transposed import read_transposed, transpose_once, with_transposed_inputs
from graphc import dims as D
from graphc import rows
from graphc.errors import IndexRangeError
from graphc.ops.scan import residual_base, step_nodes
from graphc.rows import ROWS
from graphc.tensor import Tensor


def _parts(node: Tensor) -> tuple[int, int, int]:
    k, s = node.attrs["num_carry"], node.attrs["num_xs"]
    return k, s, len(node.attrs["body"].outputs) - k


def _scratch(plan, node: Tensor, ins: list[Access], results: dict) -> dict:
    """The optimized body's plan, carry buffers, the body's arena and slots for unread ys."""
    from backends.llvm.lower import Plan
    from graphc.compile import BACKEND_PASSES
    from graphc.passes import optimize
    body = node.attrs["body"]
    k, s, ny = _parts(node)
    base = residual_base(node)
    positions = sorted(i - base for i in results if i >= base)
    nodes = step_nodes(body) if positions else []
    transposed = read_transposed(body, range(k + s, len(body.inputs)))
    extended = with_transposed_inputs(
        body, list(body.outputs) + [nodes[p] for p in positions], transposed)
    # (no row groups: the loop runs on pieces of the batch itself)
    passes = [p for p in BACKEND_PASSES["llvm"] if p != "row_groups"]
    optimized, _ = optimize(optimize(extended)[0], passes)
    body_plan = Plan(optimized)
    carries = [(plan.scratch(c.dtype, c.shape), plan.scratch(c.dtype, c.shape))
               for c in body.inputs[:k]]
    sinks = {k + m: plan.scratch(y.dtype, y.shape)
             for m, y in enumerate(body.outputs[k:]) if k + m not in results}
    symbol, classes = pieces.row_classes(body_plan, range(k + s))
    piece_arena = pieces.piece_arena(body_plan, symbol)
    arena = piece_arena if classes is None else D.mul(pieces.MAX_PIECES, piece_arena)
    flipped = {j: plan.scratch(ins[j].dtype, ins[j].shape[::-1]) for j in transposed}
    return {"plan": body_plan, "carries": carries, "sinks": sinks, "positions": positions,
            "symbol": symbol, "rows": classes, "transposed": flipped, "piece_arena": piece_arena,
            "arena": plan.scratch("bool", (arena,))}


def _read_in_steps(node: Tensor) -> list[int]:
    """The operands the kernel reads whole: carries (copied in), and the sequences and
    closed-over inputs the body reads (a backward scan is handed forward sequences it may
    not read: no contiguous copy of those)."""
    body, k = node.attrs["body"], node.attrs["num_carry"]
    read = {id(i) for n in body.nodes for i in n.inputs} | {id(t) for t in body.outputs}
    return [i for i, p in enumerate(body.inputs) if i < k or id(p) in read]


@register("scan", contiguous=_read_in_steps, scratch=_scratch,
          messages={1: Failure(IndexRangeError,
                               "an op inside the scan's body failed (an index out of range)")})
def scan(low, node: Tensor, out: dict, ins: list[Access]) -> Kernel:
    sc = low.step.scratch
    k = node.attrs["num_carry"]
    body = node.attrs["body"]
    carry_slots = [a for pair in sc["carries"] for a in pair]
    accesses = (list(ins) + list(out.values()) + carry_slots + list(sc["sinks"].values())
                + list(sc["transposed"].values()) + [sc["arena"]])
    kern = Kernel(low.module, low.name(node), accesses, low.env)
    steps = _steps(low, node, out, ins, accesses)
    b = kern.b
    transpose_once(kern, sc["transposed"], ins)
    start, nbytes = partial(_start, kern), partial(_nbytes, kern)
    length = kern.dims(ins[k].shape[0])
    reverse = node.attrs["reverse"]
    histories = _histories(node, out)
    for j, (first, _) in enumerate(sc["carries"]):
        size = nbytes(body.inputs[j])
        if j not in histories:
            _memcpy(b, start(first), start(ins[j]), size)
            continue
        # (no steps: the final carry is read from the first buffer)
        target = b.select(b.icmp_signed(">", length, i64(0)),
                          _stacked_at(b, start(histories[j]), size, length, i64(0), reverse),
                          start(first))
        _memcpy(b, target, start(ins[j]), size)
    args = list(kern.function.args)
    if sc["rows"] is None:
        status = b.call(steps, args + [i64(0), i64(0), i64(0), ir.Constant(PTR, None)])
    else:
        row_work = b.mul(length, i64(rows.row_work(sc["plan"].graph.nodes)))
        status = pieces.run(kern, steps, kern.dims(body.inputs[0].shape[0]), row_work)
    parallel.check(kern, status)
    for j, (a, c) in enumerate(sc["carries"]):
        if j in out:                     # with a history the last step wrote the second buffer
            ends_in_second = b.icmp_signed(">", length, i64(0)) if j in histories \
                else b.trunc(length, I1)
            cur = b.select(ends_in_second, start(c), start(a))
            _memcpy(b, start(out[j]), cur, nbytes(body.inputs[j]))
    return kern


def _start(kern: Kernel, a: Access) -> ir.Value:
    """The address of a's first element."""
    return kern.address(a, kern.dims(a.offset))


def _nbytes(kern: Kernel, t: Tensor) -> ir.Value:
    return kern.b.mul(kern.size(t.shape), i64(SIZES[t.dtype]))


def _histories(node: Tensor, out: dict) -> dict[int, Access]:
    """The carries whose entering values the graph reads stacked: each lives in its history."""
    k, _, ny = _parts(node)
    return {j: out[k + ny + j] for j in range(k) if k + ny + j in out}


def _steps(low, node: Tensor, out: dict, ins: list[Access], accesses: list[Access]) -> ir.Function:
    """i32 rows(kernel's arguments, lo, hi, piece, scratch): the loop over the steps for rows
    [lo, hi) of the batch (all of it when the body is not row-separable), in the piece's own
    part of the arena."""
    from backends.llvm.lower import Lowering
    sc = low.step.scratch
    k, s, ny = _parts(node)
    body_plan, classes = sc["plan"], sc["rows"]
    body_fn = Lowering(body_plan, low.module, low.name(node) + ".").entry(low.name(node) + ".body")
    kern = Kernel(low.module, low.name(node) + ".rows", accesses, low.env,
                  extra=parallel.CHUNK_ARGS)
    b = kern.b
    body = node.attrs["body"]
    graph = body_plan.graph
    n_in, n_out = len(graph.inputs), len(graph.outputs)
    in_table = kern.alloca(ir.ArrayType(PTR, max(n_in, 1)))
    out_table = kern.alloca(ir.ArrayType(PTR, max(n_out, 1)))
    batch = body.inputs[0].shape[0] if classes is not None else 0
    piece = pieces.Piece(kern, body_plan, sc["symbol"], batch, _start(kern, sc["arena"]),
                         sc["piece_arena"])
    own_rows = piece.own_rows
    start, nbytes = partial(_start, kern), partial(_nbytes, kern)
    length = kern.dims(ins[k].shape[0])
    reverse = node.attrs["reverse"]

    def stacked_at(history: Access, size: ir.Value, t: ir.Value) -> ir.Value:
        return _stacked_at(b, start(history), size, length, t, reverse)

    for p, a in enumerate(ins[k + s:], k + s):      # closed over: rows of the batch, or not
        pointer = start(sc["transposed"].get(p, a))
        if classes is not None and classes[p] == ROWS:
            pointer = own_rows(pointer, graph.inputs[p])
        b.store(pointer, _slot(b, in_table, p, PTR))
    histories = _histories(node, out)
    with loop(b, length, name="step") as t:
        step = b.sub(b.sub(length, i64(1)), t) if reverse else t
        odd_step = b.trunc(t, I1)        # the two buffers of a carry swap roles each step
        last = b.icmp_signed("==", t, b.sub(length, i64(1)))
        for j, (a, c) in enumerate(sc["carries"]):
            if j in histories:           # the carry entering each step is its history slot
                size = nbytes(body.inputs[j])
                current = stacked_at(histories[j], size, t)
                following = b.select(last, start(c), stacked_at(histories[j], size,
                                                                 b.add(t, i64(1))))
            else:
                current = b.select(odd_step, start(c), start(a))
                following = b.select(odd_step, start(a), start(c))
            b.store(own_rows(current, graph.inputs[j]), _slot(b, in_table, j, PTR))
            b.store(own_rows(following, graph.outputs[j]), _slot(b, out_table, j, PTR))
        for i in range(s):
            x_t = body.inputs[k + i]
            slot = b.gep(start(ins[k + i]), [b.mul(step, nbytes(x_t))],
                         source_etype=ir.IntType(8))
            b.store(own_rows(slot, graph.inputs[k + i]), _slot(b, in_table, k + i, PTR))
        stacked = [(k + m, y) for m, y in enumerate(body.outputs[k:])]
        residual = residual_base(node)
        stacked += [(residual + p, graph.outputs[k + ny + r])
                    for r, p in enumerate(sc["positions"])]
        for slot_index, (index, y) in enumerate(stacked, k):
            if index in out:
                target = b.gep(start(out[index]), [b.mul(step, nbytes(y))],
                               source_etype=ir.IntType(8))
            else:
                target = start(sc["sinks"][index])
            b.store(own_rows(target, graph.outputs[slot_index]),
                    _slot(b, out_table, slot_index, PTR))
        status = b.call(body_fn, [in_table, ir.Constant(PTR, None), out_table, piece.arena,
                                  piece.dims, kern.context])
        kern.fail_if(b.icmp_unsigned("!=", status, ir.Constant(I32, 0)), 1)
    return kern.finish()


def _stacked_at(b: ir.IRBuilder, history: ir.Value, size: ir.Value, length: ir.Value,
                t: ir.Value, reverse: bool) -> ir.Value:
    """The slot of loop iteration t in a stacked history (step order, reversed or not)."""
    step = b.sub(b.sub(length, i64(1)), t) if reverse else t
    return b.gep(history, [b.mul(step, size)], source_etype=ir.IntType(8))


def _slot(b: ir.IRBuilder, table: ir.Value, index: int, ty: ir.Type) -> ir.Value:
    """Element `index` of a stack array made by Kernel.alloca."""
    return b.gep(table, [i64(0), i64(index)], inbounds=True)


def _memcpy(b: ir.IRBuilder, dst: ir.Value, src: ir.Value, nbytes: ir.Value) -> None:
    module = b.module
    name = "llvm.memcpy.p0.p0.i64"
    fn = module.globals.get(name) or ir.Function(
        module, ir.FunctionType(ir.VoidType(), [PTR, PTR, I64, I1]), name=name)
    b.call(fn, [dst, src, nbytes, ir.Constant(I1, 0)])

