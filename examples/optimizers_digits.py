"""One MLP on 8x8 digits trained with six optimizers, and a plot of their loss curves.

Every run starts from the same initial weights and sees the same mini-batches; only the
update rule differs: plain SGD, SGD with momentum, Nesterov momentum, Adagrad, RMSProp and
Adam (gc.optim, each compiled into the training step with its state as graph variables).
The learning rates are the usual defaults for each method.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

import graphc as gc

OUT = Path(__file__).resolve().parent / "out" / "optimizers.png"
OPTIMIZERS = {
    "SGD": lambda: gc.optim.SGD(0.05),
    "momentum": lambda: gc.optim.SGD(0.05, momentum=0.9),
    "Nesterov": lambda: gc.optim.SGD(0.05, momentum=0.9, nesterov=True),
    "Adagrad": lambda: gc.optim.Adagrad(0.05),
    "RMSProp": lambda: gc.optim.RMSProp(0.001),
    "Adam": lambda: gc.optim.Adam(0.001),
}
HIDDEN = 64
BATCH = 32


def load(seed: int):
    digits = load_digits()
    x, y = digits.data.astype(np.float32), digits.target.astype(np.int64)
    (x_train, y_train), (x_test, y_test) = gc.data.train_test_split(
        x, y, test_size=0.25, stratify=y, seed=seed)
    scaler = gc.data.StandardScaler().fit(x_train)
    return scaler.transform(x_train), y_train, scaler.transform(x_test), y_test


def train(name: str, data, epochs: int, seed: int) -> dict:
    """Train the MLP with one optimizer; its per-step and per-epoch losses, test accuracy."""
    x_train, y_train, x_test, y_test = data
    x = gc.placeholder((None, 64), "float32", name="x")
    y = gc.placeholder((None,), "int64", name="y")
    model = gc.nn.Sequential(gc.nn.Dense(64, HIDDEN, init="he_normal", seed=seed), gc.relu,
                             gc.nn.Dense(HIDDEN, 10, seed=seed + 1))
    logits = model(x)
    trainer = gc.train.Trainer([x, y], gc.losses.cross_entropy(logits, y), model,
                               OPTIMIZERS[name](),
                               metrics={"accuracy": gc.train.accuracy(logits, y)})
    history = trainer.fit(x_train, y_train, epochs=epochs, batch_size=BATCH, seed=seed)
    test = trainer.evaluate(x_test, y_test)
    return {"step_loss": history.step["loss"], "epoch_loss": history.epoch["loss"],
            "test_accuracy": test["accuracy"], "test_loss": test["loss"]}


def plot(results: dict, path: Path, steps_per_epoch: int) -> Path:
    """Loss curves of every optimizer on one log-scale axis, smoothed over an epoch."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    window = np.ones(steps_per_epoch) / steps_per_epoch
    for name, r in results.items():
        smooth = np.convolve(r["step_loss"], window, mode="valid")
        ax.plot(np.arange(len(smooth)) + steps_per_epoch, smooth,
                label=f"{name} (test acc. {r['test_accuracy']:.1%})")
    ax.set(yscale="log", xlabel="step", ylabel="training loss (mean over the last epoch)",
           title="MLP 64-64-10 on digits: one initialization, six optimizers")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def main(epochs: int = 15, seed: int = 0, out: str | Path = OUT) -> dict:
    """Train with every optimizer, print a table, write the comparison plot; the results."""
    data = load(seed)
    steps_per_epoch = -(-len(data[1]) // BATCH)
    print(f"MLP 64 -> {HIDDEN} (ReLU) -> 10 on digits, {epochs} epochs of batch {BATCH}, "
          f"the same initial weights for every optimizer\n")
    print(f"  {'optimizer':<10} {'loss epoch 1':>12} {'final loss':>10} {'test acc.':>9}")
    results = {}
    for name in OPTIMIZERS:
        r = results[name] = train(name, data, epochs, seed)
        print(f"  {name:<10} {r['epoch_loss'][0]:12.4f} {r['epoch_loss'][-1]:10.4f} "
              f"{r['test_accuracy']:9.1%}")
    path = plot(results, Path(out), steps_per_epoch)
    print(f"\nloss curves written to {path}")
    return {"results": results, "plot": str(path)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(OUT))
    main(**vars(ap.parse_args()))
