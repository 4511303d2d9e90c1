"""The LeNet-style CNN example learns the digits (a shortened run; the full run reaches ~98%)."""
from __future__ import annotations

from tests.test_examples import load_example


def test_lenet_digits_learns_well_above_chance(scripts_backend) -> None:
    results = load_example("lenet_digits").main(epochs=5, seed=0)
    assert results["test_accuracy"] >= 0.85      # chance is 10%
    assert results["val_accuracy"] >= 0.85
