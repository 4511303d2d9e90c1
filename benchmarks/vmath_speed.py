"""`python -m benchmarks.vmath_speed`: vmath against NumPy, libmvec and scalar libm calls.

Each function runs over 2^24 float32 elements (`--log2n`), every implementation writing into a
preallocated aligned buffer; the implementations take turns within each repeat and the table
shows medians and each one's time relative to NumPy's in the same run. Two passes: the whole
array at once (bound by memory bandwidth on this machine), then the same elements as calls on a
2^16-element chunk that stays in L2 (`--chunk`), which shows the arithmetic.

- vmath: a scalar loop calling the vmath emitter, widened by LLVM's loop vectorizer.
- vmath-zmm: the same emitter on <16 x float> (f32) / <8 x double> (f64) directly.
- libmvec: glibc's vector math library, `_ZGVdN8v_expf` (ymm) and `_ZGVeN16v_expf` (zmm)
  called on vectors from JIT code; the backend could target it instead of vmath.
- libm: a scalar loop calling `expf` etc.: what LLVM makes of `llvm.exp` today.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import scipy.special

from backends.llvm._testing import (
    Kernel,
    aligned,
    compile_loop,
    extern_emitter,
    has_symbol,
    load_libmvec,
)
from backends.llvm.vmath import BINARY, EMITTERS

NUMPY: dict[str, Callable[..., np.ndarray]] = {
    "exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "sin": np.sin,
    "cos": np.cos, "tanh": np.tanh, "erf": scipy.special.erf, "pow": np.power,
}
INPUTS: dict[str, tuple[tuple[float, float], ...]] = {  # uniform ranges, one per argument
    "exp": ((-20, 20),), "expm1": ((-20, 20),), "log": ((0, 100),), "log1p": ((-0.9, 100),),
    "sin": ((-100, 100),), "cos": ((-100, 100),), "tanh": ((-10, 10),), "erf": ((-5, 5),),
    "pow": ((0, 10), (-5, 5)),
}


def kernels(name: str, dtype: np.dtype, have_libmvec: bool) -> dict[str, Kernel]:
    """Every JIT implementation of `name` for `dtype`."""
    f32 = dtype == np.float32
    arity = 2 if name in BINARY else 1
    emit = EMITTERS.get(name) or BINARY[name]
    out = {"vmath": compile_loop(emit, dtype, arity),
           "vmath-zmm": compile_loop(emit, dtype, arity, width=16 if f32 else 8)}
    suffix, v = "f" if f32 else "", "v" * arity
    lanes_y, lanes_z = (8, 16) if f32 else (4, 8)
    for impl, symbol, lanes in [("libmvec-ymm", f"_ZGVdN{lanes_y}{v}_{name}{suffix}", lanes_y),
                                ("libmvec-zmm", f"_ZGVeN{lanes_z}{v}_{name}{suffix}", lanes_z)]:
        if have_libmvec and has_symbol(symbol):
            out[impl] = compile_loop(extern_emitter(symbol), dtype, arity, width=lanes)
    out["libm"] = compile_loop(extern_emitter(name + suffix), dtype, arity)
    return out


def bench(name: str, dtype: np.dtype, n: int, chunk: int, repeats: int, have_libmvec: bool
          ) -> dict[str, float]:
    """Median seconds per implementation to compute `name` on n elements, `chunk` per call."""
    rng = np.random.default_rng(0)
    xs = [aligned(rng.uniform(lo, hi, chunk).astype(dtype)) for lo, hi in INPUTS[name]]
    out = aligned(np.empty(chunk, dtype))
    calls = range(n // chunk)
    runs: dict[str, Callable[[], object]] = {}
    compiled = kernels(name, dtype, have_libmvec)  # NOTE: keeps the JIT code alive
    for impl, k in compiled.items():
        args = [x.ctypes.data for x in xs] + [out.ctypes.data, chunk // k.lanes]
        runs[impl] = lambda raw=k.raw, args=args: [raw(*args) for _ in calls]
    kwargs = {"dtype": dtype} if name == "erf" else {}  # scipy's erf has no float32 loop
    runs["numpy"] = lambda: [NUMPY[name](*xs, out=out, **kwargs) for _ in calls]
    times: dict[str, list[float]] = {impl: [] for impl in runs}
    for _ in range(repeats):
        for impl, run in runs.items():  # interleaved: drift on a shared machine hits all alike
            t0 = time.perf_counter()
            run()
            times[impl].append(time.perf_counter() - t0)
    return {impl: statistics.median(ts) for impl, ts in times.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.vmath_speed", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--log2n", type=int, default=24, help="elements per call, as a power of 2")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--chunk", type=int, default=16, help="log2 of the in-cache chunk")
    ap.add_argument("--only", action="append", metavar="NAME", help="one function; repeatable")
    args = ap.parse_args(argv)
    dtype, n = np.dtype(args.dtype), 2 ** args.log2n
    have_libmvec = load_libmvec()
    impls = ["numpy", "vmath", "vmath-zmm"]
    impls += ["libmvec-ymm", "libmvec-zmm"] if have_libmvec else []
    impls += ["libm"]
    for chunk in (n, min(n, 2 ** args.chunk)):
        how = "one call" if chunk == n else f"{n // chunk} calls of {chunk}"
        print(f"\n{n} {dtype} elements in {how}, median of {args.repeats}: ms (ratio to numpy)"
              + ("" if have_libmvec else "; libmvec not found"))
        print(f"{'function':9}" + "".join(f"{impl:>19}" for impl in impls))
        for name in args.only or list(NUMPY):
            med = bench(name, dtype, n, chunk, args.repeats, have_libmvec)
            print(f"{name:9}" + "".join(
                f"{med[i] * 1e3:11.1f} ({med[i] / med['numpy']:5.2f})" if i in med else f"{'-':>19}"
                for i in impls), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
