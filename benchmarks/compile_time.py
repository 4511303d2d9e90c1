"""Compile time of W2's training step: graphc-llvm cold, warm in memory and warm from disk in a
new process; graphc-numpy's compile and JAX jit's first call beside them.

Each graphc measurement times building the graph (the DSL and gc.grad, "graph_s") apart from
gc.compile ("median_s", which the targets bound). Cold is a fresh GRAPHC_CACHE_DIR and an empty
memory cache; warm in memory is the next compile in the same process; the new process loads
from that same directory. Once-per-process set-up (LLVM's and XLA's initialization) is paid
before timing by compiling a tiny function, except in the new process: there everything after
the imports counts, as it does for a user's first compile. The cache's own counters confirm
that each measurement is what it claims (a build, a memory hit, a disk hit).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from benchmarks import w2_mlp
from benchmarks.harness import sgd_updates

ROOT = Path(__file__).resolve().parents[1]
WORKLOAD = "compile-" + w2_mlp.WORKLOAD.tag


def compile_w2(backend: str) -> tuple[float, float]:
    """Seconds to build W2's step as a graph, then to gc.compile it for `backend`."""
    import graphc as gc

    problem = w2_mlp.make_problem(0)
    started = time.perf_counter()
    inputs, loss, variables = w2_mlp.graphc_model(problem)
    updates = sgd_updates(loss, variables, w2_mlp.LR)
    built = time.perf_counter()
    gc.compile(inputs=inputs, outputs=loss, updates=updates, backend=backend)
    return built - started, time.perf_counter() - built


@contextmanager
def cache_dir(path: Path) -> Iterator[None]:
    """GRAPHC_CACHE_DIR set to `path` for the duration."""
    before = os.environ.get("GRAPHC_CACHE_DIR")
    os.environ["GRAPHC_CACHE_DIR"] = str(path)
    try:
        yield
    finally:
        if before is None:
            del os.environ["GRAPHC_CACHE_DIR"]
        else:
            os.environ["GRAPHC_CACHE_DIR"] = before


def _record(impl: str, phase: str, samples: list[tuple[float, float]], **extra) -> dict:
    return {"workload": WORKLOAD, "impl": impl, "phase": phase, "status": "ok",
            "median_s": statistics.median(s[1] for s in samples),
            "graph_s": statistics.median(s[0] for s in samples), "repeats": len(samples),
            "samples_s": [s[1] for s in samples], **extra}


def _failed(impl: str, phases: list[str], exc: Exception) -> list[dict]:
    reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return [{"workload": WORKLOAD, "impl": impl, "phase": phase, "status": "unsupported",
             "median_s": None, "repeats": 0, "reason": reason} for phase in phases]


def _checked(record: dict, expected: str, counts: dict[str, int]) -> dict:
    """Mark `record` wrong unless the cache counted only `expected` events ("builds", ...)."""
    unexpected = {k: v for k, v in counts.items() if v and k != expected}
    if not counts.get(expected) or unexpected:
        record |= {"status": "wrong", "median_s": None,
                   "reason": f"expected only {expected}, the cache counted {counts}"}
    return record


def _counting(action: Callable[[], tuple[float, float]]) -> tuple[tuple[float, float], dict]:
    """Run `action` and return its result with the cache events it caused."""
    from backends.llvm import cache

    before = cache.stats()
    result = action()
    after = cache.stats()
    return result, {k: getattr(after, k) - getattr(before, k)
                    for k in ("builds", "memory_hits", "disk_hits")}


def _new_process(directory: Path) -> tuple[tuple[float, float], dict]:
    process = subprocess.run([sys.executable, "-m", "benchmarks.compile_time", "--child"],
                             cwd=ROOT, capture_output=True, text=True,
                             env={**os.environ, "GRAPHC_CACHE_DIR": str(directory)})
    if process.returncode:
        last = (process.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the new process failed ({process.returncode}): {last}")
    report = json.loads(process.stdout.strip().splitlines()[-1])
    return (report["graph_s"], report["compile_s"]), report["counts"]


def _merged(counts) -> dict[str, int]:
    total: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            total[k] = total.get(k, 0) + v
    return total


# Each phase, and the one cache event every compile in it must count.
PHASES = {"cold": "builds", "warm memory": "memory_hits", "disk, new process": "disk_hits"}


def _cold(directory: Path) -> tuple[tuple[float, float], dict]:
    from backends.llvm import cache

    with cache_dir(directory):
        cache.clear_memory()
        return _counting(lambda: compile_w2("llvm"))


def graphc_llvm(repeats: int) -> list[dict]:
    """Cold, warm-in-memory and new-process records, or the reason they could not be taken."""
    import graphc as gc

    runs: dict[str, list] = {}  # the phases measured to the end
    failed: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="graphc-bench-cache-") as root:
        try:
            with cache_dir(Path(root) / "warm-up"):
                # NOTE: a product, so the generated GEMM's kernels (built once per process,
                # like LLVM's own set-up) are loaded here
                x = gc.placeholder((None, 2), "float32", name="x")
                gc.compile(inputs=[x], outputs=gc.exp(x) @ gc.exp(x).T, backend="llvm")(
                    np.ones((1, 2), np.float32))
            runs["cold"] = [_cold(Path(root) / f"cold-{i}") for i in range(repeats)]
            directory = Path(root) / f"cold-{repeats - 1}"
            with cache_dir(directory):
                runs["warm memory"] = [_counting(lambda: compile_w2("llvm"))
                                       for _ in range(max(3, repeats))]
            _new_process(directory)     # as a user's earlier process would, it stores the
            #                             kernels in this directory; not timed
            runs["disk, new process"] = [_new_process(directory) for _ in range(repeats)]
        except Exception as exc:  # noqa: BLE001  (an unsupported op is a result, not a crash)
            failed = _failed("graphc-llvm", [p for p in PHASES if p not in runs], exc)
    return [_checked(_record("graphc-llvm", phase, [s for s, _ in samples]), PHASES[phase],
                     _merged(counts for _, counts in samples))
            for phase, samples in runs.items()] + failed


def graphc_numpy(repeats: int) -> list[dict]:
    """The interpreter's compile: the optimizer and its generated schedule, no native code."""
    try:
        samples = [compile_w2("numpy") for _ in range(max(3, repeats))]
    except Exception as exc:  # noqa: BLE001
        return _failed("graphc-numpy", ["compile"], exc)
    return [_record("graphc-numpy", "compile", samples)]


def jax_first_call(repeats: int) -> list[dict]:
    """Tracing, grad, XLA compilation and one step: a new jitted function's first call."""
    from benchmarks import peers

    try:
        j = peers.jax()
    except ImportError as exc:
        return [{"workload": WORKLOAD, "impl": "jax", "phase": "first call",
                 "status": "skipped", "median_s": None, "repeats": 0, "reason": str(exc)}]
    j.jit(lambda v: v + 1)(1.0).block_until_ready()  # XLA's client and thread pools
    samples = []
    for _ in range(repeats):
        runner = w2_mlp.build_jax(w2_mlp.make_problem(0))  # NOTE: a new function: no jit cache
        started = time.perf_counter()
        runner.step()
        samples.append((0.0, time.perf_counter() - started))
    record = _record("jax", "first call", samples)
    del record["graph_s"]  # tracing is inside the first call
    return [record]


def measure(quick: bool = False) -> list[dict]:
    """Every compile-time record of W2's step."""
    repeats = 1 if quick else 3
    return graphc_llvm(repeats) + graphc_numpy(repeats) + jax_first_call(repeats)


def child() -> None:
    """In a new process: compile W2's step once, timing everything after the imports."""
    import backends.llvm  # noqa: F401  (imports are not what the target is about)

    result, counts = _counting(lambda: compile_w2("llvm"))
    print(json.dumps({"graph_s": result[0], "compile_s": result[1], "counts": counts}))


if __name__ == "__main__":
    if sys.argv[1:] != ["--child"]:
        sys.exit("usage: python -m benchmarks.compile_time --child (run by benchmarks.run)")
    child()
