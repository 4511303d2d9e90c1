"""Shortened runs of the classic examples keep reaching the figures they claim."""
from __future__ import annotations

from tests.test_examples import load_example


def test_perceptron_converges_on_separable_data_and_fails_on_xor(scripts_backend) -> None:
    results = load_example("perceptron").main(epochs=50, seed=0, n=100)
    separable, xor = results["separable"], results["xor"]
    assert separable["converged"] and separable["accuracy"] == 1.0
    assert separable["mistakes"] <= separable["mistake_bound"], "Novikoff's bound holds"
    assert not xor["converged"] and xor["best_accuracy"] <= 0.75


def test_knn_with_l1_and_l2_distances(scripts_backend) -> None:
    results = load_example("knn_digits").main(k=3, seed=0, n_test=120)
    assert results["l2_accuracy"] >= 0.96
    assert results["l1_accuracy"] >= 0.95


def test_linear_classifiers_hinge_and_softmax(scripts_backend) -> None:
    results = load_example("linear_classifiers").main(epochs=8, seed=0)
    assert results["hinge"]["test_accuracy"] >= 0.93
    assert results["softmax"]["test_accuracy"] >= 0.93
    assert results["softmax"]["confusion"].sum() == 359


def test_optimizers_comparison_and_plot(tmp_path, scripts_backend) -> None:
    out = load_example("optimizers_digits").main(epochs=3, seed=0, out=tmp_path / "opt.png")
    results = out["results"]
    assert set(results) == {"SGD", "momentum", "Nesterov", "Adagrad", "RMSProp", "Adam"}
    for name, r in results.items():
        assert r["epoch_loss"][-1] < r["epoch_loss"][0], name
        assert r["test_accuracy"] >= 0.85, name
    assert results["momentum"]["epoch_loss"][-1] < results["SGD"]["epoch_loss"][-1]
    with open(out["plot"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_gan_moves_generated_samples_towards_the_ring(tmp_path, scripts_backend) -> None:
    result = load_example("gan_2d").main(epochs=1500, seed=0, report_every=500,
                                         out=tmp_path / "gan.png")
    distances = [p["energy_distance"] for p in result["progress"]]
    assert distances[-1] < 0.1 * distances[0], distances
    assert distances[-1] < distances[1], "still improving after the first 500 steps"
    assert result["modes"] >= 5
