"""Every implementation of every workload takes the same step as the hand-written NumPy one.

Agreement (the same loss and parameters after two steps, or the same outputs) is what makes the
timing ratios compare equal work, and it shows the hand-derived backward passes agree with
graphc's symbolic gradient. Small sizes keep it fast; absent peers (torch, jax) skip and say so.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pytest

import benchmarks.run  # noqa: F401  (registers every workload)
import graphc as gc
from benchmarks import targets, w4_elementwise
from benchmarks.harness import (
    REFERENCE,
    WORKLOADS,
    Mismatch,
    Problem,
    Runner,
    Trace,
    Workload,
    check_same_step,
    take_steps,
)

ROOT = Path(__file__).resolve().parents[1]
CASES = [(w.name, impl) for w in WORKLOADS.values() for impl in w.impls if impl != REFERENCE]


@cache
def reference_trace(name: str) -> Trace:
    return take_steps(WORKLOADS[name].build(REFERENCE, small=True))


@pytest.mark.parametrize("name, impl", CASES)
def test_same_step_as_reference(name: str, impl: str) -> None:
    try:
        check_same_step(WORKLOADS[name], impl, reference_trace(name), small=True)
    except ImportError as exc:
        pytest.skip(str(exc))
    except gc.CompileError as exc:
        if not impl.startswith("graphc-llvm"):
            raise
        pytest.skip(f"unsupported on graphc-llvm so far: {exc}")


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_reference_takes_a_real_step(name: str) -> None:
    workload = WORKLOADS[name]
    initial = workload.make_problem(0, True).params
    trace = reference_trace(name)
    assert all(np.isfinite(r).all() for r in trace.results)
    if trace.params:  # a training step (a forward workload's runner reports no parameters)
        assert trace.params.keys() == initial.keys()
    for param, value in trace.params.items():
        assert not np.array_equal(value, initial[param]), f"{param} never moved"


def test_a_different_step_is_caught() -> None:
    problem = Problem({"w": np.ones(3, np.float32)}, (np.arange(3, dtype=np.float32),))

    def sgd(lr: float):
        def build(p: Problem) -> Runner:
            w = p.params["w"].copy()

            def step():
                w[:] -= lr * p.data[0]
                return float(w @ w)

            return Runner(step, lambda: {"w": w.copy()})
        return build

    workload = Workload("T0-test", "test", 1, lambda seed, small: problem)
    workload.add(REFERENCE, sgd(0.1))
    workload.add("same", sgd(0.1))
    workload.add("other", sgd(0.11))
    check_same_step(workload, "same")
    with pytest.raises(Mismatch, match="step 1 result"):
        check_same_step(workload, "other")


@pytest.mark.parametrize("median, torch, verdict, statuses", [
    (0.7, 0.9, "met", ["met", "met", "met"]),
    (0.85, 0.9, "missed", ["missed", "met", "met"]),
    (0.7, None, "n/a", ["met", "n/a", "met"]),
    (None, 0.9, "missed", ["not measured"] * 3),
])
def test_targets_bound_graphc_llvm_by_peers_of_the_same_run(median, torch, verdict,
                                                              statuses) -> None:
    records = [{"workload": "W2-mlp-784", "impl": "numpy", "median_s": 1.0},
               {"workload": "W2-mlp-784", "impl": "jax", "median_s": 1.1},
               {"workload": "W2-mlp-784", "impl": "graphc-llvm", "median_s": median}]
    if torch is not None:
        records.append({"workload": "W2-mlp-784", "impl": "torch", "median_s": torch})
    targets.attach(records, {})
    target = records[2]["target"]
    assert target["verdict"] == verdict
    assert [c["status"] for c in target["clauses"]] == statuses
    assert "target" not in records[0]
    if verdict == "missed" and median is not None:
        assert target["clauses"][0]["ratio"] == pytest.approx(0.85 / 0.8)


def test_copy_bandwidth_target_reads_the_measured_limit() -> None:
    record = {"workload": "W4-elementwise", "impl": "graphc-llvm",
              "median_s": w4_elementwise.BYTES / 4e9}  # 4 GB/s
    targets.attach([record], {"copy_gbps": 10.0})
    clauses = {c["text"]: c for c in record["target"]["clauses"]}
    assert clauses[">= 50% copy bandwidth"]["ratio"] == pytest.approx(5 / 4)
    assert clauses["<= 0.3x jax"]["status"] == "n/a"


def test_quick_run_without_peers_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    hide_peers = "import sys; sys.modules.update(torch=None, jax=None); "
    subprocess.run([sys.executable, "-c", hide_peers + "from benchmarks.run import main; main()",
                    "--quick", "--only", "W1", "--only", "compile", "--out", str(out)],
                   cwd=ROOT, check=True, capture_output=True)
    report = json.loads(out.read_text())
    assert report["limits"]["copy_gbps"] > 0 and report["limits"]["sgemm_gflops"] > 0
    assert report["machine"]["cores"] >= 1
    records = report["records"]
    w1 = {r["impl"]: r for r in records if r["workload"] == "W1-xor-mlp"}
    assert w1.keys() == {"numpy", "torch", "jax", "graphc-numpy", "graphc-llvm"}
    for peer in ("torch", "jax"):
        assert w1[peer]["status"] == "skipped" and "make bench-peers" in w1[peer]["reason"]
    for r in w1.values():
        if r["status"] == "ok":
            assert r["median_s"] > 0 and r["repeats"] >= 1 and r["ratio_vs_best_peer"] > 0
        else:
            assert r["median_s"] is None and r["reason"]
    assert w1["numpy"]["status"] == w1["graphc-numpy"]["status"] == "ok"
    assert "target" in w1["graphc-llvm"]
    phases = {(r["impl"], r["phase"]): r for r in records if r["workload"] == "compile-W2"}
    assert {("graphc-llvm", "cold"), ("graphc-llvm", "disk, new process"),
            ("graphc-numpy", "compile"), ("jax", "first call")} <= phases.keys()
    assert phases["graphc-numpy", "compile"]["median_s"] > 0
