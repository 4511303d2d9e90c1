"""BLAS for generated code: scipy's Fortran BLAS in a context table, and the IR that calls it.

Generated code never contains a BLAS address (object code is cached across processes, where
the library loads elsewhere): the entry function receives `void **context`, whose slot
`SLOTS.index(name)` holds the function pointer, filled in by this process at call time. The
functions are the BLAS routines `scipy.linalg.cython_blas` calls (the Fortran interface:
column-major, 32-bit ints, every argument by pointer; found through its library without
importing scipy, see function_pointer), so a row-major product C = A·B is computed as
Cᵀ = Bᵀ·Aᵀ.
"""
from __future__ import annotations

import ctypes
import functools
import importlib.machinery
import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
from llvmlite import ir

from backends.llvm import parallel

SLOTS = ("sgemm", "dgemm", "sgemv", "dgemv")  # the order of the context table

_PTR = ir.PointerType()
_I8, _I32, _I64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
_FLOATS = {np.dtype(np.float32): ("s", ir.FloatType()),
           np.dtype(np.float64): ("d", ir.DoubleType())}


# NOTE: prototypes of our own, rather than setting argtypes on the shared ctypes.pythonapi
_capsule_name = ctypes.PYFUNCTYPE(ctypes.c_char_p, ctypes.py_object)(
    ("PyCapsule_GetName", ctypes.pythonapi))
_capsule_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
    ("PyCapsule_GetPointer", ctypes.pythonapi))


@functools.cache
def _cython_blas():
    """scipy's cython_blas extension module.

    NOTE: loaded from its file where it is found, because `import scipy.linalg.cython_blas`
    first imports all of scipy.linalg (~0.15-0.3 s, most of a cached model's load time).
    """
    path = _cython_blas_path()
    if path is not None:
        spec = importlib.util.spec_from_file_location("scipy.linalg.cython_blas", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    from scipy.linalg import cython_blas
    return cython_blas


@functools.cache
def _cython_blas_path() -> Path | None:
    """The file of scipy's cython_blas extension, found without importing scipy."""
    spec = importlib.util.find_spec("scipy")
    if spec is None or spec.origin is None:
        return None
    directory = Path(spec.origin).parent / "linalg"
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = directory / f"cython_blas{suffix}"
        if path.is_file():
            return path
    return None


@functools.cache
def _blas_library() -> ctypes.CDLL | None:
    """cython_blas's file opened as a plain shared library (no module initialized), whose
    handle finds the BLAS it links, or None."""
    path = _cython_blas_path()
    try:
        return None if path is None else ctypes.CDLL(str(path))
    except OSError:
        return None


def function_pointer(name: str) -> int:
    """The address of scipy's Fortran BLAS routine `name` (for example "sgemm").

    NOTE: cython_blas's own functions only forward their arguments to the BLAS it links,
    under BLAS_FUNC(name): `scipy_sgemm_` in scipy's OpenBLAS wheels, `sgemm_` in builds
    against a system BLAS. That routine, found through cython_blas's library handle (which
    searches the libraries it links), is what the context holds: importing the extension
    would first import scipy (~6 ms of a cached model's ~13 ms load in a new process). The
    wrapper's capsule is the fallback.
    """
    library = _blas_library()
    for symbol in (f"scipy_{name}_", f"{name}_"):
        try:
            return ctypes.cast(getattr(library, symbol), ctypes.c_void_p).value
        except AttributeError:
            continue
    return wrapper_pointer(name)


def wrapper_pointer(name: str) -> int:
    """The address of cython_blas's own function `name` (from its capsule)."""
    capsule = _cython_blas().__pyx_capi__[name]
    return _capsule_pointer(capsule, _capsule_name(capsule))


@functools.cache
def context_table() -> ctypes.Array:
    """The process's context table: one function pointer per entry of SLOTS (kept alive)."""
    control = _thread_control()
    if control is not None:        # generated code picks the thread count of each product
        parallel.control_blas_threads(ctypes.cast(control[0], ctypes.c_void_p).value)
    return (ctypes.c_void_p * len(SLOTS))(*map(function_pointer, SLOTS))


def context_address() -> int:
    """The address to pass as the entry function's `context` argument."""
    return ctypes.addressof(context_table())


def emit_gemm(builder: ir.IRBuilder, context: ir.Value, dtype, trans_a: bool, trans_b: bool,
              m, n, k, alpha, a: ir.Value, lda, b: ir.Value, ldb, beta, c: ir.Value,
              ldc) -> None:
    """Emit C = alpha·op(A)·op(B) + beta·C for row-major matrices (op transposes if asked).

    C is m×n, op(A) m×k and op(B) k×n; lda, ldb and ldc are row strides in elements. Sizes
    and strides are IR integers of any width or Python ints; alpha and beta are IR floats of
    `dtype` or Python floats. The caller guarantees that sizes fit in 32 bits.
    """
    prefix, scalar = _float_type(dtype)
    parallel.emit_blas_threads(builder, _product(builder, [2, m, n, k]))
    # NOTE: in column-major terms C is the n×m matrix Cᵀ = op(B)ᵀ·op(A)ᵀ, and a row-major
    # matrix is its own transpose in column-major: the flags carry over, operands swap.
    args = [_char(builder, "T" if trans_b else "N"), _char(builder, "T" if trans_a else "N"),
            _int(builder, n), _int(builder, m), _int(builder, k),
            _scalar(builder, scalar, alpha), b, _leading(builder, ldb), a, _leading(builder, lda),
            _scalar(builder, scalar, beta), c, _leading(builder, ldc)]
    _call(builder, context, prefix + "gemm", args)


def emit_gemv(builder: ir.IRBuilder, context: ir.Value, dtype, trans_a: bool, m, n, alpha,
              a: ir.Value, lda, x: ir.Value, incx, beta, y: ir.Value, incy) -> None:
    """Emit y = alpha·op(A)·x + beta·y for a row-major m×n matrix A with row stride lda."""
    prefix, scalar = _float_type(dtype)
    parallel.emit_blas_threads(builder, _product(builder, [2, m, n]))
    # NOTE: column-major, A is the n×m matrix Aᵀ, so the transpose flag flips.
    args = [_char(builder, "N" if trans_a else "T"), _int(builder, n), _int(builder, m),
            _scalar(builder, scalar, alpha), a, _leading(builder, lda), x, _int(builder, incx),
            _scalar(builder, scalar, beta), y, _int(builder, incy)]
    _call(builder, context, prefix + "gemv", args)


def _float_type(dtype) -> tuple[str, ir.Type]:
    try:
        return _FLOATS[np.dtype(dtype)]
    except KeyError:
        raise TypeError(f"BLAS has no routine for {np.dtype(dtype)}; generate a loop") from None


def _call(builder: ir.IRBuilder, context: ir.Value, name: str, args: list[ir.Value]) -> None:
    """Call the routine in `name`'s slot of the context table."""
    signature = ir.FunctionType(ir.VoidType(), [_PTR] * len(args))
    slot = builder.gep(context, [_I64(SLOTS.index(name))], inbounds=True, source_etype=_PTR)
    # NOTE: loading as a typed function pointer gives llvmlite the callee's signature; it
    # prints as `void (ptr, ...)*`, which LLVM reads as a plain `ptr`.
    routine = builder.load(slot, name=name, typ=signature.as_pointer())
    builder.call(routine, args)


def _product(builder: ir.IRBuilder, factors: list) -> ir.Value:
    """The product of Python ints and IR integers, as an i64."""
    total = _I64(1)
    for f in factors:
        if isinstance(f, int):
            f = _I64(f)
        elif f.type.width < 64:
            f = builder.sext(f, _I64)
        total = builder.mul(total, f)
    return total


def _by_pointer(builder: ir.IRBuilder, value: ir.Value) -> ir.Value:
    """A stack slot holding `value` (Fortran takes every argument by reference)."""
    # NOTE: the slot lives in the entry block, so a call inside a loop does not grow the stack.
    # From another block it goes at the top of the entry block, through a builder of its own:
    # llvmlite's builder keeps its position as an index, which an insertion before it shifts.
    entry_block = builder.function.entry_basic_block
    if builder.block is entry_block:
        slot = builder.alloca(value.type)
    else:
        entry = ir.IRBuilder()
        entry.position_at_start(entry_block)
        slot = entry.alloca(value.type)
    builder.store(value, slot)
    return slot


def _char(builder: ir.IRBuilder, flag: str) -> ir.Value:
    return _by_pointer(builder, _I8(ord(flag)))


def _int(builder: ir.IRBuilder, value) -> ir.Value:
    return _by_pointer(builder, _as_i32(builder, value))


def _leading(builder: ir.IRBuilder, value) -> ir.Value:
    """A leading dimension, at least 1 as BLAS demands even when the matrix is empty."""
    value = _as_i32(builder, value)
    one = _I32(1)
    return _by_pointer(builder, builder.select(builder.icmp_signed("<", value, one), one, value))


def _as_i32(builder: ir.IRBuilder, value) -> ir.Value:
    if isinstance(value, int):
        return _I32(value)
    if value.type.width > 32:
        return builder.trunc(value, _I32)
    return value if value.type.width == 32 else builder.sext(value, _I32)


def _scalar(builder: ir.IRBuilder, scalar: ir.Type, value) -> ir.Value:
    return _by_pointer(builder, scalar(value) if isinstance(value, (int, float)) else value)


# (setter, getter) pairs by which OpenBLAS builds export their thread count
_THREAD_CONTROLS = (("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
                    ("openblas_set_num_threads", "openblas_get_num_threads"))


@functools.cache
def _thread_control() -> tuple[Callable[[int], None], Callable[[], int]] | None:
    """The BLAS library's thread-count setter and getter, if it has any we know."""
    # NOTE: dlsym on cython_blas's own handle also searches the libraries it links, so this
    # finds the BLAS that scipy's pointers call, not NumPy's separately bundled OpenBLAS.
    library = _blas_library() or ctypes.CDLL(_cython_blas().__file__)
    for setter, getter in _THREAD_CONTROLS:
        try:
            set_threads, get_threads = getattr(library, setter), getattr(library, getter)
        except AttributeError:
            continue
        set_threads.argtypes, set_threads.restype = [ctypes.c_int], None
        get_threads.argtypes, get_threads.restype = [], ctypes.c_int
        return set_threads, get_threads
    return None


def blas_threads() -> int | None:
    """How many threads scipy's BLAS uses, or None if its library offers no way to tell."""
    control = _thread_control()
    return None if control is None else control[1]()


def set_blas_threads(count: int) -> bool:
    """Make scipy's BLAS use `count` threads; False if its library offers no way to."""
    control = _thread_control()
    if control is None:
        return False
    control[0](count)
    return True
