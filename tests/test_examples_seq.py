"""The sequence examples learn (shortened runs): an LSTM forecaster and a tiny transformer."""
from __future__ import annotations

from tests.test_examples import load_example


def test_lstm_beats_the_trivial_forecasts_clearly(scripts_backend) -> None:
    results = load_example("lstm_sequence").main(epochs=3, seed=0)
    assert results["test_mse"] < 0.3 * results["repeat_last"]
    assert results["test_mse"] < 0.1 * results["window_mean"]


def test_tiny_transformer_reverses_digits_well_above_chance(scripts_backend) -> None:
    results = load_example("tiny_transformer").main(epochs=4, seed=0)
    assert results["digit_accuracy"] >= 5 * results["chance"]
    assert results["sequence_accuracy"] >= 0.1          # chance is 1e-8
