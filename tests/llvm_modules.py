"""Small entry functions written by hand with llvmlite.ir, to test the native backend's plumbing.

Each follows the entry convention of backends/llvm/call.py:
int32 entry(void **inputs, void **variables, void **outputs, void *arena, int64 *dims,
void **context).
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
from llvmlite import ir

from backends.llvm import blas, call

PTR = ir.PointerType()
I32, I64 = ir.IntType(32), ir.IntType(64)
F32 = ir.FloatType()
GATHER_ERROR = 7  # what `gather_module` returns for an index out of range


def entry_function(module: ir.Module, name: str = "entry") -> tuple[ir.IRBuilder, tuple]:
    """A new entry function and a builder in its first block; also returns its arguments."""
    function = ir.Function(module, ir.FunctionType(I32, [PTR] * 6), name)
    for argument, label in zip(function.args, ("inputs", "variables", "outputs", "arena",
                                               "dims", "context")):
        argument.name = label
    return ir.IRBuilder(function.append_basic_block("entry")), function.args


def table_entry(builder: ir.IRBuilder, table: ir.Value, index: int) -> ir.Value:
    """The pointer in slot `index` of a `void **` table."""
    return builder.load(builder.gep(table, [I64(index)], source_etype=PTR), typ=PTR)


def dim(builder: ir.IRBuilder, dims: ir.Value, index: int) -> ir.Value:
    return builder.load(builder.gep(dims, [I64(index)], source_etype=I64), typ=I64)


@contextmanager
def counted_loop(builder: ir.IRBuilder, count: ir.Value):
    """`for i in range(count)`: the body is emitted inside the with-block; yields i."""
    function = builder.function
    before = builder.block
    head, body, done = (function.append_basic_block(n) for n in ("head", "body", "done"))
    builder.branch(head)
    builder.position_at_end(head)
    index = builder.phi(I64, name="i")
    index.add_incoming(I64(0), before)
    builder.cbranch(builder.icmp_signed("<", index, count), body, done)
    builder.position_at_end(body)
    yield index
    index.add_incoming(builder.add(index, I64(1)), builder.block)
    builder.branch(head)
    builder.position_at_end(done)


def element(builder: ir.IRBuilder, base: ir.Value, index: ir.Value, type_=F32) -> ir.Value:
    return builder.gep(base, [index], source_etype=type_)


def add_module() -> ir.Module:
    """Touches every table: arena = x·y; v += arena; out0 = x + exp(y); out1 = v (float32, n)."""
    module = ir.Module("add")
    builder, (inputs, variables, outputs, arena, dims, _) = entry_function(module)
    exp = module.declare_intrinsic("llvm.exp", [F32])
    n = dim(builder, dims, 0)
    x, y = table_entry(builder, inputs, 0), table_entry(builder, inputs, 1)
    v = table_entry(builder, variables, 0)
    out0, out1 = table_entry(builder, outputs, 0), table_entry(builder, outputs, 1)
    with counted_loop(builder, n) as i:
        xi = builder.load(element(builder, x, i), typ=F32)
        yi = builder.load(element(builder, y, i), typ=F32)
        builder.store(builder.fmul(xi, yi), element(builder, arena, i))
    with counted_loop(builder, n) as i:
        vi = builder.load(element(builder, v, i), typ=F32)
        ai = builder.load(element(builder, arena, i), typ=F32)
        builder.store(builder.fadd(vi, ai), element(builder, v, i))
    with counted_loop(builder, n) as i:
        xi = builder.load(element(builder, x, i), typ=F32)
        yi = builder.load(element(builder, y, i), typ=F32)
        builder.store(builder.fadd(xi, builder.call(exp, [yi])), element(builder, out0, i))
        builder.store(builder.load(element(builder, v, i), typ=F32), element(builder, out1, i))
    builder.ret(I32(0))
    return module


def run_add(address: int, keepalive: object, seed: int = 0, n: int = 1000) -> None:
    """Run add_module's entry once and compare every buffer it writes with NumPy."""
    rng = np.random.default_rng(seed)
    x, y, v = (rng.standard_normal(n).astype(np.float32) for _ in range(3))
    v_before = v.copy()
    out0, out1 = np.zeros(n, np.float32), np.zeros(n, np.float32)
    arena = np.zeros(n, np.float32)
    entry = call.EntryFunction(address, inputs=2, variables=1, outputs=2, dims=1,
                               keepalive=keepalive)
    assert entry([x, y], [v], [out0, out1], arena, [n]) == 0
    np.testing.assert_array_equal(arena, x * y)
    np.testing.assert_array_equal(v, v_before + x * y)
    np.testing.assert_allclose(out0, x + np.exp(y), rtol=1e-6, atol=1e-5)  # x may cancel
    np.testing.assert_array_equal(out1, v)


def gather_module() -> ir.Module:
    """out[i] = table[index[i]] for int64 indices, returning GATHER_ERROR (writing nothing
    more) at the first index outside [0, dims[1])."""
    module = ir.Module("gather")
    builder, (inputs, _, outputs, _, dims, _) = entry_function(module)
    n, size = dim(builder, dims, 0), dim(builder, dims, 1)
    table, indices = table_entry(builder, inputs, 0), table_entry(builder, inputs, 1)
    out = table_entry(builder, outputs, 0)
    with counted_loop(builder, n) as i:
        index = builder.load(element(builder, indices, i, I64), typ=I64)
        bad = builder.or_(builder.icmp_signed("<", index, I64(0)),
                          builder.icmp_signed(">=", index, size))
        with builder.if_then(bad, likely=False):
            builder.ret(I32(GATHER_ERROR))
        value = builder.load(element(builder, table, index), typ=F32)
        builder.store(value, element(builder, out, i))
    builder.ret(I32(0))
    return module


def gemm_module(dtype, trans_a: bool, trans_b: bool, alpha: float, beta: float) -> ir.Module:
    """C = alpha·op(A)·op(B) + beta·C through the context table; dims are m, n, k and the row
    strides lda, ldb, ldc."""
    module = ir.Module("gemm")
    builder, (inputs, _, outputs, _, dims, context) = entry_function(module)
    m, n, k, lda, ldb, ldc = (dim(builder, dims, i) for i in range(6))
    a, b = table_entry(builder, inputs, 0), table_entry(builder, inputs, 1)
    c = table_entry(builder, outputs, 0)
    blas.emit_gemm(builder, context, dtype, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb,
                   beta, c, ldc)
    builder.ret(I32(0))
    return module


def batched_gemm_module(dtype) -> ir.Module:
    """C[b] = A[b]·B[b] for dims (batch, m, n, k): a GEMM call inside a loop."""
    module = ir.Module("batched")
    builder, (inputs, _, outputs, _, dims, context) = entry_function(module)
    batch, m, n, k = (dim(builder, dims, i) for i in range(4))
    a, b = table_entry(builder, inputs, 0), table_entry(builder, inputs, 1)
    c = table_entry(builder, outputs, 0)
    _, scalar = blas._float_type(dtype)
    with counted_loop(builder, batch) as i:
        def matrix(base, rows, cols):
            return builder.gep(base, [builder.mul(i, builder.mul(rows, cols))],
                               source_etype=scalar)
        blas.emit_gemm(builder, context, dtype, False, False, m, n, k, 1.0, matrix(a, m, k), k,
                       matrix(b, k, n), n, 0.0, matrix(c, m, n), n)
    builder.ret(I32(0))
    return module


def spin_module() -> ir.Module:
    """outputs[0][0] = dims[0] steps of x = x·0.999 + 1 (float64): a long, unfoldable loop."""
    module = ir.Module("spin")
    builder, (_, _, outputs, _, dims, _) = entry_function(module)
    f64 = ir.DoubleType()
    before = builder.block
    function = builder.function
    head, done = function.append_basic_block("head"), function.append_basic_block("done")
    builder.branch(head)
    builder.position_at_end(head)
    i, x = builder.phi(I64), builder.phi(f64)
    i.add_incoming(I64(0), before)
    x.add_incoming(f64(0.0), before)
    step = builder.fadd(builder.fmul(x, f64(0.999)), f64(1.0))
    i.add_incoming(builder.add(i, I64(1)), head)
    x.add_incoming(step, head)
    builder.cbranch(builder.icmp_signed("<", builder.add(i, I64(1)), dim(builder, dims, 0)),
                    head, done)
    builder.position_at_end(done)
    builder.store(step, table_entry(builder, outputs, 0))
    builder.ret(I32(0))
    return module
