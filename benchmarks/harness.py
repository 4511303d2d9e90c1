"""Time every implementation of a workload the same way, so their medians are comparable.

A workload module registers itself with `register(...)` and its implementations with
`Workload.add(impl, builder)`; a builder turns a fresh `Problem` into a `Runner`. Adding an
implementation (graphc-llvm, torch, jax) is one `add` call and never touches this file.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REFERENCE = "numpy"  # ratios are relative to this implementation of the same workload


@dataclass(frozen=True)
class Problem:
    """Initial parameters and one batch of data, identical for every implementation."""

    params: dict[str, np.ndarray]
    data: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class Runner:
    """A built implementation: `step()` trains on the batch once and returns the loss."""

    step: Callable[[], object]
    params: Callable[[], dict[str, np.ndarray]]


Builder = Callable[[Problem], Runner]


def sgd_runner(inputs: list, loss, variables: dict, lr: float, problem: Problem,
               backend: str) -> Runner:
    """One SGD step of a graphc loss (gc.grad, updates as pairs) compiled as a Runner."""
    import graphc as gc

    params = list(variables.values())
    grads = gc.grad(loss, params)
    step = gc.compile(inputs=inputs, outputs=loss, backend=backend,
                      updates=[(p, p - lr * g) for p, g in zip(params, grads)])
    return Runner(lambda: step(*problem.data),
                  lambda: {k: np.array(v.value) for k, v in variables.items()})


@dataclass
class Workload:
    """A named training step with one builder per implementation."""

    name: str
    description: str
    batch: int
    make_problem: Callable[[int], Problem]
    impls: dict[str, Builder] = field(default_factory=dict)

    def add(self, impl: str, builder: Builder) -> None:
        """Register `builder` as implementation `impl`; ImportError from it means skip."""
        self.impls[impl] = builder

    def build(self, impl: str, seed: int = 0) -> Runner:
        """Build `impl` on its own fresh copy of the seeded problem."""
        return self.impls[impl](self.make_problem(seed))


WORKLOADS: dict[str, Workload] = {}


def register(name: str, description: str, batch: int,
             make_problem: Callable[[int], Problem]) -> Workload:
    """Create and register a workload; `name` looks like "W1-xor-mlp"."""
    WORKLOADS[name] = Workload(name, description, batch, make_problem)
    return WORKLOADS[name]


def select(only: list[str] | None) -> list[Workload]:
    """Workloads whose full name or leading tag ("W1") is in `only` (all when None)."""
    if not only:
        return list(WORKLOADS.values())
    wanted = {s.lower() for s in only}
    return [w for w in WORKLOADS.values()
            if w.name.lower() in wanted or w.name.split("-")[0].lower() in wanted]


def _loop(step: Callable[[], object], k: int) -> float:
    start = time.perf_counter()
    for _ in range(k):
        step()
    return time.perf_counter() - start


def steps_per_repeat(step: Callable[[], object], target_s: float) -> int:
    """Warm up, then size K so that one loop of K steps lasts about target_s."""
    _loop(step, 3)  # warm-up: first calls may allocate, cache or compile
    k = 1
    while (elapsed := _loop(step, k)) < target_s / 10:
        k *= 2
    return max(1, round(k * target_s / elapsed))


def time_steps(steps: dict[str, Callable[[], object]], repeats: int,
               target_s: float) -> dict[str, tuple[float, int]]:
    """Median seconds per step of each implementation, with their repeats interleaved.

    NOTE: interleaving (A B A B ...) exposes every implementation to the same stretches of a
    noisy shared machine, so the ratios hold up better than back-to-back medians would.
    """
    ks = {impl: steps_per_repeat(step, target_s) for impl, step in steps.items()}
    samples: dict[str, list[float]] = {impl: [] for impl in steps}
    enabled = gc.isenabled()
    gc.disable()  # like timeit, keep the cyclic GC from landing inside one repeat only
    try:
        for _ in range(repeats):
            for impl, step in steps.items():
                samples[impl].append(_loop(step, ks[impl]) / ks[impl])
    finally:
        if enabled:
            gc.enable()
    return {impl: (statistics.median(samples[impl]), ks[impl]) for impl in steps}


def _fmt_time(seconds: float) -> str:
    return f"{seconds * 1e6:9.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:9.2f} ms"


def run(workloads: list[Workload], repeats: int, target_s: float) -> list[dict]:
    """Time each implementation of each workload, printing one table row per measurement."""
    print(f"{'workload':<14} {'impl':<14} {'median/step':>12} {'vs numpy':>9}  steps x repeats")
    records: list[dict] = []
    for w in workloads:
        runners = {}
        for impl in sorted(w.impls, key=lambda name: name != REFERENCE):
            try:
                runners[impl] = w.build(impl)
            except ImportError as exc:
                print(f"{w.name:<14} {impl:<14} {'skipped':>12}  ({exc})", flush=True)
        timings = time_steps({impl: r.step for impl, r in runners.items()}, repeats, target_s)
        reference = timings.get(REFERENCE, (None, 0))[0]
        for impl, (median, k) in timings.items():
            ratio = median / reference if reference else None
            shown = f"{ratio:8.2f}x" if ratio is not None else f"{'-':>9}"
            print(f"{w.name:<14} {impl:<14} {_fmt_time(median):>12} {shown}  {k} x {repeats}",
                  flush=True)
            records.append({"workload": w.name, "impl": impl, "median_s": median,
                            "repeats": repeats, "steps_per_repeat": k, "batch": w.batch,
                            "ratio_vs_numpy": ratio})
    print()
    for w in workloads:
        print(f"{w.name:<14} {w.description}, batch {w.batch}")
    return records


def write_json(records: list[dict], path: Path) -> None:
    """Write the records as a JSON list, creating the directory if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=2) + "\n")
