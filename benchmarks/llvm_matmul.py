"""`python -m benchmarks.llvm_matmul`: native matmul against NumPy, and where BLAS starts to pay.

Four tables, each measured in one run against a baseline from the same run:
- GEMM 1024³ float32 (W5): GFLOP/s of a compiled `a @ b` (one BLAS call) and of np.matmul.
- W2's MLP products (batch 128), forward and backward, transposed operands included: a
  compiled single matmul against np.matmul on the same views.
- The crossover between BLAS and the generated loop for small float products: a chain of
  REPEATS products x @ w @ w ... compiled once per path (LOOP_FLOPS forced), time per product.
  LOOP_FLOPS in backends/llvm/kernels/contraction.py is chosen from this table.
- The generated GEMM against BLAS on the products of LeNet, an LSTM and W2 (the shapes
  behind contraction.py's choice between them).

Times are the process's CPU time, BLAS single-threaded (NumPy's and scipy's alike): on a
shared, loaded 2-core machine wall time mostly measures the scheduler.
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # NOTE: read when NumPy loads its BLAS

import numpy as np  # noqa: E402

REPEATS = 32


def per_call(action: Callable[[], object], seconds: float = 0.3, runs: int = 7) -> float:
    """Median CPU seconds per call: `runs` runs of as many calls as fill `seconds` / runs."""
    clock = time.process_time
    action()
    started, count = clock(), 0
    while clock() - started < 0.02:
        action()
        count += 1
    number = max(1, int(count * seconds / runs / 0.02))
    times = []
    for _ in range(runs):
        started = clock()
        for _ in range(number):
            action()
        times.append((clock() - started) / number)
    return statistics.median(times)


def compiled_product(a_shape, b_shape, transpose_a=False, transpose_b=False, dtype="float32"):
    import graphc as gc
    a, b = gc.placeholder(a_shape, dtype), gc.placeholder(b_shape, dtype)
    return gc.compile([a, b], (a.T if transpose_a else a) @ (b.T if transpose_b else b),
                      backend="llvm")


def gemm_table(rng) -> None:
    n = 1024
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    out = np.empty((n, n), np.float32)
    f = compiled_product((n, n), (n, n))
    np.testing.assert_allclose(f(a, b), a @ b, rtol=1e-3, atol=1e-3)
    flops = 2 * n ** 3
    results = {"numpy np.matmul(a, b, out=c)": per_call(lambda: np.matmul(a, b, out=out), 2.0),
               "numpy a @ b": per_call(lambda: a @ b, 2.0),
               "graphc-llvm a @ b": per_call(lambda: f(a, b), 2.0)}
    base = results["numpy np.matmul(a, b, out=c)"]
    print(f"GEMM {n}^3 float32")
    for name, seconds in results.items():
        print(f"  {name:<32} {seconds * 1e3:8.2f} ms  {flops / seconds / 1e9:7.1f} GFLOP/s  "
              f"{seconds / base:5.2f}x baseline")


W2_PRODUCTS = {   # name: (a's stored shape, b's stored shape, transpose_a, transpose_b)
    "x @ W1        128x784 @ 784x256": ((128, 784), (784, 256), False, False),
    "h1 @ W2       128x256 @ 256x128": ((128, 256), (256, 128), False, False),
    "h2 @ W3       128x128 @ 128x10": ((128, 128), (128, 10), False, False),
    "g3 @ W3.T     128x10 @ (128x10)T": ((128, 10), (128, 10), False, True),
    "g2 @ W2.T     128x128 @ (256x128)T": ((128, 128), (256, 128), False, True),
    "h1.T @ g2     (128x256)T @ 128x128": ((128, 256), (128, 128), True, False),
    "x.T @ g1      (128x784)T @ 128x256": ((128, 784), (128, 256), True, False),
}


def w2_table(rng) -> None:
    print("\nW2 products, float32 (ratio: graphc-llvm time / numpy time, same operands)")
    total = {"numpy": 0.0, "llvm": 0.0}
    for name, (sa, sb, ta, tb) in W2_PRODUCTS.items():
        a, b = rng.standard_normal(sa, dtype=np.float32), rng.standard_normal(sb, dtype=np.float32)
        va, vb = (a.T if ta else a), (b.T if tb else b)
        f = compiled_product(sa, sb, ta, tb)
        np.testing.assert_allclose(f(a, b), va @ vb, rtol=1e-4, atol=1e-3)
        out = np.empty((va.shape[0], vb.shape[1]), np.float32)
        flops = 2 * va.shape[0] * va.shape[1] * vb.shape[1]
        t_np = per_call(lambda: np.matmul(va, vb, out=out))
        t_gc = per_call(lambda: f(a, b))
        total["numpy"] += t_np
        total["llvm"] += t_gc
        print(f"  {name:<36} numpy {t_np * 1e6:7.1f} µs {flops / t_np / 1e9:6.1f} GFLOP/s   "
              f"llvm {t_gc * 1e6:7.1f} µs {flops / t_gc / 1e9:6.1f} GFLOP/s   "
              f"{t_gc / t_np:5.2f}x")
    print(f"  {'all seven':<36} numpy {total['numpy'] * 1e6:7.1f} µs"
          f"{'':23}llvm {total['llvm'] * 1e6:7.1f} µs{'':17}{total['llvm'] / total['numpy']:5.2f}x")


def chain(m: int, k: int, loop_flops: int):
    """x (m, k) times w (k, k) REPEATS times, compiled with LOOP_FLOPS forced."""
    import graphc as gc
    from backends.llvm import cache
    from backends.llvm.kernels import contraction
    x, w = gc.placeholder((m, k)), gc.placeholder((k, k))
    y = x
    for _ in range(REPEATS):
        y = y @ w
    saved = contraction.LOOP_FLOPS
    contraction.LOOP_FLOPS = loop_flops
    try:
        cache.clear_memory()
        return gc.compile([x, w], y, backend="llvm")
    finally:
        contraction.LOOP_FLOPS = saved


CROSSOVER_SHAPES = [(1, 2), (4, 2), (4, 8), (8, 8), (1, 16), (4, 16), (16, 16), (1, 32), (8, 32),
                    (32, 32), (1, 64), (16, 64), (64, 64), (1, 128), (8, 128), (1, 256)]


def crossover_table(rng) -> None:
    print(f"\nSmall float32 products x (m, k) @ w (k, k): per product, in a chain of {REPEATS}")
    print(f"  {'m x k x k':>14} {'MACs':>8} {'BLAS':>10} {'loop':>10}  loop/BLAS")
    for m, k in CROSSOVER_SHAPES:
        x = rng.standard_normal((m, k), dtype=np.float32)
        w = (rng.standard_normal((k, k), dtype=np.float32) / np.float32(np.sqrt(k)))
        times = {}
        for path, limit in (("blas", 0), ("loop", 10 ** 12)):
            f = chain(m, k, limit)
            times[path] = per_call(lambda: f(x, w), 0.2) / REPEATS
        print(f"  {f'{m}x{k}x{k}':>14} {m * k * k:8d} {times['blas'] * 1e9:8.0f}ns "
              f"{times['loop'] * 1e9:8.0f}ns  {times['loop'] / times['blas']:6.2f}")


GENERATED_SHAPES = {   # name: (m, k, n) of c (m x n) = a (m x k) @ b (k x n), or b transposed
    "LeNet conv1 6x25 @ 25x50176": (6, 25, 50176, False),
    "LeNet conv2 16x150 @ 150x6400": (16, 150, 6400, False),
    "LeNet conv2 input grad 150x16 @ 16x6400": (150, 16, 6400, False),
    "LeNet conv2 weight grad 16x6400 @ (150x6400)T": (16, 6400, 150, True),
    "LSTM step 32x128 @ 128x512": (32, 128, 512, False),
    "LSTM backward 32x512 @ (128x512)T": (32, 512, 128, True),
    "LSTM weight grad 128x1024 @ 1024x512": (128, 1024, 512, False),
    "W2 x @ W1 128x784 @ 784x256": (128, 784, 256, False),
    "256^3": (256, 256, 256, False),
    "1024^3": (1024, 1024, 1024, False),
}


def generated_table(rng) -> None:
    """The generated GEMM (backends/llvm/gemm.py) against scipy's BLAS on the same product;
    contraction.GENERATED picks the path, CPU time of one call (and GFLOP/s)."""
    import graphc as gc
    from backends.llvm import cache
    from backends.llvm.kernels import contraction
    print("\nGenerated GEMM against BLAS, float32, µs per product (GFLOP/s), CPU time")
    for name, (m, k, n, transposed) in GENERATED_SHAPES.items():
        x = rng.standard_normal((m, k), dtype=np.float32)
        y = rng.standard_normal((n, k) if transposed else (k, n), dtype=np.float32)
        times = {}
        for path in ("blas", "generated"):
            contraction.GENERATED = path == "generated"
            try:
                cache.clear_memory()
                a, b = gc.placeholder(x.shape), gc.placeholder(y.shape)
                f = gc.compile([a, b], a @ (gc.transpose(b) if transposed else b),
                               backend="llvm")
            finally:
                contraction.GENERATED = True
            np.testing.assert_allclose(f(x, y), x @ (y.T if transposed else y), rtol=1e-3,
                                       atol=1e-2)
            times[path] = per_call(lambda: f(x, y))
        flops = 2 * m * k * n / 1e9
        print(f"  {name:<46} BLAS {times['blas'] * 1e6:8.1f} ({flops / times['blas']:5.1f})"
              f"   generated {times['generated'] * 1e6:8.1f} ({flops / times['generated']:5.1f})"
              f"   {times['generated'] / times['blas']:5.2f}x")


def main() -> int:
    os.environ["GRAPHC_CACHE_DIR"] = "off"   # the crossover compiles one graph two ways
    from backends.llvm import blas
    rng = np.random.default_rng(0)
    print(f"scipy BLAS threads: {blas.blas_threads()}")
    gemm_table(rng)
    w2_table(rng)
    crossover_table(rng)
    generated_table(rng)
    return 0


if __name__ == "__main__":
    sys.exit(main())
