"""W7: the hand-written NumPy BPTT, the unrolled LSTM and the scanned LSTM take the same step."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks import w7_lstm


@pytest.mark.parametrize("impl", ["graphc-numpy", "graphc-numpy-scan"])
def test_graphc_step_matches_hand_written_bptt(impl: str) -> None:
    graphc, hand = w7_lstm.WORKLOAD.build(impl, seed=0), w7_lstm.WORKLOAD.build("numpy", seed=0)
    initial = hand.params()
    for _ in range(2):
        np.testing.assert_allclose(float(graphc.step()), float(hand.step()), rtol=1e-4)
    expected = hand.params()
    for name, value in graphc.params().items():
        assert not np.array_equal(expected[name], initial[name]), f"{name} never moved"
        np.testing.assert_allclose(value, expected[name], rtol=1e-4, atol=1e-6, err_msg=name)
