"""Native kernels for reductions: sum, prod, max, min, argmax, argmin, shape_size.

The input is walked in memory order. When its innermost axis is reduced, each run of it is
folded into a register accumulator (float32 sums accumulate in float64; the adds may be
reassociated, so LLVM vectorizes them); when it is kept, the output row is updated elementwise
(`out[j] += x[i, j]`), which vectorizes as is. max and min propagate NaN as NumPy does.
"""
from __future__ import annotations

from llvmlite import ir

from backends.llvm.access import Access, broadcast
from backends.llvm.irutil import F64, I64, const, i64, ir_type, is_float, loop
from backends.llvm.kernels import register
from backends.llvm.kernels.base import Kernel
from backends.llvm.scalar_emit import ScalarEmitter
from graphc import scalar
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


EMPTY = {1: "zero-size array to a reduction without identity (max or min of nothing)"}


@register("sum", "prod", "max", "min", messages=EMPTY)
def reduce(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    (x,) = ins
    return reduce_expression(low, low.name(node), node, out, x.shape, ins, scalar.arg(0), [])


def reduce_expression(low, name: str, node: Tensor, out: Access, shape: tuple,
                      ins: list[Access], expr: scalar.Scalar,
                      stores: list[tuple[Access, scalar.Scalar]]) -> Kernel:
    """node's reduction of expr (a scalar expression over `ins`, broadcast to `shape`);
    `stores` are other expressions over `ins` written at every element on the way (the
    elementwise values a fused prologue also returns)."""
    op, axes, dtype = node.op, node.attrs["axes"], node.dtype
    ins = [broadcast(a, shape, low.env) for a in ins]
    stores = [(broadcast(a, shape, low.env), e) for a, e in stores]
    k = Kernel(low.module, name, [out, *ins, *(a for a, _ in stores)], low.env)
    source = scalar.cast(expr, dtype)
    roots = [source] + [e for _, e in stores]
    values = ScalarEmitter(k.b, roots, [a.dtype for a in ins],
                           [dtype] + [a.dtype for a, _ in stores])

    def value_at(indices: list):
        """The reduced value at indices (and the stores done there)."""
        results = values.emit([k.load(a, indices) for a in ins])
        for (target, _), v in zip(stores, results[1:]):
            k.store(target, indices, v)
        return results[0]
    x = Access(out.buffer, shape, (0,) * len(shape))      # shape only, for the loop bounds
    if op in ("max", "min"):
        reduced = k.size([x.shape[a] for a in axes])
        outputs = k.size(out.shape)
        k.fail_if(k.b.and_(k.b.icmp_signed("==", reduced, i64(0)),
                           k.b.icmp_signed(">", outputs, i64(0))), 1)
    acc = _kept_access(out, node, x)
    combine = ScalarEmitter(k.b, [_COMBINE[op](scalar.arg(0), scalar.arg(1))],
                            [dtype, dtype], [dtype])
    identity = const(dtype, _identity(op, dtype))
    with loop(k.b, k.size(out.shape), name="init") as i:
        k.b.store(identity, k.address(Access(out.buffer, (), (), out.offset), i))
    rank = len(x.shape)
    inner_reduced = rank > 0 and (rank - 1) in axes
    wide = "float64" if dtype == "float32" and op == "sum" else dtype

    def nest(indices: list) -> None:
        depth = len(indices)
        if inner_reduced and depth == rank - 1:
            _fold_run(k, x, acc, indices, op, dtype, wide, value_at)
            return
        if depth == rank:
            (new,) = combine.emit([k.load(acc, indices), value_at(indices)])
            k.store(acc, indices, new)
            return
        with loop(k.b, k.dims(x.shape[depth]), name=f"r{depth}") as i:
            nest(indices + [i])
    nest([])
    return k


def _fold_run(k: Kernel, x: Access, acc: Access, indices: list, op: str, dtype: str, wide: str,
              value_at) -> None:
    """acc[indices] op= fold of x[indices, :] (the innermost axis) in a register."""
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
    j.add_incoming(zero, start)
    total.add_incoming(initial, start)
    b.cbranch(b.icmp_signed("<", j, k.dims(x.shape[-1])), body, after)
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


def _fold(b: ir.IRBuilder, op: str, total: ir.Value, value: ir.Value, dtype: str) -> ir.Value:
    if op in ("sum", "prod"):
        if is_float(dtype):
            fn = b.fadd if op == "sum" else b.fmul
            return fn(total, value, flags=["reassoc", "nsz"])
        return (b.add if op == "sum" else b.mul)(total, value)
    (result,) = ScalarEmitter(b, [_COMBINE[op](scalar.arg(0), scalar.arg(1))],
                              [dtype, dtype], [dtype]).emit([total, value])
    return result


@register("argmax", "argmin", messages={1: "argmax or argmin of an empty sequence"})
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

