"""Time every implementation of a workload the same way, so their medians are comparable.

A workload module registers itself with `register(...)` and its implementations with
`Workload.add(impl, builder)`; a builder turns a fresh `Problem` into a `Runner`. Adding an
implementation (graphc-llvm, torch, jax) is one `add` call and never touches this file.
Before anything is timed, every implementation takes the same steps as the reference on the
same problem and must reach the same results, so the ratios compare equal work.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

REFERENCE = "numpy"  # every other implementation is checked against this one
PEERS = ("numpy", "torch", "jax")  # ratios are taken to the fastest of these in the same run
CHECK_STEPS = 2  # the second step's result depends on the first step's update


@dataclass(frozen=True)
class Problem:
    """Initial parameters and one batch of data, identical for every implementation."""

    params: dict[str, np.ndarray]
    data: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class Runner:
    """A built implementation: `step()` runs once and returns the loss, or the forward output.

    `params()` reads the parameters back as NumPy arrays (forward workloads have none).
    """

    step: Callable[[], object]
    params: Callable[[], dict[str, np.ndarray]] = dict


Builder = Callable[[Problem], Runner]


class Mismatch(AssertionError):
    """An implementation's steps reached other results than the reference's."""


def sgd_updates(loss, variables: dict, lr: float) -> list:
    """Plain SGD on graphc variables as (variable, new value) pairs, gradients from gc.grad."""
    import graphc as gc

    params = list(variables.values())
    return [(p, p - lr * g) for p, g in zip(params, gc.grad(loss, params))]


def sgd_runner(inputs: list, loss, variables: dict, lr: float, problem: Problem,
               backend: str) -> Runner:
    """One SGD step of a graphc loss compiled for `backend`, fed the problem's data."""
    import graphc as gc

    step = gc.compile(inputs=inputs, outputs=loss, backend=backend,
                      updates=sgd_updates(loss, variables, lr))
    return Runner(lambda: step(*problem.data),
                  lambda: {k: np.array(v.value) for k, v in variables.items()})


@dataclass
class Workload:
    """A named step with one builder per implementation.

    `make_problem(seed, small)` draws the problem; `small` is a size for tests that keeps the
    workload's structure. `flops` and `bytes_moved` (per step, read + written) turn its time
    into GFLOP/s or GB/s where the issue asks for them.
    """

    name: str
    description: str
    batch: int | None  # None where the description gives the size
    make_problem: Callable[[int, bool], Problem]
    rtol: float = 1e-4
    atol: float = 1e-6
    flops: float = 0.0
    bytes_moved: float = 0.0
    impls: dict[str, Builder] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        """The leading "W1" of "W1-xor-mlp"."""
        return self.name.split("-")[0]

    def add(self, impl: str, builder: Builder) -> None:
        """Register `builder` as implementation `impl`; ImportError from it means skip."""
        self.impls[impl] = builder

    def build(self, impl: str, seed: int = 0, small: bool = False) -> Runner:
        """Build `impl` on its own fresh copy of the seeded problem."""
        return self.impls[impl](self.make_problem(seed, small))


WORKLOADS: dict[str, Workload] = {}


def register(name: str, description: str, batch: int | None,
             make_problem: Callable[[int, bool], Problem], **measures: float) -> Workload:
    """Create and register a workload; `name` looks like "W1-xor-mlp"."""
    WORKLOADS[name] = Workload(name, description, batch, make_problem, **measures)
    return WORKLOADS[name]


def select(only: list[str] | None) -> list[Workload]:
    """Workloads whose full name or leading tag ("W1") is in `only` (all when None), in order."""
    wanted = {s.lower() for s in only or ()}
    return sorted((w for w in WORKLOADS.values()
                   if not only or w.name.lower() in wanted or w.tag.lower() in wanted),
                  key=lambda w: w.name)


# --- the same-step check ----------------------------------------------------------------------

@dataclass(frozen=True)
class Trace:
    """What CHECK_STEPS steps of an implementation produced: each step's result, then params."""

    results: list[np.ndarray]
    params: dict[str, np.ndarray]


def as_array(value: object) -> np.ndarray:
    """A step's result (NumPy, torch or JAX; scalar or array) as a float64 NumPy array."""
    return np.asarray(value, dtype=np.float64)


def take_steps(runner: Runner, steps: int = CHECK_STEPS) -> Trace:
    """Step `runner` `steps` times, keeping every result and the parameters at the end."""
    results = [as_array(runner.step()) for _ in range(steps)]
    return Trace(results, {k: as_array(v) for k, v in runner.params().items()})


def _assert_close(actual: np.ndarray, expected: np.ndarray, what: str, rtol: float,
                  atol: float) -> None:
    if actual.shape != expected.shape:
        raise Mismatch(f"{what}: shape {actual.shape}, the reference's {expected.shape}")
    if not np.allclose(actual, expected, rtol=rtol, atol=atol):
        excess = np.abs(actual - expected) - rtol * np.abs(expected)
        worst = np.unravel_index(np.nanargmax(np.where(np.isnan(excess), np.inf, excess)),
                                 actual.shape)
        raise Mismatch(f"{what}: {actual[worst]:.7g} at {tuple(map(int, worst))}, the "
                       f"reference's {expected[worst]:.7g} (rtol {rtol:g}, atol {atol:g})")


def compare(workload: Workload, trace: Trace, expected: Trace) -> None:
    """Raise Mismatch unless `trace` matches the reference's within the workload's tolerance."""
    for i, (actual, wanted) in enumerate(zip(trace.results, expected.results), start=1):
        _assert_close(actual, wanted, f"step {i} result", workload.rtol, workload.atol)
    if trace.params.keys() != expected.params.keys():
        raise Mismatch(f"parameters {sorted(trace.params)}, the reference's "
                       f"{sorted(expected.params)}")
    for name, wanted in expected.params.items():
        _assert_close(trace.params[name], wanted, name, workload.rtol, workload.atol)


def check_same_step(workload: Workload, impl: str, expected: Trace | None = None, seed: int = 0,
                    small: bool = False) -> Runner:
    """Build `impl`, step it like the reference and return it; Mismatch if it went elsewhere.

    Whatever the implementation raises (ImportError for an absent peer, CompileError for an
    op a backend lacks) propagates, so callers decide what it means.
    """
    if expected is None:
        expected = take_steps(workload.build(REFERENCE, seed, small))
    runner = workload.build(impl, seed, small)
    compare(workload, take_steps(runner), expected)
    return runner


@dataclass
class Outcome:
    """One implementation after its check: a runner to time, or why it is not timed."""

    impl: str
    runner: Runner | None
    status: str  # "ok", "skipped" (not installed), "unsupported" (raised), "wrong" (Mismatch)
    reason: str = ""


def prepare(workload: Workload) -> list[Outcome]:
    """Build and check every implementation, the reference first; only "ok" ones get timed."""
    reference = workload.build(REFERENCE)
    expected = take_steps(reference)
    outcomes = [Outcome(REFERENCE, reference, "ok")]
    for impl in workload.impls:
        if impl == REFERENCE:
            continue
        try:
            outcomes.append(Outcome(impl, check_same_step(workload, impl, expected), "ok"))
        except ImportError as exc:
            outcomes.append(Outcome(impl, None, "skipped", str(exc)))
        except Mismatch as exc:
            outcomes.append(Outcome(impl, None, "wrong", str(exc)))
        except Exception as exc:  # noqa: BLE001  (a failing implementation is a result)
            message = str(exc).splitlines()[0] if str(exc) else ""
            outcomes.append(Outcome(impl, None, "unsupported", f"{type(exc).__name__}: {message}"))
    return outcomes


# --- timing -------------------------------------------------------------------------------------

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


# NOTE: the implementations share one process, and a thread pool spins for a while after its
# work (libgomp's, which torch bundles, ~300,000 pauses; OpenBLAS's, which NumPy's BLAS and
# graphc-numpy use, yields for 2^28 cycles, ~0.1 s; JAX's): the next implementation's threads
# then find a core taken. A pause before each loop lets them sleep, so each implementation
# is timed on a quiet machine, as its user would run it; one untimed step then wakes its own.
SETTLE_S = 0.2


def time_steps(steps: dict[str, Callable[[], object]], repeats: int,
               target_s: float) -> dict[str, tuple[list[float], int]]:
    """Seconds per step of each implementation in every repeat, with the repeats interleaved,
    and the steps per repeat.

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
                time.sleep(SETTLE_S)
                step()              # untimed: wakes the implementation's own threads
                samples[impl].append(_loop(step, ks[impl]) / ks[impl])
    finally:
        if enabled:
            gc.enable()
    return {impl: (samples[impl], ks[impl]) for impl in steps}


def measure(workload: Workload, repeats: int, target_s: float) -> list[dict]:
    """One record per implementation: its median with ratios and throughput, or why none."""
    outcomes = prepare(workload)
    timed = time_steps({o.impl: o.runner.step for o in outcomes if o.runner}, repeats, target_s)
    medians = {impl: statistics.median(samples) for impl, (samples, _) in timed.items()}
    best_peer = min((impl for impl in PEERS if impl in medians), key=medians.get)
    records = []
    for o in outcomes:
        record = {"workload": workload.name, "impl": o.impl, "status": o.status,
                  "batch": workload.batch, "median_s": medians.get(o.impl), "repeats": repeats}
        if o.impl in timed:
            median, (samples, k) = medians[o.impl], timed[o.impl]
            record |= {"steps_per_repeat": k, "samples_s": samples,
                       "ratio_vs_best_peer": median / medians[best_peer], "best_peer": best_peer,
                       "ratio_vs_numpy": median / medians[REFERENCE]}
            if workload.flops:
                record["gflops"] = workload.flops / median / 1e9
            if workload.bytes_moved:
                record["gbps"] = workload.bytes_moved / median / 1e9
        else:
            record["reason"] = o.reason
        records.append(record)
    return records
