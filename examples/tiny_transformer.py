"""A tiny transformer block learns to reverse sequences of digits.

Input: 8 random digits (0-9); target: the same digits in reverse order, one prediction per
position, so chance is 10% per digit and 1e-8 per whole sequence. The task is all about
positions, which the model only sees through the sinusoidal positional encoding: position i
must attend to position 7 - i. One post-norm transformer encoder block in gc.nn layers:
embedding (32) + positional encoding -> multi-head self-attention (4 heads) + residual ->
layer norm -> MLP 32-64-32 (relu) + residual -> layer norm -> dense 10 logits per position,
softmax cross-entropy, Adam. Fresh random sequences every epoch, a fixed held-out test set.

Measured with the defaults (15 epochs, numpy backend, 2 cores): 100% of test digits and test
sequences reversed correctly for seed 0 (from epoch 10 on), in about 3 s.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import graphc as gc

LENGTH, VOCAB, EMBED, HEADS, HIDDEN = 8, 10, 32, 4, 64
BATCH, LR = 64, 0.005
PER_EPOCH, TEST = 2048, 1000
REPORT_EVERY = 5


def make_data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n random digit sequences (n, LENGTH) and their reversals."""
    x = rng.integers(0, VOCAB, (n, LENGTH))
    return x, x[:, ::-1].copy()


class TransformerBlock(gc.nn.Layer):
    """Post-norm encoder block: x + attention(x) -> layer norm -> + MLP -> layer norm."""

    def __init__(self, dim: int, heads: int, hidden: int, seed: int):
        super().__init__()
        self.attention = gc.nn.MultiHeadAttention(dim, heads, seed=seed)
        self.norm1, self.norm2 = gc.nn.LayerNorm(dim), gc.nn.LayerNorm(dim)
        self.mlp = gc.nn.Sequential(
            gc.nn.Dense(dim, hidden, activation=gc.relu, init="he_uniform", seed=seed + 1),
            gc.nn.Dense(hidden, dim, seed=seed + 2))

    def forward(self, x: gc.Tensor, training: bool) -> gc.Tensor:
        x = self.norm1(x + self.attention(x, training=training), training=training)
        return self.norm2(x + self.mlp(x, training=training), training=training)


class Reverser(gc.nn.Layer):
    """Digit ids (N, LENGTH) -> logits (N, LENGTH, VOCAB)."""

    def __init__(self, seed: int):
        super().__init__()
        self.embed = gc.nn.Embedding(VOCAB, EMBED, seed=seed)
        self.block = TransformerBlock(EMBED, HEADS, HIDDEN, seed + 1)
        self.out = gc.nn.Dense(EMBED, VOCAB, seed=seed + 4)

    def forward(self, ids: gc.Tensor, training: bool) -> gc.Tensor:
        x = self.embed(ids, training=training) + gc.nn.positional_encoding(LENGTH, EMBED)
        return self.out(self.block(x, training=training), training=training)


def main(epochs: int = 15, seed: int = 0, backend: str | None = None) -> dict:
    """Train the reverser, print its progress and return test accuracy per digit and sequence."""
    backend = backend or os.environ.get("GRAPHC_BACKEND", "numpy")
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    x_test, y_test = make_data(TEST, rng)
    model = Reverser(seed)
    x = gc.placeholder((None, LENGTH), "int64", name="x")
    y = gc.placeholder((None, LENGTH), "int64", name="y")
    logits = model(x)
    loss = gc.mean(gc.losses.cross_entropy(logits, y))
    step = gc.compile([x, y], loss, updates=gc.optim.Adam(lr=LR).updates(loss, model),
                      backend=backend)
    predict = gc.compile([x], gc.argmax(logits, axis=-1), backend=backend)

    def accuracy() -> tuple[float, float]:
        right = predict(x_test) == y_test
        return float(right.mean()), float(right.all(axis=1).mean())

    n_params = sum(v.value.size for v in model.trainable_variables)
    print("graphc demo: a tiny transformer block learning to reverse 8-digit sequences")
    print(f"  embedding {EMBED} + positional encoding, {HEADS}-head self-attention, MLP "
          f"{EMBED}-{HIDDEN}-{EMBED}, layer norms; {n_params:,} parameters")
    print(f"  Adam lr {LR}, batch {BATCH}, {PER_EPOCH} fresh sequences per epoch, {epochs} "
          f"epochs, {backend} backend; chance is 10% per digit\n")
    print(f"  {'epoch':>5}  {'train loss':>10}  {'test digits':>11}  {'test sequences':>14}")
    for epoch in range(1, epochs + 1):
        xs, ys = make_data(PER_EPOCH, rng)
        losses = [float(step(xs[i:i + BATCH], ys[i:i + BATCH]))
                  for i in range(0, PER_EPOCH, BATCH)]
        if epoch % REPORT_EVERY == 0 or epoch == epochs:
            digits, sequences = accuracy()
            print(f"  {epoch:5d}  {np.mean(losses):10.4f}  {digits:11.1%}  {sequences:14.1%}")
    digits, sequences = accuracy()
    results = {"digit_accuracy": digits, "sequence_accuracy": sequences, "chance": 1 / VOCAB,
               "parameters": n_params, "seconds": time.perf_counter() - start}
    print(f"\ntest: {digits:.1%} of digits and {sequences:.1%} of whole sequences reversed "
          f"correctly ({TEST} sequences never trained on)")
    print(f"{results['seconds']:.1f} s to train and evaluate")
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", help="numpy or llvm (default: $GRAPHC_BACKEND, else numpy)")
    main(**vars(ap.parse_args()))
