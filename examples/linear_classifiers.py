"""Linear classifiers on 8x8 digits: a multiclass SVM (hinge loss) against softmax.

Both models compute the same class scores, x @ W + b; only the loss differs. The multiclass
hinge loss (Weston-Watkins) is zero once the right class wins by a margin of 1, so confident
examples stop contributing; softmax cross-entropy keeps pushing every probability towards
1. Each is trained with an L2 penalty on W by gc.train.Trainer (SGD with momentum, early
stopping on the validation loss), on features standardized with training statistics only.
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.datasets import load_digits

import graphc as gc

LOSSES = {"hinge": gc.losses.multiclass_hinge, "softmax": gc.losses.cross_entropy}
LABELS = {"hinge": "multiclass SVM (hinge loss)", "softmax": "softmax (cross-entropy)"}
L2 = 1e-3
LR = 0.01


def load(seed: int):
    """Stratified 60/20/20 train/validation/test split of digits, standardized on train."""
    digits = load_digits()
    x, y = digits.data.astype(np.float32), digits.target.astype(np.int64)
    train, val, test = gc.data.train_val_test_split(x, y, val_size=0.2, test_size=0.2,
                                                    stratify=y, seed=seed)
    scaler = gc.data.StandardScaler().fit(train[0])
    return [(scaler.transform(xs), ys) for xs, ys in (train, val, test)]


def train(kind: str, data, epochs: int, seed: int) -> dict:
    """Fit one linear model; its test accuracy and confusion matrix."""
    (x_train, y_train), val, (x_test, y_test) = data
    x = gc.placeholder((None, 64), "float32", name="x")
    y = gc.placeholder((None,), "int64", name="y")
    layer = gc.nn.Dense(64, 10, init="zeros", seed=seed, name=f"{kind}_linear")
    scores = layer(x)
    loss = gc.mean(LOSSES[kind](scores, y)) + gc.losses.l2(layer.W, L2)
    trainer = gc.train.Trainer([x, y], loss, layer, gc.optim.SGD(LR, momentum=0.9),
                               metrics={"accuracy": gc.train.accuracy(scores, y)},
                               outputs=scores)
    history = trainer.fit(x_train, y_train, epochs=epochs, batch_size=32, seed=seed,
                          validation=val, early_stopping=gc.train.EarlyStopping(patience=5))
    predicted = trainer.predict(x_test).argmax(axis=1)
    return {"test_accuracy": float(np.mean(predicted == y_test)),
            "val_accuracy": max(history.val["accuracy"]),
            "epochs": len(history.epoch["loss"]),
            "confusion": gc.train.confusion_matrix(y_test, predicted, 10)}


def main(epochs: int = 40, seed: int = 0) -> dict:
    """Train both classifiers; print and return their accuracies."""
    data = load(seed)
    print(f"linear classifiers on digits: {len(data[0][1])} train / {len(data[1][1])} "
          f"validation / {len(data[2][1])} test, SGD lr {LR} momentum 0.9, L2 {L2}\n")
    results = {}
    for kind in LOSSES:
        r = results[kind] = train(kind, data, epochs, seed)
        print(f"  {LABELS[kind]:<30} test accuracy {r['test_accuracy']:.1%}  "
              f"({r['epochs']} epochs)")
    print("\nconfusion matrix of the softmax classifier (rows: true digit, columns: predicted)")
    for digit, row in enumerate(results["softmax"]["confusion"]):
        print(f"  {digit}: " + " ".join(f"{c:3d}" for c in row))
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    main(**vars(ap.parse_args()))
