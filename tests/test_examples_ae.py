"""The autoencoder example: both models learn to reconstruct digits (a shortened run)."""
from __future__ import annotations

from tests.test_examples import load_example


def test_autoencoders_reconstruct_digits(scripts_backend) -> None:
    results = load_example("autoencoder").main(epochs=10, seed=0)
    ae, vae = results["autoencoder"], results["vae"]
    assert ae["error_after"] < 0.25 * ae["error_before"]
    assert ae["error_after"] < 0.6 * results["mean_image_error"]   # beats the average image
    assert vae["error_after"] < 0.4 * vae["error_before"]
    assert vae["elbo_after"] > vae["elbo_before"] + 15
