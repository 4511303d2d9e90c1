"""`python -m benchmarks.llvm_compile_time`: cold compile vs warm loads of a realistic module.

The module is one entry function running a few hundred small elementwise loops over float32
buffers in an arena (the shape of a lowered training step: every loop reads earlier results),
or the same loops as internal functions the entry calls. Reported per pipeline: cold (IR
generation, O3, code generation, loading), warm in memory (the library still loaded, or only
its object code), warm from disk in this process and in a new one, and the run time of the
code at n=4096, so the pipelines' code quality is compared too.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from llvmlite import ir

from backends.llvm import cache, call, jit

PTR, I32, I64, F32 = ir.PointerType(), ir.IntType(32), ir.IntType(64), ir.FloatType()
ROOT = Path(__file__).resolve().parents[1]


def _loop(builder: ir.IRBuilder, count: ir.Value, body) -> None:
    """Emit `for i in range(count): body(i)`."""
    function = builder.function
    before = builder.block
    head, loop, done = (function.append_basic_block() for _ in range(3))
    builder.branch(head)
    builder.position_at_end(head)
    index = builder.phi(I64)
    index.add_incoming(I64(0), before)
    builder.cbranch(builder.icmp_signed("<", index, count), loop, done)
    builder.position_at_end(loop)
    body(index)
    index.add_incoming(builder.add(index, I64(1)), builder.block)
    builder.branch(head)
    builder.position_at_end(done)


def _elementwise(builder: ir.IRBuilder, module: ir.Module, step: int, a, b, out, n) -> None:
    """One of four elementwise loops (add, multiply, axpy, max) out = f(a, b)."""
    maxnum = module.globals.get("llvm.maxnum.f32") or ir.Function(
        module, ir.FunctionType(F32, [F32, F32]), "llvm.maxnum.f32")

    def body(i):
        x = builder.load(builder.gep(a, [i], source_etype=F32), typ=F32)
        y = builder.load(builder.gep(b, [i], source_etype=F32), typ=F32)
        result = [lambda: builder.fadd(x, y), lambda: builder.fmul(x, y),
                  lambda: builder.fsub(x, builder.fmul(y, F32(0.5))),
                  lambda: builder.call(maxnum, [x, y])][step % 4]()
        builder.store(result, builder.gep(out, [i], source_etype=F32))

    _loop(builder, n, body)


def loops_module(loops: int, separate_functions: bool) -> ir.Module:
    """The entry runs `loops` loops; buffer j = f(buffer j-1, buffer j-3), buffer 0 the input."""
    module = ir.Module("loops")
    entry = ir.Function(module, ir.FunctionType(I32, [PTR] * 6), "entry")
    inputs, _, outputs, arena, dims, _ = entry.args
    builder = ir.IRBuilder(entry.append_basic_block())
    n = builder.load(dims, typ=I64)
    buffers = [builder.load(inputs, typ=PTR)]
    kernel_type = ir.FunctionType(ir.VoidType(), [PTR, PTR, PTR, I64])
    for step in range(loops):
        out = builder.gep(arena, [builder.mul(n, I64(step))], source_etype=F32)
        a, b = buffers[-1], buffers[max(0, len(buffers) - 3)]
        if separate_functions:
            kernel = ir.Function(module, kernel_type, f"kernel{step}")
            kernel.linkage = "internal"
            kernel.attributes.add("noinline")
            kernel_builder = ir.IRBuilder(kernel.append_basic_block())
            _elementwise(kernel_builder, module, step, *kernel.args)
            kernel_builder.ret_void()
            builder.call(kernel, [a, b, out, n])
        else:
            _elementwise(builder, module, step, a, b, out, n)
        buffers.append(out)
    result = builder.load(outputs, typ=PTR)
    _elementwise(builder, module, 0, buffers[-1], buffers[-1], result, n)
    builder.ret(I32(0))
    return module


def child(key: str, loops: int, separate: bool, large: bool) -> None:
    """In a new process: time the load from disk, report it and what was compiled."""
    started = time.perf_counter()
    pipeline = jit.Pipeline(large_functions=large)
    loaded = cache.load_or_build(key, lambda: loops_module(loops, separate), ["entry"], pipeline)
    elapsed = time.perf_counter() - started
    print(json.dumps({"load_s": elapsed, "compilations": jit.compile_count(),
                      "disk_hits": cache.stats().disk_hits, "entry": bool(loaded["entry"])}))


def run_times(results: list[dict], n: int = 4096, rounds: int = 15) -> None:
    """Median seconds per call at size n, into each result as "run_s"; the codes take turns
    within every round, so a noisy neighbour slows them all alike."""
    x = np.random.default_rng(0).random(n, dtype=np.float32)
    out = np.empty(n, np.float32)
    entries = [(call.EntryFunction(r["loaded"]["entry"], 1, 0, 1, 1, keepalive=r["loaded"]),
                np.empty(n * r["loops"], np.float32)) for r in results]
    times: list[list[float]] = [[] for _ in results]
    for _ in range(rounds):
        for (entry, arena), samples in zip(entries, times):
            started = time.perf_counter()
            for _ in range(10):
                entry([x], [], [out], arena, [n])
            samples.append((time.perf_counter() - started) / 10)
    for result, samples in zip(results, times):
        result["run_s"] = statistics.median(samples)


def measure(loops: int, separate: bool, large: bool, directory: Path) -> dict:
    cache.clear_memory()
    before = cache.stats()
    key = f"bench-{loops}-{separate}-{large}-{time.time()}"
    pipeline = jit.Pipeline(large_functions=large)

    def load():
        return cache.load_or_build(key, lambda: loops_module(loops, separate), ["entry"],
                                   pipeline)

    def timed() -> float:
        started = time.perf_counter()
        load()  # NOTE: the result is dropped, so the library unloads right away
        return time.perf_counter() - started

    started = time.perf_counter()
    text = str(loops_module(loops, separate))
    generate_s = time.perf_counter() - started
    started = time.perf_counter()
    loaded = load()
    cold_s = time.perf_counter() - started
    live_s = timed()
    del loaded
    object_s = timed()  # from the object code kept in memory
    cache.clear_memory()
    disk_s = timed()
    after = cache.stats()
    assert (after.builds - before.builds, after.disk_hits - before.disk_hits) == (1, 1), after
    loaded = load()
    process = subprocess.run(
        [sys.executable, "-m", "benchmarks.llvm_compile_time", "--child", key, str(loops),
         str(int(separate)), str(int(large))], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "GRAPHC_CACHE_DIR": str(directory)}, check=True)
    new_process = json.loads(process.stdout.strip().splitlines()[-1])
    assert new_process["compilations"] == 0 and new_process["disk_hits"] == 1, new_process
    object_bytes = len(cache.read_entry(cache.entry_path(cache.full_key(key, pipeline)),
                                        cache.full_key(key, pipeline)))
    return {"loops": loops, "layout": "functions" if separate else "one function",
            "pipeline": pipeline.tag(), "ir_kb": len(text) / 1e3, "object_kb": object_bytes / 1e3,
            "generate_s": generate_s, "cold_s": cold_s, "memory_live_s": live_s,
            "memory_object_s": object_s, "disk_s": disk_s,
            "new_process_s": new_process["load_s"], "loaded": loaded}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.llvm_compile_time", description=__doc__)
    ap.add_argument("--loops", type=int, nargs="+", default=[300])
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        key, loops, separate, large = args.child
        child(key, int(loops), bool(int(separate)), bool(int(large)))
        return 0
    with tempfile.TemporaryDirectory() as directory:
        os.environ["GRAPHC_CACHE_DIR"] = directory
        print(f"{'loops':>5} {'layout':>12} {'pipeline':>9} {'IR kB':>6} {'obj kB':>6} "
              f"{'gen ms':>7} {'cold ms':>8} {'live ms':>8} {'obj ms':>7} {'disk ms':>7} "
              f"{'newproc':>7} {'run µs':>7}")
        results = [measure(loops, separate, large, Path(directory)) for loops in args.loops
                   for separate in (False, True) for large in (False, True)]
        run_times(results)
        for r in results:
            print(f"{r['loops']:>5} {r['layout']:>12} {r['pipeline']:>9} "
                          f"{r['ir_kb']:>6.0f} {r['object_kb']:>6.0f} "
                          f"{1e3 * r['generate_s']:>7.1f} {1e3 * r['cold_s']:>8.0f} "
                          f"{1e3 * r['memory_live_s']:>8.3f} {1e3 * r['memory_object_s']:>7.2f} "
                          f"{1e3 * r['disk_s']:>7.2f} {1e3 * r['new_process_s']:>7.2f} "
                          f"{1e6 * r['run_s']:>7.0f}", flush=True)
    print("\ncold = generate IR + O3 + codegen + load; live = library still loaded; obj = object "
          "code kept in memory;\ndisk = this process from disk; newproc = load_or_build in a new "
          "process (imports excluded); run = one call at n=4096")
    return 0


if __name__ == "__main__":
    sys.exit(main())
