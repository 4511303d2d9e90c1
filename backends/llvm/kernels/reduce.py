"""Native kernels for reductions: sum, prod, max, min, argmax, argmin, shape_size.

The input is walked in memory order. When its innermost axis is reduced, each run of it is
folded into a register accumulator (float32 sums accumulate in float64; the adds may be
reassociated, so LLVM vectorizes them); when it is kept, the output row is updated elementwise
(`out[j] += x[i, j]`), which vectorizes as is. max and min propagate NaN as NumPy does. Big
reductions share their outermost axis with the thread team, with the same result for any
number of threads (see reduce_expression).
"""
from __future__ import annotations

from llvmlite import ir

from backends.llvm import parallel
from backends.llvm.access import Access, Buffer, broadcast
from backends.llvm.irutil import F64, I64, PTR, SIZES, const, i64, ir_type, is_float, loop
from backends.llvm.kernels import Failure, register
from backends.llvm.kernels.base import Kernel
from backends.llvm.kernels.elementwise import collapse
from backends.llvm.parallel import ceil_div, larger
from backends.llvm.scalar_emit import ScalarEmitter
from graphc import scalar
from graphc.errors import ShapeError
from graphc.tensor import Tensor

_IDENTITY = {"sum": 0, "prod": 1, "max": float("-inf"), "min": float("inf")}
_COMBINE = {"sum": lambda a, b: a + b, "prod": lambda a, b: a * b,
            "max": scalar.maximum, "min": scalar.minimum}


def _identity(op: str, dtype: str):
    value = _IDENTITY[op]
    if is_float(dtype) or op in ("sum", "prod"):
        return value
    info = {"int32": (-2 ** 31, 2 ** 31 - 1), "int64": (-2 ** 63, 2 ** 63 - 1),
            "bool": (0, 1)}[dtype]
    return info[0] if op == "max" else info[1]


def _kept_access(out: Access, node: Tensor, x: Access) -> Access:
    """The output read at the input's indices (stride 0 along reduced axes)."""
    axes = node.attrs["axes"]
    if node.attrs["keepdims"]:
        strides = [0 if i in axes else s for i, s in enumerate(out.strides)]
    else:
        kept = iter(out.strides)
        strides = [0 if i in axes else next(kept) for i in range(len(x.shape))]
    return Access(out.buffer, x.shape, tuple(strides), out.offset)


OUT_OF_MEMORY = 2
REDUCE_MESSAGES = {
    1: Failure(ShapeError, "zero-size array to a reduction without identity (max or min of "
                           "nothing)"),
    OUT_OF_MEMORY: Failure(MemoryError, "out of memory for the partial results of a big "
                                        "reduction")}


@register("sum", "prod", "max", "min", messages=REDUCE_MESSAGES)
def reduce(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    (x,) = ins
    return reduce_expression(low, low.name(node), node, out, x.shape, ins, scalar.arg(0), [])


def reduce_expression(low, name: str, node: Tensor, out: Access, shape: tuple,
                      ins: list[Access], expr: scalar.Scalar,
                      stores: list[tuple[Access, scalar.Scalar]]) -> Kernel:
    """node's reduction of expr (a scalar expression over `ins`, broadcast to `shape`);
    `stores` are other expressions over `ins` written at every element on the way (the
    elementwise values a fused prologue also returns).

    The loop nest (after merging axes) is a chunk function over a range of the outermost
    axis, run whole or shared with the thread team (backends/llvm/parallel.py). When that
    axis is kept, chunks own disjoint rows of the output. When it is reduced and the work is
    large, it is cut into blocks that depend on the sizes only, each folded into a partial
    result of its own, and the partials are combined in block order: the result is the same
    for any number of threads and any timing.
    """
    op, axes, env = node.op, node.attrs["axes"], low.env
    ins = [broadcast(a, shape, env) for a in ins]
    targets = [broadcast(a, shape, env) for a, _ in stores]
    k = Kernel(low.module, name, [out, *ins, *targets], env)
    if op in ("max", "min"):      # NOTE: even when nothing is kept (NumPy's rule)
        k.fail_if(k.b.icmp_signed("==", k.size([shape[a] for a in axes]), i64(0)), 1)
    acc = _kept_access(out, node, Access(out.buffer, shape, (0,) * len(shape)))
    flat_shape, strides, kinds = collapse([acc, *ins, *targets], env,
                                          [a in axes for a in range(len(shape))])
    acc, *flat = [Access(a.buffer, flat_shape, s, a.offset)
                  for a, s in zip([acc, *ins, *targets], strides)]
    fold = _Fold(node, scalar.cast(expr, node.dtype), flat[:len(ins)],
                 list(zip(flat[len(ins):], (e for _, e in stores))), kinds)
    if not flat_shape:
        fold.emit(k, acc, i64(1))
        return k
    extent = k.dims(flat_shape[0])
    work = parallel.static_work(env, flat_shape, fold.cost)
    if not parallel.may_share(work) and (not kinds[0] or _blocks_of(work, flat_shape, env) < 2):
        # NOTE: never shared, and (a reduced axis) one block: the chunk function's work over
        # the whole range, done by the kernel itself
        parallel.vector_width(k.function, fold.cost)
        if not kinds[0]:
            fold.emit(k, acc, k.b.mul(extent, k.dims(acc.strides[0])), (i64(0), extent))
            return k
        own = Buffer("partial", 0, out.dtype, out.buffer.size)
        k.bind(own, k.address(out, k.dims(out.offset)))
        fold.emit(k, Access(own, acc.shape, acc.strides, 0), k.size(out.shape), (i64(0), extent))
        return k
    chunk = Kernel(low.module, name + ".chunk", [out, *ins, *targets], env,
                   extra=parallel.CHUNK_ARGS)
    lo, hi, index, scratch = chunk.extra
    item_work = k.b.mul(k.size(flat_shape[1:]), i64(fold.cost))
    if not kinds[0]:
        # the chunk's rows of the output are its own: it initializes and folds them
        row = chunk.dims(acc.strides[0])
        fold.emit(chunk, acc, chunk.b.mul(chunk.b.sub(hi, lo), row), (lo, hi),
                  first=chunk.b.mul(lo, row))
        parallel.finish_chunk(chunk, fold.cost)
        parallel.check(k, parallel.run_chunks(k, chunk.function, extent, item_work))
        return k
    # the chunk folds into a copy of the output of its own: the output itself when the
    # whole axis is one chunk, else block `index` of the partials in scratch
    b = chunk.b
    own = Buffer("partial", 0, out.dtype, out.buffer.size)
    base = chunk.address(out, chunk.dims(out.offset))
    partial = b.gep(scratch, [b.mul(index, chunk.size(out.shape))], inbounds=True,
                    source_etype=ir_type(out.dtype))
    chunk.bind(own, b.select(b.icmp_unsigned("==", scratch, ir.Constant(PTR, None)),
                             base, partial))
    fold.emit(chunk, Access(own, acc.shape, acc.strides, 0), chunk.size(out.shape), (lo, hi))
    parallel.finish_chunk(chunk, fold.cost)
    _blocks(k, chunk.function, fold, out, extent, item_work)
    return k


BLOCK_WORK = 1 << 16      # a reduced outermost axis is cut in blocks of at least this work
MAX_BLOCKS = 64           # and at most this many (each one a partial result to combine)


def _blocks_of(work: int, shape: tuple, env) -> int:
    """How many blocks `_blocks` cuts a reduced outermost axis of static `shape` into, the
    nest costing `work` in all (the same arithmetic, in Python)."""
    extent = env.resolve(shape[0])
    if extent == 0:
        return 0
    item = max(work // extent, 1)
    rows = max(-(-BLOCK_WORK // item), -(-extent // MAX_BLOCKS))
    return -(-extent // rows)


def _blocks(k: Kernel, chunk_fn: ir.Function, fold: _Fold, out: Access, extent: ir.Value,
            item_work: ir.Value) -> None:
    """Run chunk_fn over the whole axis when that is one block, else over blocks (of sizes
    fixed by extent and item_work) folding into partials combined into out in block order."""
    b = k.b
    item = larger(b, item_work, i64(1))
    rows = larger(b, ceil_div(b, i64(BLOCK_WORK), item), ceil_div(b, extent, i64(MAX_BLOCKS)))
    blocks = ceil_div(b, extent, rows)
    args = list(k.function.args)
    nothing = ir.Constant(PTR, None)
    with b.if_else(b.icmp_signed("<", blocks, i64(2))) as (whole, split):
        with whole:
            parallel.check(k, b.call(chunk_fn, args + [i64(0), extent, i64(0), nothing]))
        with split:
            out_size = k.size(out.shape)
            nbytes = b.mul(b.mul(blocks, out_size), i64(SIZES[out.dtype]))
            scratch = b.call(_libc(b.module, "malloc", PTR, [I64]), [nbytes])
            k.fail_if(b.icmp_unsigned("==", scratch, nothing), OUT_OF_MEMORY)
            status = parallel.run_chunks(k, chunk_fn, extent, item_work, rows, scratch)
            fold.combine(k, out, scratch, blocks, out_size)
            b.call(_libc(b.module, "free", ir.VoidType(), [PTR]), [scratch])
            parallel.check(k, status)


def _libc(module: ir.Module, name: str, result: ir.Type, params: list[ir.Type]) -> ir.Function:
    existing = module.globals.get(name)
    return existing or ir.Function(module, ir.FunctionType(result, params), name=name)


class _Fold:
    """What a chunk of a reduction does: fold the expression's values at every element (and
    make the stores on the way) into an accumulator array."""

    def __init__(self, node: Tensor, source: scalar.Scalar, ins: list[Access],
                 stores: list[tuple[Access, scalar.Scalar]], reduced: tuple):
        self.op, self.dtype = node.op, node.dtype
        # NOTE: float32 sums accumulate runs and combine partials in float64
        self.wide = "float64" if self.dtype == "float32" and self.op == "sum" else self.dtype
        self.ins, self.stores, self.reduced = ins, stores, reduced
        self.roots = [source] + [e for _, e in stores]
        self.cost = parallel.expression_cost(self.roots) + 1

    def emit(self, k: Kernel, acc: Access, count: ir.Value, bounds: tuple | None = None,
             first: ir.Value | int = 0) -> None:
        """In k: acc's elements first .. first+count-1 set to the identity, then acc folded
        with the input (the outermost axis over `bounds`, a (start, stop) pair, if given)."""
        b, op, dtype = k.b, self.op, self.dtype
        identity = const(dtype, _identity(op, dtype))
        start = b.add(k.dims(acc.offset), first if isinstance(first, ir.Value) else i64(first))
        with loop(b, count, name="init") as i:
            b.store(identity, k.address(acc, b.add(start, i)))
        values = ScalarEmitter(b, self.roots, [a.dtype for a in self.ins],
                               [dtype] + [a.dtype for a, _ in self.stores])
        combine = ScalarEmitter(b, [_COMBINE[op](scalar.arg(0), scalar.arg(1))],
                                [dtype, dtype], [dtype])

        def value_at(indices: list) -> ir.Value:
            """The reduced value at indices (and the stores done there)."""
            results = values.emit([k.load(a, indices) for a in self.ins])
            for (target, _), v in zip(self.stores, results[1:]):
                k.store(target, indices, v)
            return results[0]
        rank = len(acc.shape)

        def nest(indices: list) -> None:
            depth = len(indices)
            span = bounds if depth == 0 and bounds is not None else \
                (i64(0), k.dims(acc.shape[depth])) if depth < rank else None
            if depth == rank - 1 and self.reduced[-1]:
                _fold_run(k, acc, indices, span, op, dtype, self.wide, value_at)
            elif depth == rank:
                (new,) = combine.emit([k.load(acc, indices), value_at(indices)])
                k.store(acc, indices, new)
            else:
                with loop(b, span[1], span[0], name=f"r{depth}") as i:
                    nest(indices + [i])
        nest([])

    def combine(self, k: Kernel, out: Access, partials: ir.Value, blocks: ir.Value,
                out_size: ir.Value) -> None:
        """out = the partials (`blocks` arrays of out_size elements) combined in order."""
        b, ty = k.b, ir_type(self.dtype)
        widen = self.wide != self.dtype

        def partial(block: ir.Value, j: ir.Value) -> ir.Value:
            slot = b.gep(partials, [b.add(b.mul(block, out_size), j)], inbounds=True,
                         source_etype=ty)
            value = b.load(slot, typ=ty)
            return b.fpext(value, F64) if widen else value
        wide = ir_type(self.wide)
        slot = k.alloca(wide)
        with loop(b, out_size, name="out") as j:
            b.store(partial(i64(0), j), slot)
            with loop(b, blocks, start=1, name="block") as block:
                total = _fold(b, self.op, b.load(slot, typ=wide), partial(block, j), self.wide,
                              in_order=True)
                b.store(total, slot)
            total = b.load(slot, typ=wide)
            b.store(b.fptrunc(total, ty) if widen else total,
                    k.address(out, b.add(k.dims(out.offset), j)))


def _fold_run(k: Kernel, acc: Access, indices: list, span: tuple, op: str, dtype: str,
              wide: str, value_at) -> None:
    """acc[indices] op= the fold of the values at indices + [j] for j in span (the innermost
    axis), in a register."""
    b = k.b
    wide_ty = ir_type(wide)
    start = b.block
    zero = i64(0)
    first = k.load(acc, indices + [zero])
    initial = b.fpext(first, F64) if wide != dtype else first
    header = b.append_basic_block("run.head")
    body = b.append_basic_block("run.body")
    after = b.append_basic_block("run.end")
    b.branch(header)
    b.position_at_end(header)
    j = b.phi(I64)
    total = b.phi(wide_ty)
    j.add_incoming(span[0], start)
    total.add_incoming(initial, start)
    b.cbranch(b.icmp_signed("<", j, span[1]), body, after)
    b.position_at_end(body)
    value = value_at(indices + [j])
    if wide != dtype:
        value = b.fpext(value, F64)
    step = _fold(b, op, total, value, wide)
    j.add_incoming(b.add(j, i64(1)), b.block)
    total.add_incoming(step, b.block)
    b.branch(header)
    b.position_at_end(after)
    result = b.fptrunc(total, ir_type(dtype)) if wide != dtype else total
    k.store(acc, indices + [zero], result)


def _fold(b: ir.IRBuilder, op: str, total: ir.Value, value: ir.Value, dtype: str,
          in_order: bool = False) -> ir.Value:
    """total op value; float sums and products may be reassociated (vectorized) unless
    `in_order`."""
    if op in ("sum", "prod"):
        if is_float(dtype):
            fn = b.fadd if op == "sum" else b.fmul
            # NOTE: not nsz: with reassoc it lets LLVM fold acc + (x - x) to acc, x NaN or not
            return fn(total, value, flags=[] if in_order else ["reassoc"])
        return (b.add if op == "sum" else b.mul)(total, value)
    (result,) = ScalarEmitter(b, [_COMBINE[op](scalar.arg(0), scalar.arg(1))],
                              [dtype, dtype], [dtype]).emit([total, value])
    return result


@register("argmax", "argmin",
          messages={1: Failure(ShapeError, "argmax or argmin of an empty sequence")})
def arg_extremum(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    """The index of the first maximum (minimum) along an axis, or of the flat array; a NaN
    counts as the extremum, as in NumPy."""
    (x,) = ins
    axis = node.attrs["axis"]
    k = Kernel(low.module, low.name(node), [out, x], low.env)
    b = k.b
    if axis is None:          # over the flat array: a contiguous copy's view is not needed,
        axes = list(range(len(x.shape)))     # the indices are walked in row-major order
    else:
        axes = [axis]
    kept = [i for i in range(len(x.shape)) if i not in axes]
    k.fail_if(b.icmp_signed("==", k.size([x.shape[a] for a in axes]), i64(0)), 1)
    out_flat = Access(out.buffer, (), (), out.offset)
    better = ">" if node.op == "argmax" else "<"
    floating = is_float(x.dtype)

    def over_kept(indices: dict, position: int) -> None:
        if position == len(kept):
            _search(k, x, axes, indices, out_flat, better, floating, kept)
            return
        with loop(b, k.dims(x.shape[kept[position]]), name=f"k{position}") as i:
            over_kept({**indices, kept[position]: i}, position + 1)
    over_kept({}, 0)
    return k


def _search(k: Kernel, x: Access, axes: list[int], fixed: dict, out: Access, better: str,
            floating: bool, kept: list[int]) -> None:
    b = k.b
    xty = ir_type(x.dtype)
    slot, where, count = k.alloca(xty), k.alloca(I64), k.alloca(I64)
    b.store(i64(0), count)
    b.store(i64(0), where)
    first = [fixed.get(a, i64(0)) for a in range(len(x.shape))]
    b.store(k.load(x, first), slot)

    def nest(indices: dict, position: int) -> None:
        if position == len(axes):
            value = k.load(x, [indices[a] for a in range(len(x.shape))])
            best = b.load(slot, typ=xty)
            n = b.load(count, typ=I64)
            if floating:
                wins = b.fcmp_ordered(better, value, best)
                nan_first = b.and_(b.fcmp_unordered("uno", value, value),
                                   b.fcmp_ordered("ord", best, best))
                wins = b.or_(wins, nan_first)
            else:
                wins = b.icmp_signed(better, value, best) if x.dtype != "bool" else \
                    b.icmp_unsigned(better, value, best)
            b.store(b.select(wins, value, best), slot)
            b.store(b.select(wins, n, b.load(where, typ=I64)), where)
            b.store(b.add(n, i64(1)), count)
            return
        axis = axes[position]
        with loop(b, k.dims(x.shape[axis]), name=f"a{position}") as i:
            nest({**indices, axis: i}, position + 1)
    nest(dict(fixed), 0)
    # the output element: row-major position over the kept axes
    linear = i64(0)
    for a in kept:
        linear = b.add(b.mul(linear, k.dims(x.shape[a])), fixed[a])
    b.store(b.load(where, typ=I64), k.address(out, b.add(k.dims(out.offset), linear)))


@register("shape_size")
def shape_size(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    (x,) = ins
    k = Kernel(low.module, low.name(node), [out], low.env)
    count = k.size([x.shape[a] for a in node.attrs["axes"]])
    value = k.b.sitofp(count, ir_type(node.dtype)) if is_float(node.dtype) else \
        k.b.trunc(count, ir_type(node.dtype)) if node.dtype == "int32" else count
    k.b.store(value, k.address(out, k.dims(out.offset)))
    return k

