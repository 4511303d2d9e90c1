"""`python -m benchmarks.llvm_call_overhead`: what one call of a native entry costs in Python.

The entry does nothing but return 0, so every microsecond measured is calling convention:
the ctypes call, pointer tables and address lookups. Ways of calling it, from the bare foreign
call to `call.EntryFunction` with new input arrays on every call (a training step's feeds), and
the naive way (a new ctypes table and `array.ctypes.data` per array per call). The baseline, in
the same run, is one tiny NumPy ufunc call, `np.add(x, y, out=z)` on 4 floats.
"""
from __future__ import annotations

import ctypes
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
from llvmlite import ir

from backends.llvm import call, jit

INPUTS, VARIABLES, OUTPUTS = 2, 6, 1  # an MLP step: x, y; 3 weights and 3 biases; the loss


def empty_entry() -> jit.Library:
    """An entry that returns 0 at once."""
    module = ir.Module("empty")
    entry = ir.Function(module, ir.FunctionType(ir.IntType(32), [ir.PointerType()] * 6), "entry")
    ir.IRBuilder(entry.append_basic_block()).ret(ir.IntType(32)(0))
    return jit.load_object(jit.compile_object(module), ["entry"])


def per_call(action: Callable[[], object], repeats: int = 15, number: int = 20_000) -> float:
    """Median seconds per call over `repeats` runs of `number` calls."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(number):
            action()
        times.append((time.perf_counter() - started) / number)
    return statistics.median(times)


def main() -> int:
    library = empty_entry()
    address = library["entry"]
    rng = np.random.default_rng(0)
    x4, y4, z4 = (np.zeros(4, np.float32) for _ in range(3))
    feeds = [[rng.random((32, 16), dtype=np.float32) for _ in range(INPUTS)] for _ in range(2)]
    variables = [np.zeros(64, np.float32) for _ in range(VARIABLES)]
    outputs = [np.zeros(1, np.float32) for _ in range(OUTPUTS)]
    arena = np.zeros(4096, np.float32)
    dims = [32]

    raw = call.ENTRY_SIGNATURE(address)
    tables = [(ctypes.c_void_p * 8)() for _ in range(3)]
    raw_args = [ctypes.addressof(t) for t in tables] + [arena.ctypes.data,
                                                        ctypes.addressof(tables[0]), 0]
    entry = call.EntryFunction(address, INPUTS, VARIABLES, OUTPUTS, len(dims), keepalive=library)
    alternating = iter(range(sys.maxsize))

    def naive() -> int:
        pointer_tables = [(ctypes.c_void_p * len(group))(*[a.ctypes.data for a in group])
                          for group in (feeds[0], variables, outputs)]
        dims_table = (ctypes.c_int64 * 1)(*dims)
        return raw(*map(ctypes.addressof, pointer_tables), arena.ctypes.data,
                   ctypes.addressof(dims_table), 0)

    def new_feeds() -> int:
        return entry(feeds[next(alternating) % 2], variables, outputs, arena, dims)

    cases = {
        "numpy: np.add on 4 floats (baseline)": lambda: np.add(x4, y4, out=z4),
        "bare ctypes call, 6 int arguments": lambda: raw(*raw_args),
        "EntryFunction, same arrays as last call": lambda: entry(feeds[0], variables, outputs,
                                                                 arena, dims),
        "EntryFunction, new input arrays each call": new_feeds,
        "naive: new ctypes tables, array.ctypes.data": naive,
    }
    assert all(case() == 0 for name, case in cases.items() if not name.startswith("numpy"))
    results = {name: per_call(case) for name, case in cases.items()}
    baseline = results["numpy: np.add on 4 floats (baseline)"]
    print(f"{INPUTS} inputs, {VARIABLES} variables, {OUTPUTS} outputs, {len(dims)} dim; "
          "median of 15 x 20000 calls\n")
    for name, seconds in results.items():
        print(f"{name:<46} {1e6 * seconds:6.2f} µs  {seconds / baseline:5.2f}x baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
