"""vmath: each function JIT-compiled in a loop, measured in ulps against references, edge
values compared exactly with NumPy, the loops checked to vectorize without calls."""

from __future__ import annotations

import itertools
import re
from decimal import Decimal as D
from decimal import localcontext
from functools import lru_cache

import numpy as np
import pytest
from llvmlite import ir

from backends.llvm import _accuracy as acc
from backends.llvm._testing import Kernel, compile_loop
from backends.llvm.vmath import BINARY, EMITTERS, coeffs, fit, remez

NAMES = sorted(EMITTERS) + sorted(BINARY)
DTYPES = [acc.F32, acc.F64]
BUDGET = 4.0  # max ulp error accepted; measured values are printed by benchmarks/vmath_accuracy.py
POINTS = {acc.F32: 2 ** 20, acc.F64: 2 ** 18}  # per range; f64 references are the slow part
LIBM_CALLS = {("pow", acc.F64)}  # f64 pow calls the C library's pow (documented in power.py)


@lru_cache(maxsize=None)
def kernel(name: str, dtype: np.dtype, width: int = 0) -> Kernel:
    emit = EMITTERS.get(name) or BINARY[name]
    return compile_loop(emit, dtype, arity=acc.CASES[name].arity, width=width)


def _worst(err: np.ndarray, xs: tuple[np.ndarray, ...]) -> str:
    i = int(np.argmax(err))
    return f"{err[i]:.2f} ulp at x = {', '.join(repr(x[i]) for x in xs)}"


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_max_ulp_error_over_a_sweep(name: str, dtype: np.dtype) -> None:
    case = acc.CASES[name]
    xs = acc.inputs(case, dtype, POINTS[dtype])
    err = acc.ulp_errors(kernel(name, dtype)(*xs), case.reference(dtype, *xs), dtype)
    assert err.max() <= BUDGET, f"{name} {dtype}: {_worst(err, xs)}"


def _check_against_numpy(name: str, dtype: np.dtype, xs: tuple[np.ndarray, ...]) -> None:
    """NumPy's answer exactly where that is nan, or where the exact answer is +-0, +-inf or +-1
    (sign included); elsewhere within budget of the accurate reference (signs must agree), for
    inputs in the case's ranges."""
    case = acc.CASES[name]
    got, want, ref = kernel(name, dtype)(*xs), case.expected(*xs), case.reference(dtype, *xs)
    exact = np.isnan(want) | np.isinf(ref) | (ref == 0) | (np.abs(ref) == 1)
    mismatch = exact & ~((got == want) & (np.signbit(got) == np.signbit(want))
                         | np.isnan(got) & np.isnan(want))
    bad = [tuple(x[i] for x in xs) + (got[i], want[i]) for i in np.flatnonzero(mismatch)]
    assert not bad, f"{name} {dtype} (inputs..., got, numpy): {bad[:8]}"
    err = acc.ulp_errors(got, ref, dtype)
    if case.arity == 1:  # e.g. sin/cos promise accuracy only up to a limit
        err[~np.any([(lo <= xs[0]) & (xs[0] <= hi) for lo, hi in case.ranges[dtype]], 0)] = 0
    assert err.max() <= BUDGET, f"{name} {dtype}: {_worst(err, xs)}"


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", sorted(EMITTERS))
def test_special_values_match_numpy(name: str, dtype: np.dtype) -> None:
    _check_against_numpy(name, dtype, (acc.special_inputs(dtype, acc.CASES[name].domain),))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_pow_special_cases_match_numpy(dtype: np.dtype) -> None:
    values = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0, 2.5, -2.5, np.inf, -np.inf,
              np.nan, 1e-40, -1e-40, 1e30, -1e30, 7.0, -7.0, 1e-3, 16777217.0, 2.0 ** 60]
    pairs = np.array(list(itertools.product(values, values)))
    with np.errstate(over="ignore"):
        xs = (pairs[:, 0].astype(dtype), pairs[:, 1].astype(dtype))
    _check_against_numpy("pow", dtype, xs)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_scalar_loop_vectorizes_without_calls(name: str, dtype: np.dtype) -> None:
    k = kernel(name, dtype)
    assert f"define internal {'double' if dtype == acc.F64 else 'float'} @\"graphc.vmath." in k.ir
    calls = [line.strip() for line in k.asm.splitlines() if re.search(r"\bcall", line)]
    if (name, dtype) in LIBM_CALLS:
        assert calls, "expected libm calls (if pow f64 is vectorized now, update LIBM_CALLS)"
        return
    assert re.search(r"%[yz]mm\d", k.asm), f"{name} {dtype}: no 256/512-bit vector registers"
    assert not calls, f"{name} {dtype} calls out: {calls[:3]}"


@pytest.mark.parametrize("lanes", [1, 2], ids=["ymm", "zmm"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_vector_types_give_the_scalar_loops_bits(name: str, dtype: np.dtype, lanes: int) -> None:
    width = lanes * (8 if dtype == acc.F32 else 4)
    xs = acc.inputs(acc.CASES[name], dtype, 4099)
    scalar, vector = kernel(name, dtype)(*xs), kernel(name, dtype, width)(*xs)
    np.testing.assert_array_equal(vector.view(f"u{dtype.itemsize}"),
                                  scalar.view(f"u{dtype.itemsize}"))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", ["sin", "cos"])
def test_sin_cos_of_huge_arguments_stay_in_range(name: str, dtype: np.dtype) -> None:
    big = np.finfo(dtype).max
    x = acc.sweep(-float(big), float(big), 2 ** 16, dtype)
    y = kernel(name, dtype)(np.concatenate([x, np.array([np.inf, -np.inf, np.nan], dtype)]))
    assert np.all(np.abs(y[:-3]) <= 1), f"{name}: {y[:-3][~(np.abs(y[:-3]) <= 1)][:5]}"
    assert np.isnan(y[-3:]).all()


@pytest.mark.parametrize("dtype, limit", [(acc.F32, 2.0 ** 23), (acc.F64, 2.0 ** 51)], ids=str)
@pytest.mark.parametrize("name", ["sin", "cos"])
def test_sin_cos_accurate_up_to_the_documented_limit(name: str, dtype: np.dtype,
                                                     limit: float) -> None:
    x = np.linspace(1e5, limit, 2 ** 16).astype(dtype)
    err = acc.ulp_errors(kernel(name, dtype)(x), acc.CASES[name].reference(dtype, x), dtype)
    assert err.max() <= BUDGET, f"{name} {dtype}: {_worst(err, (x,))}"


def test_emitters_reject_non_float_types() -> None:
    module = ir.Module()
    fn = ir.Function(module, ir.FunctionType(ir.IntType(32), [ir.IntType(32)]), name="f")
    builder = ir.IRBuilder(fn.append_basic_block())
    with pytest.raises(TypeError, match="vmath.exp takes f32/f64"):
        EMITTERS["exp"](builder, fn.args[0])


def test_one_definition_per_function_and_type() -> None:
    module = ir.Module()
    f32x8 = ir.VectorType(ir.FloatType(), 8)
    fn = ir.Function(module, ir.FunctionType(f32x8, [f32x8]), name="f")
    builder = ir.IRBuilder(fn.append_basic_block())
    builder.ret(EMITTERS["exp"](builder, EMITTERS["exp"](builder, fn.args[0])))
    text = str(module)
    assert text.count('define internal <8 x float> @"graphc.vmath.exp.v8f32"') == 1
    assert "alwaysinline" in text


def test_coefficient_tables_are_what_the_fitter_makes() -> None:
    table = next(t for t in fit.tables() if (t.name, t.prec) == ("LOG", "f32"))
    cs, err = fit.fit(table)
    assert cs == coeffs.LOG["f32"][0][3]
    assert err < 0.05


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_max_ulp_error_over_a_dense_sweep(name: str, dtype: np.dtype) -> None:
    case = acc.CASES[name]
    xs = acc.inputs(case, dtype, 2 ** 24 if dtype == acc.F32 else 2 ** 21)
    chunk = 2 ** 21
    for start in range(0, xs[0].size, chunk):  # in chunks: the references are wide
        part = tuple(x[start:start + chunk] for x in xs)
        err = acc.ulp_errors(kernel(name, dtype)(*part), case.reference(dtype, *part), dtype)
        assert err.max() <= BUDGET, f"{name} {dtype}: {_worst(err, part)}"


@pytest.mark.slow
def test_f64_erf_against_exact_decimal_values() -> None:
    if not acc.HAS_WIDE_LONGDOUBLE:
        pytest.skip("needs an 80-bit long double to hold the exact reference")
    x = acc.sweep(-6.5, 6.5, 2000, acc.F64)
    with localcontext() as ctx:
        ctx.prec = remez.PREC
        exact = np.array([str(remez.erf(D(float(v)))) for v in x]).astype(np.longdouble)
    err = acc.ulp_errors(kernel("erf", acc.F64)(x), exact, acc.F64)
    assert err.max() <= BUDGET, f"erf f64: {_worst(err, (x,))}"
