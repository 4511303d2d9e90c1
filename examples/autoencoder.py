"""Autoencoders on 8x8 digits: a 64-32-8-32-64 autoencoder and a variational autoencoder.

Both compress scikit-learn's digit images (pixels scaled to [0, 1]) through an 8-number code
and learn to reconstruct them. The VAE's encoder outputs a mean and a log-variance; its code
is sampled as z = mu + sigma * eps with eps from graphc's seeded random normal op (the
reparameterization trick: gradients flow into mu and sigma, never into the random state,
whose counter advances once per training step as a graph update). It maximizes the ELBO,
the Bernoulli log-likelihood of the pixels minus KL(q(z|x) || N(0, I)).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import graphc as gc

CODE = 8
BATCH = 64
LR = 3e-3


def load_data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test images (80/20, stratified), pixels scaled from 0..16 to [0, 1]."""
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    x_train, x_test = train_test_split(x, test_size=0.2, stratify=digits.target,
                                       random_state=seed)
    return x_train, x_test


def adam(loss: gc.Tensor, params: list[gc.Tensor], lr: float = LR, b1: float = 0.9,
         b2: float = 0.999, eps: float = 1e-8) -> list[tuple[gc.Tensor, gc.Tensor]]:
    """Adam as explicit update pairs: moment estimates and a step counter are graph state."""
    t = gc.variable(np.float32(0), name="adam_t")
    t_next = t + 1.0
    correction = gc.sqrt(1 - b2 ** t_next) / (1 - b1 ** t_next)
    updates = [(t, t_next)]
    for p, g in zip(params, gc.grad(loss, params)):
        m = gc.variable(np.zeros(p.shape, p.dtype), name=f"{p.name}.m")
        v = gc.variable(np.zeros(p.shape, p.dtype), name=f"{p.name}.v")
        m_next, v_next = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * gc.square(g)
        updates += [(m, m_next), (v, v_next),
                    (p, p - lr * correction * m_next / (gc.sqrt(v_next) + eps))]
    return updates


def batches(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    return np.array_split(order, -(-n // BATCH))


def fit(step, x_train: np.ndarray, epochs: int, rng: np.random.Generator) -> None:
    for _ in range(epochs):
        for idx in batches(len(x_train), rng):
            step(x_train[idx])


def autoencoder(x_train: np.ndarray, x_test: np.ndarray, epochs: int, seed: int) -> dict:
    """Train the 64-32-8-32-64 autoencoder with MSE; report test reconstruction error."""
    rng = np.random.default_rng(seed)
    encoder = gc.nn.Sequential(gc.nn.Dense(64, 32, activation=gc.tanh, seed=seed),
                               gc.nn.Dense(32, CODE, seed=seed + 1))
    decoder = gc.nn.Sequential(gc.nn.Dense(CODE, 32, activation=gc.tanh, seed=seed + 2),
                               gc.nn.Dense(32, 64, activation=gc.sigmoid, seed=seed + 3))
    x = gc.placeholder((None, 64), "float32", name="x")
    error = gc.mean(gc.losses.mse(decoder(encoder(x)), x))
    params = encoder.trainable_variables + decoder.trainable_variables
    step = gc.compile(inputs=[x], outputs=error, updates=adam(error, params))
    evaluate = gc.compile(inputs=[x], outputs=error)
    before = float(evaluate(x_test))
    fit(step, x_train, epochs, rng)
    after = float(evaluate(x_test))
    print(f"autoencoder 64-32-8-32-64   test reconstruction MSE {before:.4f} -> {after:.4f}")
    return {"error_before": before, "error_after": after}


def vae(x_train: np.ndarray, x_test: np.ndarray, epochs: int, seed: int) -> dict:
    """Train the VAE by maximizing the ELBO; report reconstruction error (z = mu) and ELBO."""
    rng = np.random.default_rng(seed)
    hidden = gc.nn.Dense(64, 32, activation=gc.tanh, seed=seed)
    to_mu, to_logvar = gc.nn.Dense(32, CODE, seed=seed + 1), gc.nn.Dense(32, CODE, seed=seed + 2)
    decoder = gc.nn.Sequential(gc.nn.Dense(CODE, 32, activation=gc.tanh, seed=seed + 3),
                               gc.nn.Dense(32, 64, seed=seed + 4))
    state = gc.random_state(seed, name="vae_rng")
    x = gc.placeholder((None, 64), "float32", name="x")
    h = hidden(x)
    mu, logvar = to_mu(h), to_logvar(h)
    z = mu + gc.exp(0.5 * logvar) * gc.random_normal_like(mu, state)
    logits = decoder(z)
    # NOTE: -log p(x|z) for Bernoulli pixels is binary cross-entropy from logits, stably.
    nll = gc.sum(gc.softplus(logits) - x * logits, axis=1)
    kl = -0.5 * gc.sum(1 + logvar - gc.square(mu) - gc.exp(logvar), axis=1)
    elbo = gc.mean(-(nll + kl))
    error = gc.mean(gc.losses.mse(gc.sigmoid(decoder(mu)), x))
    params = [v for layer in (hidden, to_mu, to_logvar, decoder)
              for v in layer.trainable_variables]
    step = gc.compile(inputs=[x], outputs=elbo,
                      updates=adam(-elbo, params) + [(state, gc.next_random_state(state))])
    evaluate = gc.compile(inputs=[x], outputs=[error, elbo])
    before = [float(v) for v in evaluate(x_test)]
    fit(step, x_train, epochs, rng)
    after = [float(v) for v in evaluate(x_test)]
    print(f"VAE 64-32-(8+8)-32-64       test reconstruction MSE {before[0]:.4f} -> {after[0]:.4f}"
          f",  ELBO {before[1]:.1f} -> {after[1]:.1f} nats")
    return {"error_before": before[0], "error_after": after[0],
            "elbo_before": before[1], "elbo_after": after[1]}


def main(epochs: int = 200, seed: int = 0) -> dict:
    """Train both models on digits, print their reconstruction errors, and return them."""
    start = time.perf_counter()
    x_train, x_test = load_data(seed)
    baseline = float(np.mean((x_test - x_train.mean(axis=0)) ** 2))
    print(f"graphc demo: autoencoders on {len(x_train)} training / {len(x_test)} test digits, "
          f"{CODE}-number codes, Adam lr {LR}, {epochs} epochs")
    print(f"(predicting the average training image: test MSE {baseline:.4f})\n")
    results = {"autoencoder": autoencoder(x_train, x_test, epochs, seed),
               "vae": vae(x_train, x_test, epochs, seed), "mean_image_error": baseline}
    results["seconds"] = time.perf_counter() - start
    print(f"\n{results['seconds']:.1f} s")
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    main(**vars(ap.parse_args()))
