"""k-nearest neighbours on 8x8 digits, with L1 and L2 distances written as graph ops.

No training: the training images are constants of the graph. For a batch of query images
the graph computes all distances to the training set — L2 through a matmul,
|q|^2 - 2 q.x + |x|^2, L1 through broadcasting |q[:, None] - x[None]| summed over pixels —
then finds the k nearest without sorting: k rounds of argmin, each masking the neighbour it
found, and a vote over their labels (ties go to the nearer neighbours).
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.datasets import load_digits

import graphc as gc

QUERY_BATCH = 60   # L1 holds a (batch, n_train, 64) difference tensor: keep it small


def distances(q: gc.Tensor, train: gc.Tensor, metric: str) -> gc.Tensor:
    """(queries, n_train) distances; L2 is squared (same order, no sqrt needed)."""
    if metric == "l2":
        return (gc.sum(gc.square(q), axis=1, keepdims=True) - 2.0 * (q @ train.T)
                + gc.sum(gc.square(train), axis=1))
    if metric == "l1":
        return gc.sum(gc.abs(gc.expand_dims(q, 1) - gc.expand_dims(train, 0)), axis=2)
    raise ValueError(f"metric must be 'l1' or 'l2', got {metric!r}")


def knn_classifier(train_x: np.ndarray, train_y: np.ndarray, k: int, metric: str,
                   num_classes: int = 10):
    """A compiled function: query images (batch, 64) -> predicted labels (batch,)."""
    q = gc.placeholder((None, train_x.shape[1]), "float32", name="queries")
    train, labels = gc.constant(train_x), gc.constant(train_y)
    d = distances(q, train, metric)
    votes = None
    for rank in range(k):
        nearest = gc.argmin(d, axis=1)                                  # (batch,)
        # NOTE: nearer neighbours weigh a little more, so vote ties go to them.
        vote = gc.one_hot(gc.take(labels, nearest), num_classes) * (1.0 + 1e-3 * (k - rank))
        votes = vote if votes is None else votes + vote
        d = gc.where(gc.one_hot(nearest, len(train_x), "bool"), float("inf"), d)
    return gc.compile([q], gc.argmax(votes, axis=1))


def main(k: int = 3, seed: int = 0, n_test: int | None = None) -> dict:
    """Classify the test split with L1 and L2 distances; print and return the accuracies."""
    digits = load_digits()
    x, y = digits.data.astype(np.float32), digits.target.astype(np.int64)
    (train_x, train_y), (test_x, test_y) = gc.data.train_test_split(
        x, y, test_size=0.2, stratify=y, seed=seed)
    test_x, test_y = test_x[:n_test], test_y[:n_test]
    print(f"k-nearest neighbours (k={k}) on digits: {len(train_x)} training images as graph "
          f"constants, {len(test_x)} test queries\n")
    results = {}
    for metric in ("l1", "l2"):
        predict = knn_classifier(train_x, train_y, k, metric)
        pred = np.concatenate([predict(test_x[i:i + QUERY_BATCH])
                               for i in range(0, len(test_x), QUERY_BATCH)])
        results[f"{metric}_accuracy"] = float(np.mean(pred == test_y))
        errors = gc.train.confusion_matrix(test_y, pred, 10)
        np.fill_diagonal(errors, 0)
        worst = np.unravel_index(errors.argmax(), errors.shape)
        print(f"  {metric.upper()} distance: test accuracy {results[metric + '_accuracy']:.1%}"
              f"  (most frequent confusion: a {worst[0]} read as {worst[1]}, "
              f"count {errors[worst]})")
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-test", type=int, default=None)
    main(**vars(ap.parse_args()))
