"""An LSTM predicts the next value of noisy sine waves, and beats the trivial forecasts clearly.

Each example is 24 noisy samples of a sine wave with its own amplitude (0.5 to 1.5), frequency
(0.03 to 0.12 cycles per step) and phase, noise sigma 0.1; the target is the 25th (noisy)
sample. Two trivial forecasts set the bar: "repeat the last value" and "predict the mean of the
window". The model is gc.nn.LSTM (32 hidden units, run as one gc.scan node; its gradient is a
backward scan) whose last hidden state feeds a dense layer, trained with Adam on the MSE.

No forecast can beat the noise on the target itself (variance 0.01), so that is the floor.
Measured with the defaults (30 epochs, numpy backend, 2 cores): test MSE 0.015 for seed 0,
against 0.14 for "repeat the last value" and 0.64 for "predict the window mean", in about 13 s.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import graphc as gc

STEPS, HIDDEN, NOISE = 24, 32, 0.1
BATCH, LR = 64, 0.01
TRAIN, TEST = 2048, 512
REPORT_EVERY = 5


def make_waves(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n windows of STEPS noisy samples (n, STEPS, 1) and the noisy next sample (n, 1)."""
    amplitude = rng.uniform(0.5, 1.5, (n, 1))
    frequency = rng.uniform(0.03, 0.12, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    t = np.arange(STEPS + 1)
    wave = amplitude * np.sin(2 * np.pi * frequency * t + phase)
    wave += NOISE * rng.standard_normal(wave.shape)
    return wave[:, :STEPS, None].astype(np.float32), wave[:, STEPS:].astype(np.float32)


def baselines(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Test MSE of the trivial forecasts."""
    return {"repeat_last": float(np.mean((x[:, -1] - y) ** 2)),
            "window_mean": float(np.mean((x.mean(axis=1) - y) ** 2))}


def main(epochs: int = 30, seed: int = 0, backend: str | None = None, unroll: bool = False) -> dict:
    """Train the LSTM forecaster, print its progress and return test MSEs against baselines."""
    backend = backend or os.environ.get("GRAPHC_BACKEND", "numpy")
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    x_train, y_train = make_waves(TRAIN, rng)
    x_test, y_test = make_waves(TEST, rng)

    lstm = gc.nn.LSTM(1, HIDDEN, unroll=unroll, seed=seed)
    head = gc.nn.Dense(HIDDEN, 1, seed=seed + 1)
    x = gc.placeholder((None, STEPS, 1), "float32", name="x")
    y = gc.placeholder((None, 1), "float32", name="y")
    pred = head(lstm(x))
    loss = gc.mean(gc.losses.mse(pred, y))
    params = lstm.trainable_variables + head.trainable_variables
    step = gc.compile([x, y], loss, updates=gc.optim.Adam(lr=LR).updates(loss, params),
                      backend=backend)
    evaluate = gc.compile([x, y], loss, backend=backend)

    trivial = baselines(x_test, y_test)
    print("graphc demo: an LSTM forecasting the next value of noisy sine waves")
    print(f"  windows of {STEPS} steps, noise sigma {NOISE}; {TRAIN} train / {TEST} test; "
          f"LSTM {HIDDEN} -> dense 1, Adam lr {LR}, batch {BATCH}, {epochs} epochs, "
          f"{'unrolled' if unroll else 'gc.scan'}, {backend} backend\n")
    print(f"  {'epoch':>5}  {'train MSE':>10}  {'test MSE':>9}")
    for epoch in range(1, epochs + 1):
        order = rng.permutation(TRAIN)
        losses = [float(step(x_train[idx], y_train[idx]))
                  for idx in np.array_split(order, TRAIN // BATCH)]
        if epoch % REPORT_EVERY == 0 or epoch == epochs:
            print(f"  {epoch:5d}  {np.mean(losses):10.4f}  {float(evaluate(x_test, y_test)):9.4f}")
    results = {"test_mse": float(evaluate(x_test, y_test)), **trivial,
               "noise_floor": NOISE ** 2, "seconds": time.perf_counter() - start}
    print(f"\ntest MSE: LSTM {results['test_mse']:.4f}, repeat the last value "
          f"{trivial['repeat_last']:.4f}, predict the window mean {trivial['window_mean']:.4f} "
          f"(noise floor {NOISE ** 2:.4f})")
    print(f"{results['seconds']:.1f} s to make the data, train and evaluate")
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", help="numpy or llvm (default: $GRAPHC_BACKEND, else numpy)")
    ap.add_argument("--unroll", action="store_true", help="unroll the LSTM instead of gc.scan")
    main(**vars(ap.parse_args()))
