"""Handwritten digits with graphc: a softmax classifier against a one-hidden-layer MLP.

scikit-learn's 8x8 digits, a stratified train/validation/test split, features standardized
with training statistics only (the validation and test images stay unseen), and mini-batch
SGD whose gradient comes from gc.grad and whose update step is compiled by gc.compile.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import graphc as gc

LR = 0.1
BATCH = 32
REPORT_EVERY = 5
MODELS = {"softmax": (64, 10), "mlp": (64, 128, 10)}
LABELS = {"softmax": "softmax classifier", "mlp": "MLP"}

Splits = dict[str, tuple[np.ndarray, np.ndarray]]


def load_splits(seed: int) -> Splits:
    """60/20/20 stratified split, standardized with the training split's mean and std."""
    digits = load_digits()
    x, y = digits.data.astype(np.float32), digits.target.astype(np.int64)
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=seed)
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=0.25, stratify=y_rest, random_state=seed)
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0  # NOTE: some border pixels are always 0 in the training images
    return {name: ((xs - mean) / std, ys) for name, xs, ys in
            [("train", x_train, y_train), ("val", x_val, y_val), ("test", x_test, y_test)]}


def describe(sizes: tuple[int, ...]) -> str:
    """'64 -> 128 (ReLU) -> 10'."""
    return " -> ".join([str(sizes[0])] + [f"{n} (ReLU)" for n in sizes[1:-1]] + [str(sizes[-1])])


def train(name: str, sizes: tuple[int, ...], data: Splits, epochs: int, seed: int,
          backend: str) -> dict:
    """Build, compile and train one model, printing validation accuracy every few epochs."""
    rng = np.random.default_rng(seed)
    x = gc.placeholder((None, sizes[0]), "float32", name="x")
    y = gc.placeholder((None,), "int64", name="y")
    params, logits = [], x
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:]), start=1):
        if i > 1:
            logits = gc.relu(logits)
        w = rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)  # He init
        W = gc.variable(w.astype(np.float32), name=f"{name}_W{i}")
        b = gc.variable(np.zeros(fan_out, np.float32), name=f"{name}_b{i}")
        params += [W, b]
        logits = logits @ W + b
    loss = gc.mean(gc.losses.cross_entropy(logits, y))
    grads = gc.grad(loss, params)
    step = gc.compile(inputs=[x, y], outputs=loss,
                      updates=[(p, p - LR * g) for p, g in zip(params, grads)], backend=backend)
    predict = gc.compile(inputs=[x], outputs=gc.argmax(logits, axis=1), backend=backend)

    def accuracy(split: str) -> float:
        xs, ys = data[split]
        return float(np.mean(predict(xs) == ys))

    n_params = sum(p.value.size for p in params)
    print(f"{LABELS[name]}  {describe(sizes)}  ({n_params:,} parameters)")
    print(f"  {'epoch':>5}  {'train loss':>10}  {'val accuracy':>12}")
    x_train, y_train = data["train"]
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))
        batches = [order[i:i + BATCH] for i in range(0, len(order), BATCH)]
        losses = [float(step(x_train[idx], y_train[idx])) for idx in batches]
        if epoch % REPORT_EVERY == 0 or epoch == epochs:
            print(f"  {epoch:5d}  {np.mean(losses):10.4f}  {accuracy('val'):12.1%}")
    print()
    return {"val_accuracy": accuracy("val"), "test_accuracy": accuracy("test"),
            "parameters": n_params}


def main(epochs: int = 30, seed: int = 0, backend: str | None = None) -> dict:
    """Train both models, print their progress and test accuracy, and return the numbers."""
    backend = backend or os.environ.get("GRAPHC_BACKEND", "numpy")
    start = time.perf_counter()
    data = load_splits(seed)
    sizes = {split: len(ys) for split, (_, ys) in data.items()}
    print("graphc demo: classify 8x8 handwritten digits (scikit-learn's load_digits)\n")
    print(f"  data      {sum(sizes.values())} images of 64 pixels, 10 classes")
    print(f"  split     {sizes['train']} train / {sizes['val']} validation / {sizes['test']} test"
          " (stratified)")
    print("  features  standardized with training-split statistics only")
    print(f"  training  mini-batch SGD, batch {BATCH}, lr {LR}, {epochs} epochs, "
          f"{backend} backend\n")
    results = {name: train(name, s, data, epochs, seed, backend) for name, s in MODELS.items()}
    print(f"test accuracy ({sizes['test']} images not used for training or model choice)")
    for name, r in results.items():
        print(f"  {LABELS[name]:<20} {r['test_accuracy']:6.1%}")
    seconds = time.perf_counter() - start
    print(f"\n{seconds:.1f} s to load the data, train and evaluate both models")
    return {**results, "seconds": seconds}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", help="numpy or llvm (default: $GRAPHC_BACKEND, else numpy)")
    main(**vars(ap.parse_args()))
