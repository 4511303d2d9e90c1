"""A LeNet-style CNN on 8x8 handwritten digits, trained through graphc's symbolic gradients.

scikit-learn's digits as (N, 1, 8, 8) images, pixels scaled to [0, 1], a stratified
60/20/20 train/validation/test split. The network, in gc.nn layers:
conv 8@3x3 pad 1, relu, maxpool 2 -> conv 16@3x3 pad 1, relu, maxpool 2 -> flatten (64)
-> dense 64, relu -> dense 10, softmax cross-entropy. Mini-batch SGD with momentum and weight
decay, its learning rate on a cosine schedule (gc.optim: the velocities, the step counter and
the schedule are graph state, advanced by the compiled step).

Measured with the defaults (40 epochs, numpy backend, 2 cores): 98.3% test accuracy for
seed 0, 97.8-98.6% over seeds 0-7, in about 2 s of training.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import graphc as gc

BATCH = 32
LR = 0.05
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
REPORT_EVERY = 5

Splits = dict[str, tuple[np.ndarray, np.ndarray]]


def load_splits(seed: int) -> Splits:
    """60/20/20 stratified split of (N, 1, 8, 8) images with pixels in [0, 1]."""
    digits = load_digits()
    x = (digits.images[:, None] / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=seed)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=0.25, stratify=y_rest, random_state=seed)
    return {"train": (x_train, y_train), "val": (x_val, y_val), "test": (x_test, y_test)}


def lenet(seed: int) -> gc.nn.Sequential:
    """LeNet's conv-pool-conv-pool-dense shape, scaled down to 8x8 inputs."""
    return gc.nn.Sequential(
        gc.nn.Conv2D(1, 8, 3, padding=1, seed=seed), gc.relu, gc.nn.MaxPool(2),
        gc.nn.Conv2D(8, 16, 3, padding=1, seed=seed + 1), gc.relu, gc.nn.MaxPool(2),
        gc.nn.Flatten(),
        gc.nn.Dense(16 * 2 * 2, 64, activation=gc.relu, init="he_uniform", seed=seed + 2),
        gc.nn.Dense(64, 10, seed=seed + 3))


def main(epochs: int = 40, seed: int = 0, backend: str | None = None) -> dict:
    """Train the CNN, print validation accuracy as it goes, and return the final accuracies."""
    backend = backend or os.environ.get("GRAPHC_BACKEND", "numpy")
    start = time.perf_counter()
    data = load_splits(seed)
    rng = np.random.default_rng(seed)
    model = lenet(seed)
    x = gc.placeholder((None, 1, 8, 8), "float32", name="x")
    y = gc.placeholder((None,), "int64", name="y")
    logits = model(x)
    loss = gc.mean(gc.losses.cross_entropy(logits, y))
    steps = epochs * -(-len(data["train"][1]) // BATCH)
    sgd = gc.optim.SGD(lr=gc.optim.CosineDecay(LR, total_steps=steps), momentum=MOMENTUM,
                       weight_decay=WEIGHT_DECAY)
    updates = sgd.updates(loss, model.trainable_variables)
    step = gc.compile(inputs=[x, y], outputs=loss, updates=updates, backend=backend)
    predict = gc.compile(inputs=[x], outputs=gc.argmax(logits, axis=1), backend=backend)

    def accuracy(split: str) -> float:
        xs, ys = data[split]
        return float(np.mean(predict(xs) == ys))

    x_train, y_train = data["train"]
    n_params = sum(v.value.size for v in model.trainable_variables)
    print("graphc demo: a LeNet-style CNN on 8x8 handwritten digits (scikit-learn's load_digits)")
    print(f"  {len(y_train)} train / {len(data['val'][1])} validation / {len(data['test'][1])} "
          f"test images; {n_params:,} parameters")
    print(f"  SGD, momentum {MOMENTUM}, weight decay {WEIGHT_DECAY}, lr {LR} on a cosine "
          f"schedule, batch {BATCH}, {epochs} epochs, {backend} backend\n")
    print(f"  {'epoch':>5}  {'train loss':>10}  {'val accuracy':>12}")
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))
        losses = [float(step(x_train[idx], y_train[idx]))
                  for idx in np.array_split(order, -(-len(order) // BATCH))]
        if epoch % REPORT_EVERY == 0 or epoch == epochs:
            print(f"  {epoch:5d}  {np.mean(losses):10.4f}  {accuracy('val'):12.1%}")
    results = {"val_accuracy": accuracy("val"), "test_accuracy": accuracy("test"),
               "parameters": n_params, "seconds": time.perf_counter() - start}
    print(f"\ntest accuracy {results['test_accuracy']:.1%} "
          f"({len(data['test'][1])} images never used for training or model choice)")
    print(f"{results['seconds']:.1f} s to load the data, train and evaluate")
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", help="numpy or llvm (default: $GRAPHC_BACKEND, else numpy)")
    main(**vars(ap.parse_args()))
