"""GEMM called from generated code through the context table (one-row or one-column
products as GEMV), checked against NumPy."""
from __future__ import annotations

import ctypes
import functools
import struct

import numpy as np
import pytest

from backends.llvm import blas, call, jit
from tests.llvm_modules import batched_gemm_module, entry_function, gemm_module

TOLERANCE = {np.float32: 2e-5, np.float64: 1e-12}


@functools.cache
def gemm_entry(dtype, trans_a: bool, trans_b: bool, alpha: float, beta: float):
    library = jit.load_object(jit.compile_object(
        gemm_module(dtype, trans_a, trans_b, alpha, beta)), ["entry"])
    return call.EntryFunction(library["entry"], inputs=2, variables=0, outputs=1, dims=6,
                              context=blas.context_address(), keepalive=library)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a, trans_b", [(False, False), (True, False), (False, True),
                                              (True, True)])
@pytest.mark.parametrize("m, n, k", [(7, 5, 3), (1, 9, 4), (6, 1, 1), (16, 16, 16), (3, 4, 0)])
def test_row_major_gemm(dtype, trans_a: bool, trans_b: bool, m: int, n: int, k: int) -> None:
    rng = np.random.default_rng(m * 100 + n * 10 + k)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    c = rng.standard_normal((m, n)).astype(dtype)
    expected = 2.0 * ((a.T if trans_a else a) @ (b.T if trans_b else b)) + 0.5 * c
    status = gemm_entry(dtype, trans_a, trans_b, 2.0, 0.5)(
        [a, b], [], [c], None, [m, n, k, a.shape[1], b.shape[1], n])
    assert status == 0
    np.testing.assert_allclose(c, expected, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_on_submatrices_uses_the_row_strides(dtype) -> None:
    """Operands that are column slices of wider arrays: leading dimensions exceed the widths."""
    rng = np.random.default_rng(0)
    wide_a, wide_b = rng.random((6, 10)).astype(dtype), rng.random((4, 9)).astype(dtype)
    wide_c = np.zeros((6, 8), dtype)
    a, b, c = wide_a[:, 2:6], wide_b[:, 1:6], wide_c[:, :5]  # 6×4 @ 4×5 -> 6×5 views
    status = gemm_entry(dtype, False, False, 1.0, 0.0)([a, b], [], [c], None,
                                                       [6, 5, 4, 10, 9, 8])
    assert status == 0
    np.testing.assert_allclose(c, a @ b, rtol=TOLERANCE[dtype])
    np.testing.assert_array_equal(wide_c[:, 5:], 0)


@pytest.mark.parametrize("trans_a, trans_b", [(False, False), (True, False), (False, True),
                                              (True, True)])
@pytest.mark.parametrize("m, n, k", [(1, 5, 4), (6, 1, 3), (1, 1, 4), (1, 5, 0), (6, 1, 0)])
def test_one_row_or_column_products_on_submatrices(trans_a: bool, trans_b: bool, m: int,
                                                   n: int, k: int) -> None:
    """The GEMV paths: vectors that step by a leading dimension, outputs inside wider arrays."""
    rng = np.random.default_rng(m * 100 + n * 10 + k + 4 * trans_a + 2 * trans_b)

    def inside_wider(rows: int, cols: int) -> np.ndarray:
        return rng.standard_normal((rows, cols + 3))[:, 1:cols + 1]
    a = inside_wider(*((k, m) if trans_a else (m, k)))
    b = inside_wider(*((n, k) if trans_b else (k, n)))
    wide_c = np.full((m, n + 2), 7.0)
    c = wide_c[:, :n]
    expected = 2.0 * ((a.T if trans_a else a) @ (b.T if trans_b else b)) + 0.5 * c
    # NOTE: the row strides of the wider arrays (NumPy reports 0 for an empty view's strides)
    lds = [a.shape[1] + 3, b.shape[1] + 3, n + 2]
    status = gemm_entry(np.float64, trans_a, trans_b, 2.0, 0.5)([a, b], [], [c], None,
                                                               [m, n, k, *lds])
    assert status == 0
    np.testing.assert_allclose(c, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(wide_c[:, n:], 7.0)


@pytest.mark.parametrize("m, n, routine", [(1, 8, "sgemv"), (8, 1, "sgemv"), (8, 8, "sgemm")])
def test_a_static_vector_product_calls_gemv_alone(m: int, n: int, routine: str) -> None:
    """OpenBLAS's GEMM packs all of B even for one row of A: one row or column goes to GEMV."""
    from llvmlite import ir

    module = ir.Module()
    builder, (_, _, _, _, _, context) = entry_function(module)
    null = ir.PointerType()(None)
    blas.emit_gemm(builder, context, np.float32, False, False, m, n, 4, 1.0, null, 4, null, n,
                   0.0, null, n)
    calls = {name for name in ("sgemm", "sgemv") if f"%\"{name}\" = load" in str(module)}
    assert calls == {routine}


def test_gemm_inside_a_loop() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.random((50, 3, 4)), rng.random((50, 4, 2))
    c = np.zeros((50, 3, 2))
    library = jit.load_object(jit.compile_object(batched_gemm_module(np.float64)), ["entry"])
    run = call.EntryFunction(library["entry"], inputs=2, variables=0, outputs=1, dims=4,
                             context=blas.context_address(), keepalive=library)
    assert run([a, b], [], [c], None, [50, 3, 2, 4]) == 0
    np.testing.assert_allclose(c, a @ b, rtol=1e-12)


def test_context_table_holds_scipy_pointers_and_code_holds_none() -> None:
    table = blas.context_table()
    assert blas.context_address() == ctypes.addressof(table)
    pointers = [blas.function_pointer(name) for name in blas.SLOTS]
    assert list(table)[:len(pointers)] == pointers and all(table)
    code = jit.compile_object(gemm_module(np.float32, False, False, 1.0, 0.0))
    for pointer in table:           # BLAS's routines, then the generated GEMM's kernels
        assert struct.pack("<Q", pointer) not in code


@pytest.mark.parametrize("name", blas.SLOTS)
def test_the_context_holds_the_routines_scipys_wrappers_call(name: str) -> None:
    """The context's routine (found without importing scipy) and cython_blas's own wrapper
    compute the same bits."""
    dtype = np.float32 if name[0] == "s" else np.float64
    scalar = ctypes.c_float if name[0] == "s" else ctypes.c_double
    rng = np.random.default_rng(3)
    m, n, k = 7, 5, 3
    a, b = rng.standard_normal((k, m)).astype(dtype), rng.standard_normal((n, k)).astype(dtype)
    x = rng.standard_normal(max(m, n)).astype(dtype)

    def run(pointer: int) -> np.ndarray:
        c = np.ones((n, m), dtype)
        ints = [ctypes.c_int(v) for v in (m, n, k, m, k, m, 1, 1)]
        alpha, beta = scalar(1.5), scalar(0.25)
        ref = ctypes.byref
        if name.endswith("gemm"):
            args = [ctypes.c_char_p(b"N"), ctypes.c_char_p(b"N"), ref(ints[0]), ref(ints[1]),
                    ref(ints[2]), ref(alpha), a.ctypes.data, ref(ints[3]), b.ctypes.data,
                    ref(ints[4]), ref(beta), c.ctypes.data, ref(ints[5])]
        else:
            args = [ctypes.c_char_p(b"N"), ref(ints[0]), ref(ints[2]), ref(alpha), a.ctypes.data,
                    ref(ints[3]), x.ctypes.data, ref(ints[6]), ref(beta), c.ctypes.data,
                    ref(ints[7])]
        ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * len(args))(pointer)(*args)
        return c
    direct, wrapped = run(blas.function_pointer(name)), run(blas.wrapper_pointer(name))
    assert direct.tobytes() == wrapped.tobytes()
    assert not np.all(direct == 1)


def test_integer_gemm_is_refused() -> None:
    from llvmlite import ir

    builder, (_, _, _, _, _, context) = entry_function(ir.Module())
    one, null = ir.IntType(64)(1), ir.PointerType()(None)
    with pytest.raises(TypeError, match="int32"):
        blas.emit_gemm(builder, context, np.int32, False, False, one, one, one, 1, null, one,
                       null, one, 0, null, one)


def test_blas_thread_count() -> None:
    before = blas.blas_threads()
    if before is None:
        pytest.skip("scipy's BLAS exports no thread-count control this module knows")
    try:
        assert blas.set_blas_threads(1)
        assert blas.blas_threads() == 1
    finally:
        blas.set_blas_threads(before)
    assert blas.blas_threads() == before
