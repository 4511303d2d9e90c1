"""`python -m benchmarks.vmath_accuracy`: max ulp error per function, vmath beside its peers.

Inputs are the sweeps the tests use (backends/llvm/_accuracy.py): every binade of each
function's interesting range plus evenly spaced values. Errors are against float64 references
for float32 results and long double ones for float64 results (erf: math.erf for f64).
Columns: vmath f32 and f64, NumPy's own float32 result, and glibc's libmvec (`_ZGVdN8v_*f`).
"""

from __future__ import annotations

import argparse

import numpy as np

from backends.llvm import _accuracy as acc
from backends.llvm._testing import compile_loop, extern_emitter, has_symbol, load_libmvec
from backends.llvm.vmath import BINARY, EMITTERS


def max_ulp(name: str, dtype: np.dtype, impl: str, points: int) -> tuple[float, str] | None:
    """The worst error of one implementation over the sweep and where it is (None: no such
    implementation)."""
    case = acc.CASES[name]
    xs = acc.inputs(case, dtype, points)
    if impl == "numpy":
        got = case.expected(*xs)
    elif impl == "libmvec":
        symbol = f"_ZGVdN8{'v' * case.arity}_{name}f"
        if not has_symbol(symbol):
            return None
        got = compile_loop(extern_emitter(symbol), dtype, case.arity, width=8)(*xs)
    else:
        got = compile_loop(EMITTERS.get(name) or BINARY[name], dtype, case.arity)(*xs)
    err = acc.ulp_errors(got, case.reference(dtype, *xs), dtype)
    i = int(np.argmax(err))
    return float(err[i]), ", ".join(f"{x[i]:.7g}" for x in xs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.vmath_accuracy", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--log2n", type=int, default=20, help="points per range, as a power of 2")
    args = ap.parse_args(argv)
    columns = [("vmath f32", acc.F32, "vmath"), ("vmath f64", acc.F64, "vmath"),
               ("numpy f32", acc.F32, "numpy")]
    if load_libmvec():
        columns.append(("libmvec f32", acc.F32, "libmvec"))
    print(f"max ulp error over 2^{args.log2n} points per range (worst input in brackets)")
    print(f"{'function':9}" + "".join(f"{title:>28}" for title, _, _ in columns))
    for name in acc.CASES:
        cells = []
        for _, dtype, impl in columns:
            found = max_ulp(name, dtype, impl, 2 ** args.log2n)
            cells.append("-" if found is None else f"{found[0]:8.3g} [{found[1]}]"[:27])
        print(f"{name:9}" + "".join(f"{cell:>28}" for cell in cells), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
