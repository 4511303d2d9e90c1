"""The machine, and its limits measured in the same run as the workloads they bound.

Copy bandwidth is np.copyto of a 256 MB float32 array (one thread), counted as bytes read plus
bytes written, as W4's GB/s is. The sgemm peak is NumPy's float32 matmul at 1024^3 and 2048^3
(its BLAS, all its threads), the better of the two medians.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np

COPY_BYTES = 256 << 20
SGEMM_SIZES = (1024, 2048)


def _median_seconds(action: Callable[[], object], repeats: int) -> float:
    action()  # warm-up: page faults on first touch, BLAS thread start-up
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def copy_gbps(nbytes: int = COPY_BYTES, repeats: int = 9) -> float:
    """GB/s of np.copyto between two `nbytes` arrays, read + written bytes per second."""
    src = np.ones(nbytes // 4, np.float32)
    dst = np.empty_like(src)
    return 2 * nbytes / _median_seconds(lambda: np.copyto(dst, src), repeats) / 1e9


def sgemm_gflops(n: int, repeats: int = 9) -> float:
    """GFLOP/s of NumPy's float32 (n x n) @ (n x n) into a preallocated result."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
    out = np.empty_like(a)
    return 2 * n**3 / _median_seconds(lambda: np.matmul(a, b, out=out), repeats) / 1e9


def measure(quick: bool = False) -> dict[str, float]:
    """Copy bandwidth and sgemm peak, fewer repeats when `quick`."""
    repeats = 3 if quick else 9
    limits = {"copy_gbps": copy_gbps(repeats=repeats)}
    for n in SGEMM_SIZES:
        limits[f"sgemm_gflops_{n}"] = sgemm_gflops(n, repeats)
    limits["sgemm_gflops"] = max(limits[f"sgemm_gflops_{n}"] for n in SGEMM_SIZES)
    return limits


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _blas() -> list[dict]:
    """NumPy's BLAS libraries and their thread counts, when threadpoolctl is there to ask."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [{k: lib.get(k) for k in ("internal_api", "version", "num_threads")}
            for lib in threadpool_info() if lib.get("user_api") == "blas"]


def machine() -> dict:
    """What ran the benchmarks: CPU, cores, load, and the versions of everything timed."""
    return {"cpu": _cpu_model(), "cores": os.cpu_count(),
            "cores_used": len(os.sched_getaffinity(0)), "platform": platform.platform(),
            "python": platform.python_version(), "loadavg_1m_at_start": os.getloadavg()[0],
            "versions": {p: _version(p) for p in ("numpy", "llvmlite", "torch", "jax", "jaxlib")},
            "numpy_blas": _blas()}
