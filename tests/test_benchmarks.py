"""The hand-written NumPy baselines compute exactly what graphc computes; the runner writes JSON.

Agreement with graphc's symbolic gradient is what shows the hand-derived backward passes are
right, so the timing ratios compare equal work.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import benchmarks.run  # noqa: F401  (registers every workload)
from benchmarks.harness import REFERENCE, WORKLOADS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name, impl", [(w.name, impl) for w in WORKLOADS.values()
                                        for impl in w.impls if impl != REFERENCE])
def test_hand_written_step_matches_graphc(name: str, impl: str) -> None:
    workload = WORKLOADS[name]
    graphc, hand = workload.build(impl, seed=0), workload.build(REFERENCE, seed=0)
    initial = hand.params()
    for _ in range(2):
        np.testing.assert_allclose(float(graphc.step()), float(hand.step()), rtol=1e-4)
    expected = hand.params()
    for name, value in graphc.params().items():
        assert not np.array_equal(expected[name], initial[name]), f"{name} never moved"
        np.testing.assert_allclose(value, expected[name], rtol=1e-4, atol=1e-6, err_msg=name)


def test_quick_run_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "latest.json"
    subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--only", "W1",
                    "--out", str(out)], cwd=ROOT, check=True, capture_output=True)
    records = json.loads(out.read_text())
    assert {r["impl"] for r in records} >= {"numpy", "graphc-numpy"}
    for r in records:
        assert r["workload"] == "W1-xor-mlp"
        assert r["median_s"] > 0 and r["repeats"] >= 1
        assert r["ratio_vs_numpy"] > 0
