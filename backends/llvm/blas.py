"""BLAS for generated code: scipy's Fortran BLAS in a context table, and the IR that calls it.

Generated code never contains a BLAS address (object code is cached across processes, where
the library loads elsewhere): the entry function receives `void **context`, whose slot
`SLOTS.index(name)` holds the function pointer, filled in by this process at call time. The
functions are the BLAS routines `scipy.linalg.cython_blas` calls (the Fortran interface:
column-major, 32-bit ints, every argument by pointer; found through its library without
importing scipy, see function_pointer), so a row-major product C = A·B is computed as
Cᵀ = Bᵀ·Aᵀ.

BLAS runs on one thread; a big product is cut into pieces along the longer side of C, which
the thread team shares (parallel.py). OpenBLAS's own threads split a product statically and
wait at barriers for each other: on 2 shared cores a descheduled one made a 128³ product
take 30-40 ms instead of 0.08 ms. Team threads claim pieces, so a core another process holds
takes fewer, and the pieces depend on the sizes only, so the results do not depend on timing.
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
from backends.llvm.irutil import entry_alloca

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
    """The process's context table (kept alive): one function pointer per entry of SLOTS,
    then the generated GEMM's kernels (gemm.RUNTIME)."""
    from backends.llvm import gemm

    set_blas_threads(1)        # the team splits big products (see the module's docstring)
    pointers = [*map(function_pointer, SLOTS), *gemm.runtime_addresses()]
    return (ctypes.c_void_p * len(pointers))(*pointers)


def context_address() -> int:
    """The address to pass as the entry function's `context` argument."""
    return ctypes.addressof(context_table())


# NOTE: work is counted as for loops (parallel.expression_cost units) at MACS_PER_UNIT
# multiply-adds per unit, so with the default min_work products of ~2^21 multiply-adds and
# more (~10 µs on one core) are cut: each piece packs the whole of the operand the pieces
# share, a BLAS call has a fixed cost, and a team run costs its wake-up and barrier. On an
# idle machine, W2's step went from 526 (2^23) to 421 µs (2^21) and W7's from 3.1 to 2.2 ms;
# under load (2.6 on 2 cores) a 32x128x512 product ran 8x slower on the team than alone,
# which the team's back-off (parallel.py) limits.
# A big product is cut into SPLIT_PIECES pieces (each at least MIN_PIECE wide, a multiple of
# PIECE_ALIGN): 2 per thread of a 2-core team, so a piece a busy core gives up goes to the
# other, and each still a product BLAS runs at full speed.
MACS_PER_UNIT = 2
SPLIT_PIECES = 4
MIN_PIECE = 32
PIECE_ALIGN = 16


def emit_gemm(builder: ir.IRBuilder, context: ir.Value, dtype, trans_a: bool, trans_b: bool,
              m, n, k, alpha, a: ir.Value, lda, b: ir.Value, ldb, beta, c: ir.Value,
              ldc) -> None:
    """Emit C = alpha·op(A)·op(B) + beta·C for row-major matrices (op transposes if asked).

    C is m×n, op(A) m×k and op(B) k×n; lda, ldb and ldc are row strides in elements. Sizes
    and strides are IR integers of any width or Python ints; alpha and beta are IR floats of
    `dtype` or Python floats. The caller guarantees that sizes fit in 32 bits.
    """
    prefix, scalar = _float_type(dtype)
    sizes = [_as_i64(builder, v) for v in (m, n, k, lda, ldb, ldc)]
    alpha, beta = (scalar(v) if isinstance(v, (int, float)) else v for v in (alpha, beta))
    product = _Product(prefix, trans_a, trans_b, a, b, c, *sizes, alpha, beta)
    by_size(builder, *sizes[:3], lambda: product.emit(builder, context),
            lambda: _emit_split(builder, context, product))


def by_size(builder: ir.IRBuilder, m: ir.Value, n: ir.Value, k: ir.Value,
            alone: Callable[[], None], split: Callable[[], None]) -> None:
    """Emit alone() for a product of m·n·k multiply-adds (i64s) too small for the team, else
    split(), which cuts it into pieces; decided when the code is generated where the sizes are
    constants, else at run time."""
    macs = _mul(builder, _mul(builder, m, n), k)
    known = _static(macs)
    if not parallel.may_share(None if known is None else known // MACS_PER_UNIT):
        alone()
        return
    work = builder.udiv(macs, _I64(MACS_PER_UNIT))
    with builder.if_else(builder.icmp_signed(">=", work, parallel.min_work(builder)),
                         likely=False) as (big, small):
        with big:
            split()
        with small:
            alone()


class _Product:
    """One BLAS product's operands as IR values (sizes and strides i64)."""

    FIELDS = ("a", "b", "c", "m", "n", "k", "lda", "ldb", "ldc", "alpha", "beta")

    def __init__(self, prefix: str, trans_a: bool, trans_b: bool, *values: ir.Value):
        self.prefix, self.trans_a, self.trans_b = prefix, trans_a, trans_b
        self.values = dict(zip(self.FIELDS, values))

    def record_type(self) -> ir.LiteralStructType:
        return ir.LiteralStructType([v.type for v in self.values.values()])

    def piece(self, builder: ir.IRBuilder, rows: bool, lo: ir.Value, hi: ir.Value) -> _Product:
        """The product of C's rows (or columns) [lo, hi): the same call on shifted pointers."""
        v = dict(self.values)
        scalar = v["alpha"].type        # the elements' type

        def shifted(pointer: ir.Value, step: ir.Value) -> ir.Value:
            return builder.gep(pointer, [builder.mul(lo, step)], inbounds=True,
                               source_etype=scalar)
        one, size = _I64(1), builder.sub(hi, lo)
        if rows:      # rows of C and of op(A)
            v["a"] = shifted(v["a"], one if self.trans_a else v["lda"])
            v["c"], v["m"] = shifted(v["c"], v["ldc"]), size
        else:         # columns of C and of op(B)
            v["b"] = shifted(v["b"], v["ldb"] if self.trans_b else one)
            v["c"], v["n"] = shifted(v["c"], one), size
        return _Product(self.prefix, self.trans_a, self.trans_b, *v.values())

    def emit(self, builder: ir.IRBuilder, context: ir.Value) -> None:
        """The BLAS call. A product with one row or one column (known only at run time when
        m or n is symbolic) runs as GEMV: OpenBLAS's GEMM packs all of op(B) even for one row
        of A, ~10x the time of the matrix-vector product (72 µs against 7 µs for 1×784 by
        784×256)."""
        v, prefix, trans_a, trans_b = self.values, self.prefix, self.trans_a, self.trans_b
        m, n, k, lda, ldb, ldc = (v[f] for f in ("m", "n", "k", "lda", "ldb", "ldc"))
        a, b, c, alpha, beta = (_by_pointer(builder, v[f]) if f in ("alpha", "beta") else v[f]
                                for f in ("a", "b", "c", "alpha", "beta"))

        def gemm() -> None:
            # NOTE: in column-major terms C is the n×m matrix Cᵀ = op(B)ᵀ·op(A)ᵀ, and a
            # row-major matrix is its own transpose in column-major: the flags carry over,
            # operands swap.
            _call(builder, context, prefix + "gemm",
                  [_char(builder, "T" if trans_b else "N"),
                   _char(builder, "T" if trans_a else "N"), _int(builder, n), _int(builder, m),
                   _int(builder, k), alpha, b, _leading(builder, ldb), a,
                   _leading(builder, lda), beta, c, _leading(builder, ldc)])

        def one_row() -> None:
            # c[0, :] = op(B)ᵀ·(a's row); that row steps by lda when A is stored transposed.
            stored = (False, n, k) if trans_b else (True, k, n)
            _gemv(builder, context, prefix, stored, b, ldb, a, lda if trans_a else 1, alpha,
                  beta, c, 1)

        def one_column() -> None:
            # c[:, 0] = op(A)·(b's column), which steps by ldb unless B is stored transposed.
            stored = (True, k, m) if trans_a else (False, m, k)
            _gemv(builder, context, prefix, stored, a, lda, b, 1 if trans_b else ldb, alpha,
                  beta, c, ldc)

        # NOTE: GEMV returns at once when the inner size k is 0, leaving y as it was; GEMM
        # scales C by beta (zeroing it), so an empty inner product stays with GEMM.
        inner = _compare(builder, k, "!=", 0)
        _choose(builder, [(_both(builder, _compare(builder, m, "==", 1), inner), one_row),
                          (_both(builder, _compare(builder, n, "==", 1), inner), one_column)],
                gemm)


def _emit_split(builder: ir.IRBuilder, context: ir.Value, product: _Product) -> None:
    """The product in pieces along C's longer side, on the team or in order on this thread."""
    v = product.values
    m, n, inner = v["m"], v["n"], v["k"]
    rows = builder.icmp_signed(">=", m, n)
    extent = builder.select(rows, m, n)
    pieces = parallel.ceil_div(builder, extent, _I64(SPLIT_PIECES))
    aligned = builder.mul(parallel.ceil_div(builder, pieces, _I64(PIECE_ALIGN)),
                          _I64(PIECE_ALIGN))
    chunk = parallel.larger(builder, aligned, _I64(MIN_PIECE))
    record_type = product.record_type()
    record = entry_alloca(builder, record_type)
    for i, value in enumerate(v.values()):
        builder.store(value, builder.gep(record, [_I32(0), _I32(i)], inbounds=True))
    by_rows = entry_alloca(builder, ir.IntType(1))      # read by the pieces through the record
    builder.store(rows, by_rows)
    item_work = builder.udiv(builder.mul(builder.select(rows, n, m), inner), _I64(MACS_PER_UNIT))
    chunk_fn = _piece_function(builder.module, product, record_type)
    parallel.run_pieces(builder, lambda ty: entry_alloca(builder, ty), chunk_fn,
                        [record, by_rows, context], extent, item_work, chunk)


def _piece_function(module: ir.Module, product: _Product,
                    record_type: ir.LiteralStructType) -> ir.Function:
    """i32 piece(record, by_rows, context, lo, hi, index, scratch): one piece of a product of
    this kind (made once per module)."""
    name = (f"graphc.blas.{product.prefix}gemm.{'T' if product.trans_a else 'N'}"
            f"{'T' if product.trans_b else 'N'}.piece")
    existing = module.globals.get(name)
    if existing is not None:
        return existing
    fn = ir.Function(module, ir.FunctionType(_I32, [_PTR, _PTR, _PTR, *parallel.CHUNK_ARGS]),
                     name=name)
    fn.linkage = "internal"
    fn.attributes.add("nounwind")
    record, by_rows, context, lo, hi = fn.args[:5]
    b = ir.IRBuilder(fn.append_basic_block("start"))
    loaded = [b.load(b.gep(record, [_I32(0), _I32(i)], inbounds=True, source_etype=record_type),
                     typ=t) for i, t in enumerate(record_type.elements)]
    whole = _Product(product.prefix, product.trans_a, product.trans_b, *loaded)
    rows = b.load(by_rows, typ=ir.IntType(1))
    with b.if_else(rows) as (along_rows, along_columns):
        with along_rows:
            whole.piece(b, True, lo, hi).emit(b, context)
        with along_columns:
            whole.piece(b, False, lo, hi).emit(b, context)
    b.ret(_I32(0))
    return fn


def _gemv(builder: ir.IRBuilder, context: ir.Value, prefix: str, stored: tuple, a: ir.Value,
          lda, x: ir.Value, incx, alpha: ir.Value, beta: ir.Value, y: ir.Value, incy) -> None:
    """y = alpha·op(A)·x + beta·y, A a row-major rows×cols matrix, stored = (trans, rows, cols)."""
    trans, rows, cols = stored
    # NOTE: column-major, A is the cols×rows matrix Aᵀ, so the transpose flag flips.
    _call(builder, context, prefix + "gemv",
          [_char(builder, "N" if trans else "T"), _int(builder, cols), _int(builder, rows),
           alpha, a, _leading(builder, lda), x, _leading(builder, incx), beta, y,
           _leading(builder, incy)])


def _compare(builder: ir.IRBuilder, size: ir.Value, op: str, value: int) -> ir.Value | bool:
    """size op value (an i64), as a Python bool when size is a constant."""
    known = _static(size)
    if known is not None:
        return known == value if op == "==" else known != value
    return builder.icmp_signed(op, size, ir.Constant(size.type, value))


def _both(builder: ir.IRBuilder, x: ir.Value | bool, y: ir.Value | bool) -> ir.Value | bool:
    if isinstance(x, bool) or isinstance(y, bool):
        return (y if x else False) if isinstance(x, bool) else (x if y else False)
    return builder.and_(x, y)


def _choose(builder: ir.IRBuilder, cases: list[tuple[ir.Value | bool, Callable[[], None]]],
            otherwise: Callable[[], None]) -> None:
    """Emit the first case whose condition holds, else `otherwise` (static conditions fold)."""
    if not cases:
        otherwise()
        return
    (condition, emit), rest = cases[0], cases[1:]
    if condition is True:
        emit()
        return
    if condition is False:
        _choose(builder, rest, otherwise)
        return
    with builder.if_else(condition) as (then, other):
        with then:
            emit()
        with other:
            _choose(builder, rest, otherwise)


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


def _as_i64(builder: ir.IRBuilder, value) -> ir.Value:
    """A Python int or an IR integer as an i64."""
    if isinstance(value, int) or _static(value) is not None:
        return _I64(value if isinstance(value, int) else value.constant)
    return builder.sext(value, _I64) if value.type.width < 64 else value


def _static(value: ir.Value) -> int | None:
    """The value of an IR integer constant, else None."""
    return value.constant if isinstance(value, ir.Constant) else None


def _mul(builder: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    """x·y of i64s, folded when both are constants (llvmlite's builder does not fold)."""
    if _static(x) is not None and _static(y) is not None:
        return _I64(x.constant * y.constant)
    return builder.mul(x, y)


def _by_pointer(builder: ir.IRBuilder, value: ir.Value) -> ir.Value:
    """A stack slot holding `value` (Fortran takes every argument by reference)."""
    slot = entry_alloca(builder, value.type)
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
