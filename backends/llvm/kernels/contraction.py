"""Native kernels for matmul and convolution: the products, and the window copies feeding them.

Float products run the generated GEMM (backends/llvm/gemm.py) where it does better than BLAS
(see _generated_suits) and call BLAS GEMM (backends/llvm/blas.py) otherwise. An operand
reaches BLAS in place when its matrix axes are a row-major or transposed layout (a transposed
view, a matmul flag or a slice costs nothing: BLAS gets a trans flag and a leading
dimension); otherwise the kernel copies it, and only it, into scratch first. Batch axes
broadcast by stride 0; a batch that only the left operand has, laid out evenly, becomes rows
of a single GEMM. Integer products, and float products small enough that a call costs more
than the arithmetic, run a generated loop in i-k-j order, so the inner loop walks a row of
the result and of b.

Convolution runs on columns (C * taps, *out, N), batch innermost, as the interpreter's
kernels do (backends/numpy/conv_kernels.py): im2col copies the padded input, transposed to
(C, *padded, N), window by window; col2im adds the columns back in the same kernel-position
order as the interpreter (so its sums round alike); the products are one GEMM per group.
"""
from __future__ import annotations

import math

from llvmlite import ir

from backends.llvm import blas, gemm, parallel
from backends.llvm.access import Access, broadcast, row_major
from backends.llvm.irutil import I1, const, i64, ir_type, is_float, loop
from backends.llvm.kernels import Failure, register
from backends.llvm.kernels.base import Kernel
from backends.llvm.kernels.elementwise import collapse
from backends.llvm.kernels.moves import move, unflatten
from backends.llvm.target import register_bits
from graphc import dims as D
from graphc.dimenv import DimEnv
from graphc.dims import Dim
from graphc.errors import ShapeError
from graphc.tensor import Tensor

INT32_MAX = 2 ** 31 - 1
TOO_LARGE = {1: Failure(ShapeError, "a matrix dimension exceeds the 2^31 - 1 elements BLAS "
                                   "can address")}
# NOTE: below this many multiply-adds (static shapes only) a generated loop beats a BLAS call,
# whose fixed cost is ~1 µs; measured by benchmarks/llvm_matmul.py.
LOOP_FLOPS = 4096


# ---- operands as BLAS reads them --------------------------------------------------------------

def _swapped(a: Access) -> Access:
    """a with its last two axes swapped (a view)."""
    shape, strides = list(a.shape), list(a.strides)
    shape[-2:], strides[-2:] = shape[:-3:-1], strides[:-3:-1]
    return Access(a.buffer, tuple(shape), tuple(strides), a.offset)


def _operands(node: Tensor, ins: list[Access]) -> tuple[Access, Access]:
    """op(a) and op(b): an operand whose transpose flag is set, with its matrix axes swapped."""
    a, b = ins
    if node.attrs.get("transpose_a", False):
        a = _swapped(a)
    if node.attrs.get("transpose_b", False):
        b = _swapped(b)
    return a, b


def _at_least(x: Dim, y: Dim, env: DimEnv) -> bool:
    """x >= y whatever the symbols' values (False when that cannot be shown)."""
    return D.is_nonneg(env.resolve(D.sub(x, y)))


def _layout(a: Access, env: DimEnv) -> tuple[bool, Dim] | None:
    """(trans, leading dim) by which BLAS reads a's last two axes in place, or None."""
    rows, cols = (env.resolve(d) for d in a.shape[-2:])
    row_stride, col_stride = (env.resolve(s) for s in a.strides[-2:])
    if col_stride == 1 or cols == 1:           # rows are runs of memory
        if rows == 1:
            return False, cols
        if _at_least(row_stride, cols, env):
            return False, row_stride
    if row_stride == 1 or rows == 1:           # columns are: the transpose of a row-major matrix
        if cols == 1:
            return True, rows
        if _at_least(col_stride, rows, env):
            return True, col_stride
    return None


def _as_rows(a: Access, env: DimEnv) -> Access | None:
    """a (*batch, M, K) as one (batch * M, K) matrix, when its rows are evenly spaced."""
    axes = [(d, s) for d, s in zip(a.shape[:-1], a.strides[:-1]) if env.resolve(d) != 1]
    for (_, outer), (size, inner) in zip(axes, axes[1:]):
        if env.resolve(outer) != env.resolve(D.mul(inner, size)):
            return None
    stride = axes[-1][1] if axes else a.strides[-2]
    return Access(a.buffer, (D.product(a.shape[:-1]), a.shape[-1]), (stride, a.strides[-1]),
                  a.offset)


def _uses_blas(node: Tensor, flops: Dim) -> bool:
    """Whether a product goes to BLAS (floats, unless statically tiny) or a generated loop."""
    return is_float(node.dtype) and not (isinstance(flops, int) and flops <= LOOP_FLOPS)


def _matmul_flops(node: Tensor, env: DimEnv) -> Dim:
    """Multiply-adds of a matmul: the result's size times the inner dimension."""
    a = node.inputs[0].shape
    inner = a[-2] if node.attrs.get("transpose_a", False) else a[-1]
    return env.resolve(D.product(node.shape + (inner,)))


def _matmul_scratch(plan, node: Tensor, ins: list[Access], out: Access) -> dict:
    """Contiguous copies of the operands BLAS cannot read in place (none for a loop), and of
    a batched a, times a b without batch axes, whose rows are not evenly spaced: copied, it
    is one product over all the rows (which the team shares) instead of one per batch index
    (a time-major view of (N, T, F) inputs: T products of N rows, each on one thread)."""
    env = plan.env
    if not _uses_blas(node, _matmul_flops(node, env)):
        return {}
    a, b = _operands(node, ins)
    copied = {i for i, x in enumerate((a, b)) if _layout(x, env) is None}
    if len(a.shape) > 2 and all(env.resolve(d) == 1 for d in b.shape[:-2]) \
            and _as_rows(a, env) is None:
        copied.add(0)
    return {i: plan.scratch(x.dtype, x.shape) for i, x in enumerate((a, b)) if i in copied}


@register("matmul", messages=TOO_LARGE, scratch=_matmul_scratch)
def matmul(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    env, copies = low.env, low.step.scratch
    k = Kernel(low.module, low.name(node), [out, *ins, *copies.values()], env)
    a, b = _operands(node, ins)
    batch = out.shape[:-2]
    if not _uses_blas(node, _matmul_flops(node, env)):
        _loop_product(k, out, broadcast(a, batch + a.shape[-2:], env),
                      broadcast(b, batch + b.shape[-2:], env))
        return k
    if 0 in copies:
        a = _copied(k, copies[0], a)
    if 1 in copies:
        b = _copied(k, copies[1], b)
    a, b = broadcast(a, batch + a.shape[-2:], env), broadcast(b, batch + b.shape[-2:], env)
    rows = _as_rows(a, env) if all(env.resolve(s) == 0 for s in b.strides[:-2]) else None
    if rows is not None and _layout(rows, env) is not None:
        b_alone = Access(b.buffer, b.shape[-2:], b.strides[-2:], b.offset)
        flat = Access(out.buffer, rows.shape[:1] + out.shape[-1:], (out.shape[-1], 1),
                      out.offset)
        _gemm(k, flat, rows, b_alone)
        return k
    shape, (so, sa, sb), _ = collapse([Access(x.buffer, batch, x.strides[:-2], x.offset)
                                    for x in (out, a, b)], env)
    nest = [Access(x.buffer, shape, s, x.offset) for x, s in zip((out, a, b), (so, sa, sb))]

    def over_batch(indices: list) -> None:
        if len(indices) == len(shape):
            starts = [k.index(x, indices) for x in nest]
            _gemm(k, _matrix(out), _matrix(a), _matrix(b), starts)
            return
        with loop(k.b, k.dims(shape[len(indices)]), name=f"batch{len(indices)}") as i:
            over_batch(indices + [i])
    over_batch([])
    return k


def _matrix(x: Access) -> Access:
    """x's matrix axes, for a start index given separately."""
    return Access(x.buffer, x.shape[-2:], x.strides[-2:], 0)


def _copied(k: Kernel, scratch: Access, x: Access) -> Access:
    """x copied (row-major) into scratch, which then stands for it."""
    def nest(indices: list) -> None:
        if len(indices) == len(x.shape):
            k.store(scratch, indices, k.load(x, indices))
            return
        with loop(k.b, k.dims(x.shape[len(indices)]), name=f"copy{len(indices)}") as i:
            nest(indices + [i])
    nest([])
    return scratch


def _gemm(k: Kernel, c: Access, a: Access, b: Access, starts: list | None = None) -> None:
    """c = a @ b for 2-D accesses, starting at their offsets or at linear indices `starts`."""
    env, builder = k.env, k.b
    starts = starts or [k.dims(x.offset) for x in (c, a, b)]
    if not GENERATED:
        _blas_product(k, c, a, b, starts)
        return
    if _dots_suit(c, a, b, env):
        _generated_product(k, c, a, b, starts, "dots")
        return
    generated = _generated_suits(c, a, b, env)
    if generated is False:
        _blas_product(k, c, a, b, starts)
        return

    def many_rows() -> None:
        if generated:
            _generated_product(k, c, a, b, starts)
            return
        with builder.if_else(_generated_at_run_time(k, c, a)) as (ours, theirs):
            with ours:
                _generated_product(k, c, a, b, starts)
            with theirs:
                _blas_product(k, c, a, b, starts)
    rows = env.resolve(c.shape[0])
    if isinstance(rows, int):
        if rows == 1:
            _generated_product(k, c, a, b, starts, "one_row")
        else:
            many_rows()
        return
    with builder.if_else(builder.icmp_signed("==", k.dims(c.shape[0]), i64(1))) as (one, more):
        with one:
            _generated_product(k, c, a, b, starts, "one_row")
        with more:
            many_rows()


def _blas_product(k: Kernel, c: Access, a: Access, b: Access, starts: list) -> None:
    """c = a @ b by one BLAS call (operands BLAS can read in place)."""
    env, builder = k.env, k.b
    (trans_a, lda), (trans_b, ldb) = _layout(a, env), _layout(b, env)
    m, n, inner = (k.dims(d) for d in (c.shape[0], c.shape[1], a.shape[1]))
    lds = [k.dims(d) for d in (lda, ldb, c.shape[1])]
    big = [builder.icmp_signed(">", v, i64(INT32_MAX)) for v in [m, n, inner, *lds]]
    k.fail_if(_any(builder, big), 1)
    pc, pa, pb = (k.address(x, s) for x, s in zip((c, a, b), starts))
    blas.emit_gemm(builder, k.context, c.dtype, trans_a, trans_b, m, n, inner, 1.0, pa,
                   lds[0], pb, lds[1], 0.0, pc, lds[2])


# NOTE: where b and the result have rows that are runs of memory, a float product runs the
# generated GEMM (backends/llvm/gemm.py): on AVX-512 hosts always, its vectors being twice as
# wide as those of the OpenBLAS Haswell kernels scipy's wheel runs there; elsewhere when it has
# at most SKINNY rows or an inner size of at most SKINNY, where BLAS's packing of the whole of
# b costs more than the arithmetic. Measured on one core (Zen 5, generated tiles of 6 rows,
# big products packed), GFLOP/s generated against numpy's OpenBLAS: 256x4096 by 4096x256
# 237 vs 120, 64x4096 by 4096x1024 187 vs 109, 2048^3 224 vs 129, 1024^3 ~250 vs ~125.
SKINNY = 32
GENERATED = True     # False: BLAS for every float product (benchmarks and tests compare)


def _generated_suits(c: Access, a: Access, b: Access, env: DimEnv) -> bool | None:
    """Whether c = a @ b runs the generated GEMM; None: decided at run time by its sizes."""
    if not (is_float(c.dtype) and env.resolve(b.strides[1]) == 1
            and env.resolve(c.strides[1]) == 1):
        return False
    if register_bits() == 512:
        return True
    rows, inner = (env.resolve(d) for d in (c.shape[0], a.shape[1]))
    if not (isinstance(rows, int) and isinstance(inner, int)):
        return None
    return inner <= SKINNY or rows <= SKINNY


def _generated_at_run_time(k: Kernel, c: Access, a: Access) -> ir.Value:
    """The run-time test: at most SKINNY rows or an inner size of at most SKINNY."""
    b = k.b
    few_rows = b.icmp_signed("<=", k.dims(c.shape[0]), i64(SKINNY))
    short = b.icmp_signed("<=", k.dims(a.shape[1]), i64(SKINNY))
    return b.or_(few_rows, short)


def _dots_suit(c: Access, a: Access, b: Access, env: DimEnv) -> bool:
    """Whether c = a @ b runs the generated GEMM's dot products: on an AVX-512 host, a float
    product whose b is stored transposed (a gradient's product by a weight's transpose)
    and whose a and result have contiguous rows."""
    resolve = env.resolve
    return (is_float(c.dtype) and register_bits() == 512 and resolve(b.strides[0]) == 1
            and resolve(a.strides[1]) == 1 and resolve(c.strides[1]) == 1
            and resolve(b.shape[0]) != 1)


def _generated_product(k: Kernel, c: Access, a: Access, b: Access, starts: list,
                     kind: str = "rows") -> None:
    """c = a @ b by the generated GEMM (2-D accesses from linear indices `starts`)."""
    pointers = {name: k.address(x, s) for name, x, s in zip("cab", (c, a, b), starts)}
    b_rows = b.strides[1] if kind == "dots" else b.strides[0]     # of b as stored
    sizes = {name: k.dims(d) for name, d in (("m", c.shape[0]), ("n", c.shape[1]),
                                             ("k", a.shape[1]), ("ldc", c.strides[0]),
                                             ("lda", a.strides[0]), ("a_step", a.strides[1]),
                                             ("ldb", b_rows))}
    gemm.emit_product(k.b, k.context, c.dtype, kind, **pointers, **sizes)


def _any(builder: ir.IRBuilder, conditions: list[ir.Value]) -> ir.Value:
    result = ir.Constant(I1, 0)
    for c in conditions:
        result = builder.or_(result, c)
    return result


def _loop_product(k: Kernel, out: Access, a: Access, b: Access) -> None:
    """out = a @ b (batched, any strides) in i-k-j order: out's row accumulates a[i, l] * b[l]."""
    builder, dtype = k.b, out.dtype
    floating = is_float(dtype)
    m, n, inner = (k.dims(d) for d in (out.shape[-2], out.shape[-1], a.shape[-1]))
    flags = ["contract"] if floating else []

    def multiply_add(acc: ir.Value, x: ir.Value, y: ir.Value) -> ir.Value:
        if floating:
            return builder.fadd(acc, builder.fmul(x, y, flags=flags), flags=flags)
        return builder.add(acc, builder.mul(x, y))

    def nest(indices: list) -> None:
        if len(indices) < len(out.shape) - 2:
            with loop(builder, k.dims(out.shape[len(indices)]), name=f"batch{len(indices)}") as t:
                nest(indices + [t])
            return
        with loop(builder, m, name="i") as i:
            with loop(builder, n, name="zero") as j:
                k.store(out, indices + [i, j], const(dtype, 0))
            with loop(builder, inner, name="l") as l_:
                x = k.load(a, indices + [i, l_])
                with loop(builder, n, name="j") as j:
                    total = multiply_add(k.load(out, indices + [i, j]), x,
                                         k.load(b, indices + [l_, j]))
                    k.store(out, indices + [i, j], total)
    nest([])


# ---- copies between views of one shape --------------------------------------------------------

def _fill(k: Kernel, dst: Access, value: ir.Value) -> None:
    """Every element of a contiguous dst set to value."""
    with loop(k.b, k.size(dst.shape), name="fill") as i:
        k.b.store(value, k.address(dst, k.b.add(k.dims(dst.offset), i)))


def _permuted(x: Access, perm: tuple) -> Access:
    return Access(x.buffer, tuple(x.shape[p] for p in perm), tuple(x.strides[p] for p in perm),
                  x.offset)


def _batch_last(x: Access) -> tuple:
    """The axis order (1, ..., rank - 1, 0): an (N, C, *spatial) array as (C, *spatial, N)."""
    return tuple(range(1, len(x.shape))) + (0,)


# ---- im2col and col2im ------------------------------------------------------------------------

def _padded_shape(node: Tensor, x_shape: tuple) -> tuple:
    """(C, *padded spatial, N): the batch-last, padded copy of an (N, C, *spatial) input."""
    spatial = tuple(n + lo + hi for n, (lo, hi) in zip(x_shape[2:], node.attrs["pads"]))
    return (x_shape[1],) + spatial + (x_shape[0],)


def _interior(padded: Access, node: Tensor, x_shape: tuple) -> Access:
    """The unpadded part of a padded batch-last buffer, as an (N, C, *spatial) view."""
    offset = padded.offset
    for (lo, _), stride in zip(node.attrs["pads"], padded.strides[1:-1]):
        offset = D.add(offset, D.mul(lo, stride))
    inner = Access(padded.buffer, x_shape[1:] + x_shape[:1], padded.strides, offset)
    return _permuted(inner, (len(x_shape) - 1,) + tuple(range(len(x_shape) - 1)))


def _windows(padded: Access, node: Tensor, out_spatial: tuple) -> Access:
    """The padded buffer read as the columns' (C, *kernel, *out, N): element (c, t, o, n) is
    padded[c, o * stride + t * dilation, n]."""
    space = padded.strides[1:-1]
    attrs = node.attrs
    shape = padded.shape[:1] + tuple(attrs["kernel"]) + tuple(out_spatial) + padded.shape[-1:]
    strides = (padded.strides[:1] + tuple(D.mul(s, d) for s, d in zip(space, attrs["dilation"]))
               + tuple(D.mul(s, t) for s, t in zip(space, attrs["stride"])) + padded.strides[-1:])
    return Access(padded.buffer, shape, strides, padded.offset)


def _as_windows(cols: Access, node: Tensor) -> Access:
    """Contiguous columns (C * taps, *out, N) as (C, *kernel, *out, N)."""
    kernel = tuple(node.attrs["kernel"])
    shape = (D.floordiv(cols.shape[0], math.prod(kernel)),) + kernel + cols.shape[1:]
    return Access(cols.buffer, shape, row_major(shape), cols.offset)


def _padded_scratch(plan, node: Tensor, ins: list[Access], out: Access) -> dict:
    x_shape = ins[0].shape if node.op == "im2col" else out.shape
    return {"padded": plan.scratch(node.dtype, _padded_shape(node, x_shape))}


# NOTE: an element copied (or added) costs ~2 units of parallel.MIN_WORK's measure (~30 ps
# each): on one core, W3's im2col window copies (1.25M and 0.96M elements) took ~125 µs
# together, col2im's 0.96M adds ~62 µs.
MOVE_COST = 2


def _shared_move(low, node: Tensor, k: Kernel, accesses: list[Access], dst: Access,
                 src: Access, lead: int, add: bool = False) -> None:
    """move(dst, src) in kernel k, the boxes at each index of the first `lead` axes shared
    with the team when there is enough work: each box is moved the same way wherever it
    runs, and no two boxes write the same element, so the result does not depend on who
    moves which."""
    env, rows = low.env, dst.shape[:lead]
    if not parallel.may_share(parallel.static_work(env, dst.shape, MOVE_COST)):
        move(k, dst, src, add)
        return
    chunk = Kernel(low.module, low.name(node) + ".chunk", accesses, env,
                   extra=parallel.CHUNK_ARGS)
    lo, hi = chunk.extra[:2]
    with loop(chunk.b, hi, start=lo, name="box") as r:
        move(chunk, dst, src, add, at=unflatten(chunk, r, rows))
    chunk.finish()
    box_work = k.b.mul(k.size(dst.shape[lead:]), i64(MOVE_COST))
    parallel.check(k, parallel.run_chunks(k, chunk.function, k.size(rows), box_work))


@register("im2col", scratch=_padded_scratch)
def im2col(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    """Columns: the input copied batch-last into a zero-padded buffer, then window by window
    (a row of the columns, one channel's kernel position, a box the team may share)."""
    (x,) = ins
    padded = low.step.scratch["padded"]
    accesses = [out, x, padded]
    k = Kernel(low.module, low.name(node), accesses, low.env)
    if any(lo or hi for lo, hi in node.attrs["pads"]):
        _fill(k, padded, const(node.dtype, 0))
    # (C, *spatial, N): tiles of rows of x written as runs of the batch
    order = _batch_last(x)
    move(k, _permuted(_interior(padded, node, x.shape), order), _permuted(x, order))
    _shared_move(low, node, k, accesses, _as_windows(out, node),
                 _windows(padded, node, out.shape[1:-1]), 1 + len(node.attrs["kernel"]))
    return k


@register("col2im", scratch=_padded_scratch)
def col2im(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    """The adjoint: columns added onto a zeroed padded buffer kernel position by kernel
    position (the interpreter's order; channels are boxes the team may share), whose interior
    is then copied out batch-first."""
    (cols,) = ins
    padded = low.step.scratch["padded"]
    accesses = [out, cols, padded]
    k = Kernel(low.module, low.name(node), accesses, low.env)
    _fill(k, padded, const(node.dtype, 0))
    _shared_move(low, node, k, accesses, _windows(padded, node, cols.shape[1:-1]),
                 _as_windows(cols, node), 1, add=True)
    order = (1, 0) + tuple(range(2, len(out.shape)))
    move(k, _permuted(out, order), _permuted(_interior(padded, node, out.shape), order))
    return k


# ---- the grouped products of convolution ------------------------------------------------------

def _geometry(node: Tensor, cols: tuple) -> tuple[int, int, int, Dim]:
    """(groups, rows of the columns per group R, output channels per group, columns P)."""
    w = node.inputs[1].shape if node.op != "conv_weight_grad" else node.shape
    groups = node.attrs["groups"]
    return groups, math.prod(w[1:]), w[0] // groups, D.product(cols[1:])


def _matrix_at(x: Access, rows: Dim, cols: Dim, transposed: bool = False) -> Access:
    """A contiguous x's start as a row-major rows × cols matrix (or its transpose)."""
    if transposed:
        return Access(x.buffer, (cols, rows), (1, cols), x.offset)
    return Access(x.buffer, (rows, cols), (cols, 1), x.offset)


def _grouped_gemm(k: Kernel, groups: int, c: tuple, a: tuple, b: tuple) -> None:
    """For g < groups: c_g = a_g @ b_g, where each operand is (matrix, elements per group)."""
    with loop(k.b, i64(groups), name="group") as g:
        starts = [k.b.add(k.dims(x.offset), k.b.mul(g, k.dims(step))) for x, step in (c, a, b)]
        _gemm(k, c[0], a[0], b[0], starts)


def _g_scratch(plan, node: Tensor, ins: list[Access], out: Access) -> dict:
    g = ins[1] if node.op == "conv_weight_grad" else ins[0]
    return {"g": plan.scratch(g.dtype, tuple(g.shape[1:]) + g.shape[:1])}


@register("conv", contiguous=True, messages=TOO_LARGE,
          scratch=lambda plan, node, ins, out: {"rows": plan.scratch(
              node.dtype, (node.shape[1],) + node.shape[2:] + node.shape[:1])})
def conv(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    """y (N, O, *out): per group, weights (O/G, R) @ columns (R, P), then batch-first."""
    cols, w = ins
    rows = low.step.scratch["rows"]
    k = Kernel(low.module, low.name(node), [out, cols, w, rows], low.env)
    groups, r, o, p = _geometry(node, cols.shape)
    _grouped_gemm(k, groups, (_matrix_at(rows, o, p), D.mul(o, p)), (_matrix_at(w, o, r), o * r),
                  (_matrix_at(cols, r, p), D.mul(r, p)))
    move(k, out, _permuted(rows, (len(out.shape) - 1,) + tuple(range(len(out.shape) - 1))))
    return k


@register("conv_input_grad", contiguous=True, messages=TOO_LARGE, scratch=_g_scratch)
def conv_input_grad(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    """columns (R·G, *out, N): per group, weightsᵀ (R, O/G) @ g batch-last (O/G, P)."""
    g, w = ins
    g_last = low.step.scratch["g"]
    k = Kernel(low.module, low.name(node), [out, g, w, g_last], low.env)
    groups, r, o, p = _geometry(node, out.shape)
    move(k, g_last, _permuted(g, _batch_last(g)))
    if o == 1:          # an outer product: BLAS does it ~10x slower than a loop
        _outer(k, groups, out, w, g_last, r, p)
        return k
    _grouped_gemm(k, groups, (_matrix_at(out, r, p), D.mul(r, p)),
                  (_matrix_at(w, o, r, transposed=True), o * r),
                  (_matrix_at(g_last, o, p), D.mul(o, p)))
    return k


def _outer(k: Kernel, groups: int, out: Access, w: Access, g: Access, r: int, p: Dim) -> None:
    """out[gr, :] = w[gr] * g[group of gr, :] for each of groups * r rows."""
    b, ty = k.b, ir_type(out.dtype)
    with loop(b, i64(groups * r), name="row") as row:
        weight = b.load(k.address(w, b.add(k.dims(w.offset), row)), typ=ty)
        source = b.add(k.dims(g.offset), b.mul(b.sdiv(row, i64(r)), k.dims(p)))
        target = b.add(k.dims(out.offset), b.mul(row, k.dims(p)))
        with loop(b, k.dims(p), name="col") as j:
            value = b.load(k.address(g, b.add(source, j)), typ=ty)
            b.store(b.fmul(weight, value), k.address(out, b.add(target, j)))


@register("conv_weight_grad", contiguous=True, messages=TOO_LARGE, scratch=_g_scratch)
def conv_weight_grad(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    """weights (O, R): per group, g batch-last (O/G, P) @ columnsᵀ (P, R)."""
    cols, g = ins
    g_last = low.step.scratch["g"]
    k = Kernel(low.module, low.name(node), [out, cols, g, g_last], low.env)
    groups, r, o, p = _geometry(node, cols.shape)
    move(k, g_last, _permuted(g, _batch_last(g)))
    _grouped_gemm(k, groups, (_matrix_at(out, o, r), o * r),
                  (_matrix_at(g_last, o, p), D.mul(o, p)),
                  (_matrix_at(cols, r, p, transposed=True), D.mul(r, p)))
    return k
