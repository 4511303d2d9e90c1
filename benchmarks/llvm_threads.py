"""`python -m benchmarks.llvm_threads`: native kernels on one thread and on the team, side by side.

Every row is timed in the same run as its baselines, with the implementations taking turns
within each repeat (the machine is shared and noisy: read the ratios, not the times).

- W4, sigmoid(x)·tanh(0.5x+1)+softplus(x) over 2^24 float32, as one fused loop; a big sum
  (2^24 float32 to one number) and a column sum ([2^16, 256] over axis 0); a copy-like kernel
  (-x). Each as NumPy, JAX jit (when installed), graphc-llvm on 1 thread and on the team;
  GB/s counts bytes read plus written, as does the copy bandwidth (np.copyto, one thread).
  "team ran k/m" says in how many of the team's timed calls it did run (it backs off while
  the machine is loaded).
- `--widths`: loops compiled for 256- and 512-bit vectors (one thread, CPU time).
- `--interleave`: loops of transcendentals keeping 1, 2 or 4 vectors in flight per iteration
  (one thread, CPU time).
- `--sweep`: 1 thread against the team over sizes 2^8 .. 2^22, for a cheap kernel (-x) and
  W4, with the work units the kernels estimate (parallel.expression_cost): the threshold
  (parallel.MIN_WORK) sits where the team starts to win.
- `--blas`: small products by scipy's sgemm (what native code calls) and NumPy's matmul, with
  scipy's BLAS on 1 thread and on the team's count, alone and right after a team kernel.
- `--handoff`: how long a cache line takes to go from one thread to another (two threads
  bumping a shared counter in turn), and W3's step on 1 and 2 threads, every few seconds.
  On this VM the two vCPUs are sometimes near (26-78 ns) and sometimes far (190-260 ns);
  far, data one core writes and the other reads is slow, and W3's team loses to one thread.
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

import graphc as gc
from backends.llvm import cache, parallel, target
from backends.llvm.function import NativeFunction

N = 1 << 24


def w4(x):
    return gc.sigmoid(x) * gc.tanh(0.5 * x + 1) + gc.softplus(x)


def neg(x):
    return -x


def w4_numpy(x: np.ndarray, out: np.ndarray, tmp: np.ndarray) -> np.ndarray:
    np.multiply(x, 0.5, out=tmp)
    tmp += 1
    np.tanh(tmp, out=tmp)
    np.negative(x, out=out)
    np.exp(out, out=out)
    out += 1
    np.divide(tmp, out, out=tmp)
    np.logaddexp(x, 0, out=out)
    out += tmp
    return out


def fused(build: Callable) -> NativeFunction:
    """build(x) over a symbolic float32 vector, compiled by graphc-llvm (which fuses it)."""
    x = gc.placeholder((None,), "float32", name="x")
    return gc.compile(inputs=[x], outputs=build(x), backend="llvm")


def jax_jit(build: Callable) -> Callable | None:
    try:
        import jax
    except ImportError:
        return None
    return jax.jit(build)


def timed(runs: dict[str, Callable], repeats: int) -> dict[str, float]:
    """Median seconds per run of each, the runs interleaved within every repeat."""
    for run in runs.values():
        run()
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) for name, s in samples.items()}


def team(function: Callable, threads: int) -> Callable:
    def run():
        with parallel.settings(threads=threads):
            return function()
    return run


def table(title: str, medians: dict[str, float], nbytes: int, copy: float) -> None:
    base = medians.get("jax") or medians["numpy"]
    print(f"\n{title}: ms, GB/s (read + written), % of copy bandwidth, ratio to "
          f"{'jax' if 'jax' in medians else 'numpy'}")
    for name, seconds in medians.items():
        rate = nbytes / seconds / 1e9
        print(f"  {name:16} {seconds * 1e3:9.2f} ms {rate:7.2f} GB/s {100 * rate / copy:5.0f}%"
              f" {seconds / base:7.2f}x")


def main_rows(repeats: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(N, dtype=np.float32) * 4
    src, dst = np.ones(N, np.float32), np.empty(N, np.float32)
    out, tmp = np.empty_like(x), np.empty_like(x)
    n = parallel.threads()
    f = fused(w4)
    total = gc.placeholder((None,), "float32", name="x")
    summed = gc.compile(inputs=[total], outputs=gc.sum(total), backend="llvm")
    cols = gc.placeholder((None, 256), "float32", name="c")
    column_sums = gc.compile(inputs=[cols], outputs=gc.sum(cols, axis=0), backend="llvm")
    negated = gc.compile(inputs=[total], outputs=-total, backend="llvm")
    matrix = x.reshape(-1, 256)
    copy_runs = {"np.copyto": lambda: np.copyto(dst, src)}
    copy = 2 * 4 * N / timed(copy_runs, repeats)["np.copyto"] / 1e9
    print(f"copy bandwidth (np.copyto, 64 MB, one thread): {copy:.2f} GB/s; team of {n}")
    jw4, jsum, jcols = (jax_jit(fn) for fn in (w4_jax, lambda a: a.sum(),
                                               lambda a: a.sum(axis=0)))
    rows = [("W4 (one fused loop)", 8 * N, f, lambda: w4_numpy(x, out, tmp), jw4, x),
            ("sum of 2^24", 4 * N, summed, lambda: x.sum(), jsum, x),
            ("column sums [2^16, 256]", 4 * N, column_sums, lambda: matrix.sum(axis=0), jcols,
             matrix),
            ("-x (copy-like)", 8 * N, negated, lambda: np.negative(x, out=out), None, x)]
    for title, nbytes, native, numpy_run, jax_fn, data in rows:
        runs = {"numpy": numpy_run}
        if jax_fn is not None:
            import jax
            device = jax.device_put(data)
            runs["jax"] = lambda fn=jax_fn, d=device: fn(d).block_until_ready()
        runs["graphc 1 thread"] = team(lambda fn=native, d=data: fn(d), 1)
        runs[f"graphc {n} threads"] = team(lambda fn=native, d=data: fn(d), n)
        before = parallel.team_runs()
        table(title, timed(runs, repeats), nbytes, copy)
        print(f"  (team ran {parallel.team_runs() - before}/{repeats + 1} calls of {n} threads)")
    with parallel.settings(threads=1):
        alone = f(x), summed(x), column_sums(matrix)
    with parallel.settings(threads=n, min_work=0):
        shared = f(x), summed(x), column_sums(matrix)
    same = all(a.tobytes() == b.tobytes() for a, b in zip(alone, shared))
    print(f"\nW4, the sum and the column sums: the same bits on 1 thread and on {n}: {same}")


def w4_jax(x):
    import jax
    import jax.numpy as jnp
    return jax.nn.sigmoid(x) * jnp.tanh(0.5 * x + 1) + jax.nn.softplus(x)


def widths(repeats: int) -> None:
    """One thread, loops compiled for 256- and 512-bit vectors: CPU time per call (steadier than
    wall time on a shared machine for one thread), W4, -x and a sum."""
    kernels: dict[str, dict[str, Callable]] = {}
    bound = parallel.ARITHMETIC_BOUND
    for bits in (256, 512):
        target.VECTOR_BITS_OVERRIDE, parallel.ARITHMETIC_BOUND = bits, 0   # every loop
        try:
            v = gc.placeholder((None,), "float32", name="x")
            kernels[f"{bits}-bit"] = {
                "W4": cache_free(lambda: fused(w4)), "-x": cache_free(lambda: fused(neg)),
                "sum": cache_free(lambda: gc.compile(inputs=[v], outputs=gc.sum(v),
                                                     backend="llvm"))}
        finally:
            target.VECTOR_BITS_OVERRIDE, parallel.ARITHMETIC_BOUND = None, bound
    one_thread_table(kernels, repeats)


def interleaving(repeats: int) -> None:
    """One thread, elementwise loops of transcendentals with 1, 2 and 4 vectors in flight per
    iteration (parallel.LATENCY_VECTORS): CPU time per call."""
    functions = {"W4": w4, "exp": gc.exp, "tanh": gc.tanh, "softplus": gc.softplus,
                 "erf": gc.erf, "sin": gc.sin}
    kernels: dict[str, dict[str, Callable]] = {}
    chosen = parallel.LATENCY_VECTORS
    for vectors in (1, 2, 4):
        parallel.LATENCY_VECTORS = vectors
        try:
            kernels[f"{vectors} vector{'s' * (vectors > 1)}"] = {
                name: cache_free(lambda f=f: fused(f)) for name, f in functions.items()}
        finally:
            parallel.LATENCY_VECTORS = chosen
    one_thread_table(kernels, repeats)


def one_thread_table(kernels: dict[str, dict[str, Callable]], repeats: int) -> None:
    """Each kernel variant (outer key) of each function on 2^24 float32 and on 2^16 (in L2),
    one thread, CPU time per call, taking turns; ratios to the first variant."""
    x = np.random.default_rng(0).standard_normal(N, dtype=np.float32) * 4
    variants = list(kernels)
    print(f"\none thread, ms of CPU time per call (median), relative to {variants[0]}")
    for name in kernels[variants[0]]:
        for data, what in ((x, "2^24"), (x[:1 << 16], "2^16, in L2")):
            calls = range(1 if data is x else 256)
            samples: dict[str, list[float]] = {v: [] for v in variants}
            with parallel.settings(threads=1):
                for _ in range(repeats):
                    for variant, compiled in kernels.items():
                        start = time.process_time()
                        for _ in calls:
                            compiled[name](data)
                        samples[variant].append((time.process_time() - start) / len(calls))
            medians = {v: statistics.median(samples[v]) * 1e3 for v in variants}
            cells = "  ".join(f"{v} {t:8.3f} ({t / medians[variants[0]]:4.2f})"
                              for v, t in medians.items())
            print(f"  {name:8} {what:11}: {cells}", flush=True)


def cache_free(build: Callable) -> Callable:
    """build() with the object-code cache off (its key sees neither the vector width nor the
    interleaving)."""
    import os

    saved = os.environ.get("GRAPHC_CACHE_DIR")
    os.environ["GRAPHC_CACHE_DIR"] = "off"
    cache.clear_memory()
    try:
        return build()
    finally:
        cache.clear_memory()
        if saved is None:
            del os.environ["GRAPHC_CACHE_DIR"]
        else:
            os.environ["GRAPHC_CACHE_DIR"] = saved


def sweep(repeats: int) -> None:
    n = parallel.threads()
    rng = np.random.default_rng(0)
    kernels = {"-x": (fused(neg), 3), "W4": (fused(w4), _w4_cost())}
    print(f"\none call alone vs on a team of {n} (min_work=0 forces it): µs per call, the best"
          f" and the median of {repeats * 20} calls each, taking turns")
    for name, (f, cost) in kernels.items():
        for log2 in range(8, 23, 2):
            data = rng.standard_normal(1 << log2, dtype=np.float32)
            samples: dict[str, list[float]] = {"alone": [], "team": []}
            for _ in range(repeats * 20):
                for how, threads in (("alone", 1), ("team", n)):
                    with parallel.settings(threads=threads, min_work=0):
                        start = time.perf_counter()
                        f(data)
                        samples[how].append(time.perf_counter() - start)
            best = {how: min(s) * 1e6 for how, s in samples.items()}
            median = {how: statistics.median(s) * 1e6 for how, s in samples.items()}
            print(f"  {name:3} 2^{log2:<3} work {cost << log2:>12,}  best alone "
                  f"{best['alone']:9.1f} team {best['team']:9.1f} "
                  f"({best['team'] / best['alone']:4.2f})   median "
                  f"alone {median['alone']:9.1f} team {median['team']:9.1f} "
                  f"({median['team'] / median['alone']:4.2f})", flush=True)


def _w4_cost() -> int:
    from backends.llvm.kernels.fused import _compose
    from graphc import scalar

    x = gc.placeholder((None,), "float32", name="x")
    y = w4(x)
    return parallel.expression_cost([_compose(gc.Graph([x], [y]), {id(x): scalar.arg(0)})[id(y)]])


def blas(repeats: int) -> None:
    """Small products by scipy's sgemm (the BLAS graphc's native code calls) and NumPy's
    matmul (its own OpenBLAS), alone and right after a team kernel."""
    from scipy.linalg.blas import sgemm

    from backends.llvm.blas import blas_threads, set_blas_threads

    n = parallel.threads()
    rng = np.random.default_rng(0)
    big = fused(w4)
    x = rng.standard_normal(1 << 21, dtype=np.float32)
    saved = blas_threads()
    print(f"\nn x n x n float32 products, µs (median of {repeats * 20}): alone, and right "
          f"after a W4 kernel of 2^21 elements on the team of {n}")
    try:
        for threads in sorted({1, n}):
            set_blas_threads(threads)
            for size in (32, 128, 512):
                a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
                for name, product in (("scipy sgemm", lambda a=a, b=b: sgemm(1.0, a, b)),
                                      ("numpy matmul", lambda a=a, b=b: a @ b)):
                    samples: dict[str, list[float]] = {"alone": [], "after": []}
                    for _ in range(repeats * 20):
                        start = time.perf_counter()
                        product()
                        samples["alone"].append(time.perf_counter() - start)
                        big(x)
                        start = time.perf_counter()
                        product()
                        samples["after"].append(time.perf_counter() - start)
                    alone, after = (statistics.median(samples[k]) * 1e6 for k in samples)
                    print(f"  scipy BLAS threads {threads}, {name:12} n={size:4}: alone "
                          f"{alone:9.1f}  after the team {after:9.1f} ({after / alone:4.2f})",
                          flush=True)
    finally:
        if saved:
            set_blas_threads(saved)


_HANDOFF_IR = """
define void @handoff(ptr %counter, i64 %rounds, i64 %me) {
entry:
  br label %spin
spin:
  %seen = load atomic i64, ptr %counter acquire, align 8
  %done = icmp sge i64 %seen, %rounds
  br i1 %done, label %exit, label %look
look:
  %turn = and i64 %seen, 1
  %mine = icmp eq i64 %turn, %me
  br i1 %mine, label %bump, label %spin
bump:
  %next = add i64 %seen, 1
  store atomic i64 %next, ptr %counter release, align 8
  br label %spin
exit:
  ret void
}
"""


def handoff(repeats: int) -> None:
    """Nanoseconds per handoff of a cache line between two threads, next to W3 on 1 and 2
    threads, `repeats` times a few seconds apart (the vCPUs' placement changes over time)."""
    import ctypes
    import threading

    from backends.llvm import jit
    from benchmarks.w3_lenet import WORKLOAD
    library = jit.load_object(jit.compile_object(_HANDOFF_IR), ["handoff"])
    bump = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)(
        library["handoff"])     # (a CFUNCTYPE call releases the GIL: both threads spin)
    counter = (ctypes.c_int64 * 16)()

    def per_handoff(rounds: int = 200_000) -> float:
        counter[0] = 0
        other = threading.Thread(target=bump, args=(ctypes.addressof(counter), rounds, 1))
        other.start()
        start = time.perf_counter()
        bump(ctypes.addressof(counter), rounds, 0)
        other.join()
        return (time.perf_counter() - start) / rounds * 1e9

    step = WORKLOAD.build("graphc-llvm").step

    def w3(threads: int) -> float:
        with parallel.settings(threads=threads):
            for _ in range(10):
                step()
            start = time.perf_counter()
            for _ in range(100):
                step()
            return (time.perf_counter() - start) / 100 * 1e3

    print("\nhandoff ns (three probes) | W3 ms/step on 1 and 2 threads")
    for _ in range(repeats):
        probes = " ".join(f"{per_handoff():6.1f}" for _ in range(3))
        print(f"{time.strftime('%H:%M:%S')} {probes} | {w3(1):.3f} {w3(2):.3f}", flush=True)
        time.sleep(3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.llvm_threads", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--widths", action="store_true", help="256- vs 512-bit vectors only")
    ap.add_argument("--interleave", action="store_true",
                    help="1, 2 or 4 vectors per iteration of transcendental loops only")
    ap.add_argument("--sweep", action="store_true", help="the threshold sweep only")
    ap.add_argument("--blas", action="store_true", help="small sgemm next to the team only")
    ap.add_argument("--handoff", action="store_true",
                    help="cache-line handoffs between two threads, and W3, over time only")
    args = ap.parse_args(argv)
    parts = ((widths, args.widths), (interleaving, args.interleave), (sweep, args.sweep),
             (blas, args.blas), (handoff, args.handoff))
    chosen = [f for f, flag in parts if flag] or [main_rows]
    for part in chosen:
        part(args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
