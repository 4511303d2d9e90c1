"""W3 LeNet: the hand-written NumPy step computes exactly what graphc's compiled step does."""
from __future__ import annotations

import numpy as np

from benchmarks import w3_lenet


def test_hand_written_lenet_step_matches_graphc() -> None:
    workload = w3_lenet.WORKLOAD
    graphc, hand = workload.build("graphc-numpy", seed=0), workload.build("numpy", seed=0)
    initial = hand.params()
    for _ in range(2):
        np.testing.assert_allclose(float(graphc.step()), float(hand.step()), rtol=1e-4)
    expected = hand.params()
    for name, value in graphc.params().items():
        assert not np.array_equal(expected[name], initial[name]), f"{name} never moved"
        np.testing.assert_allclose(value, expected[name], rtol=1e-4, atol=1e-6, err_msg=name)
