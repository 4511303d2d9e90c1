"""gc.data: NumPy helpers to prepare data for training — splits, folds, batches, scaling,
one-hot labels, class weights and seeded image augmentation.

Everything is seeded: `seed` is an int, a `np.random.Generator` (advanced in place, so an
epoch loop gets a new order each epoch and the run stays reproducible), or None (fresh
entropy). Scalers are fitted on the training split only, then applied to every split.
"""
from __future__ import annotations

from typing import Iterator, Sequence, Union

import numpy as np

__all__ = ["train_test_split", "train_val_test_split", "k_fold", "batches", "StandardScaler",
           "MinMaxScaler", "one_hot", "class_weights", "random_flip", "random_shift",
           "gaussian_noise", "Augment"]

Seed = Union[int, np.random.Generator, None]


def _rng(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _length(arrays: Sequence[np.ndarray]) -> int:
    if not arrays:
        raise ValueError("expected at least one array")
    sizes = {len(a) for a in arrays}
    if len(sizes) != 1:
        raise ValueError(f"arrays must have the same length, got lengths "
                         f"{[len(a) for a in arrays]}")
    return sizes.pop()


def _count(size: float | int, n: int, what: str) -> int:
    """A split size given as a fraction of n or as a number of examples."""
    count = round(size * n) if isinstance(size, float) else int(size)
    if not 0 <= count <= n:
        raise ValueError(f"{what}={size} does not fit {n} examples")
    return count


def _allocate(counts: np.ndarray, total: int) -> np.ndarray:
    """Split `total` over classes in proportion to `counts` (largest remainders; sums exactly)."""
    quotas = counts * total / counts.sum()
    taken = np.floor(quotas).astype(np.int64)
    order = np.argsort(-(quotas - taken), kind="stable")
    taken[order[:total - taken.sum()]] += 1
    return taken


def _split_indices(n: int, sizes: list[int], stratify, rng: np.random.Generator) -> list:
    """Shuffled index arrays of the given sizes (the first part gets the rest of n)."""
    if stratify is None:
        order = rng.permutation(n)
        bounds = np.cumsum([n - sum(sizes)] + sizes)[:-1]
        return np.split(order, bounds)
    labels = np.asarray(stratify)
    if len(labels) != n:
        raise ValueError(f"stratify has {len(labels)} labels for {n} examples")
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    per_class = [rng.permutation(np.flatnonzero(inverse == c)) for c in range(len(classes))]
    parts: list[list[np.ndarray]] = [[] for _ in range(len(sizes) + 1)]
    remaining = counts.copy()
    for k, size in enumerate(sizes, start=1):
        shares = _allocate(remaining, size) if size else np.zeros_like(remaining)
        for c, share in enumerate(shares):
            start = counts[c] - remaining[c]
            parts[k].append(per_class[c][start:start + share])
        remaining -= shares
    for c in range(len(classes)):
        parts[0].append(per_class[c][counts[c] - remaining[c]:])
    return [rng.permutation(np.concatenate(p)) for p in parts]


def train_test_split(*arrays: np.ndarray, test_size: float | int = 0.2, stratify=None,
                     seed: Seed = 0) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """(train arrays, test arrays); stratify=labels keeps each class's share in both parts."""
    n = _length(arrays)
    train, test = _split_indices(n, [_count(test_size, n, "test_size")], stratify, _rng(seed))
    return tuple(a[train] for a in arrays), tuple(a[test] for a in arrays)


def train_val_test_split(*arrays: np.ndarray, val_size: float | int = 0.2,
                         test_size: float | int = 0.2, stratify=None, seed: Seed = 0):
    """(train, validation, test) tuples of arrays; sizes are fractions of all or counts."""
    n = _length(arrays)
    sizes = [_count(val_size, n, "val_size"), _count(test_size, n, "test_size")]
    if sum(sizes) > n:
        raise ValueError(f"val_size={val_size} and test_size={test_size} exceed {n} examples")
    parts = _split_indices(n, sizes, stratify, _rng(seed))
    return tuple(tuple(a[idx] for a in arrays) for idx in parts)


def k_fold(n: int, k: int = 5, stratify=None, shuffle: bool = True,
           seed: Seed = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(train indices, validation indices) for each of k folds; every example validates once.

    Fold sizes differ by at most one; with stratify=labels so does each class's count.
    """
    if not 2 <= k <= n:
        raise ValueError(f"k_fold: k must be in [2, {n}], got {k}")
    rng = _rng(seed)
    if stratify is None:
        order = rng.permutation(n) if shuffle else np.arange(n)
        fold_of = np.empty(n, np.int64)
        fold_of[order] = np.repeat(np.arange(k), [len(f) for f in np.array_split(order, k)])
    else:
        labels = np.asarray(stratify)
        if len(labels) != n:
            raise ValueError(f"stratify has {len(labels)} labels for {n} examples")
        # NOTE: dealing class by class round-robin keeps classes and fold sizes balanced.
        order = np.argsort(labels, kind="stable")
        if shuffle:
            order = np.concatenate([rng.permutation(order[labels[order] == c])
                                    for c in np.unique(labels)])
        fold_of = np.empty(n, np.int64)
        fold_of[order] = np.arange(n) % k
    for fold in range(k):
        yield np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)


def batches(*arrays: np.ndarray, batch_size: int, shuffle: bool = True, seed: Seed = None,
            drop_last: bool = False) -> Iterator[tuple[np.ndarray, ...]]:
    """Mini-batches of the arrays (tuples), in a seeded random order when shuffle is true."""
    n = _length(arrays)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = _rng(seed).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        yield tuple(a[idx] for a in arrays)


# ---- scaling ----------------------------------------------------------------------------------

class _Scaler:
    """fit on the training split, then transform any split with the training statistics."""

    def __init__(self, axis: int | tuple[int, ...] = 0):
        self.axis = axis
        self.fitted = False

    def fit(self, x: np.ndarray) -> _Scaler:
        raise NotImplementedError

    def _check(self) -> None:
        if not self.fitted:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(train) first")

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).transform(x)

    def transform(self, x: np.ndarray) -> np.ndarray:
        self._check()
        x = np.asarray(x)
        return ((x - self.shift) / self.scale).astype(x.dtype if x.dtype.kind == "f" else
                                                      np.float64, copy=False)

    def inverse_transform(self, x: np.ndarray) -> np.ndarray:
        self._check()
        return np.asarray(x) * self.scale + self.shift


class StandardScaler(_Scaler):
    """(x - mean) / std per feature (over `axis`); constant features get std 1, as sklearn."""

    def fit(self, x: np.ndarray) -> StandardScaler:
        x = np.asarray(x, np.float64)
        self.shift = x.mean(axis=self.axis, keepdims=True)
        std = x.std(axis=self.axis, keepdims=True)
        self.scale = np.where(std > 0, std, 1.0)
        self.fitted = True
        return self


class MinMaxScaler(_Scaler):
    """Map each feature's training range [min, max] onto feature_range (default [0, 1])."""

    def __init__(self, feature_range: tuple[float, float] = (0.0, 1.0),
                 axis: int | tuple[int, ...] = 0):
        super().__init__(axis)
        self.low, self.high = feature_range
        if not self.low < self.high:
            raise ValueError(f"MinMaxScaler: feature_range must be increasing, got "
                             f"{feature_range}")

    def fit(self, x: np.ndarray) -> MinMaxScaler:
        x = np.asarray(x, np.float64)
        lo, hi = x.min(axis=self.axis, keepdims=True), x.max(axis=self.axis, keepdims=True)
        span = np.where(hi > lo, hi - lo, 1.0) / (self.high - self.low)
        self.shift, self.scale = lo - self.low * span, span
        self.fitted = True
        return self


# ---- labels -----------------------------------------------------------------------------------

def one_hot(labels, num_classes: int | None = None, dtype="float32") -> np.ndarray:
    """Integer labels (any shape) -> a new last axis of length num_classes with a 1 per label."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"one_hot: labels must be integers, got {labels.dtype}")
    num_classes = int(labels.max()) + 1 if num_classes is None else num_classes
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"one_hot: labels must be in [0, {num_classes}), got "
                         f"[{labels.min()}, {labels.max()}]")
    return np.eye(num_classes, dtype=dtype)[labels]


def class_weights(labels, num_classes: int | None = None) -> np.ndarray:
    """Weights per class, n_samples / (n_classes * count): scikit-learn's "balanced".

    Weight each example's loss by its class to even out imbalanced classes:
    `gc.mean(gc.losses.cross_entropy(logits, y) * gc.take(gc.constant(w), y))`.
    Classes absent from `labels` (below num_classes) get weight 0.
    """
    labels = np.asarray(labels)
    counts = np.bincount(labels, minlength=num_classes or 0)
    present = counts > 0
    weights = np.zeros(len(counts), np.float64)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return weights


# ---- image augmentation (NCHW or NHW batches) -------------------------------------------------

def _as_nchw(x: np.ndarray) -> tuple[np.ndarray, bool]:
    if x.ndim == 3:
        return x[:, None], True
    if x.ndim != 4:
        raise ValueError(f"augmentation expects an NCHW or NHW batch, got shape {x.shape}")
    return x, False


def random_flip(x: np.ndarray, seed: Seed = None, horizontal: bool = True,
                vertical: bool = False, p: float = 0.5) -> np.ndarray:
    """Mirror each image left-right (and/or top-bottom) with probability p."""
    rng = _rng(seed)
    imgs, squeeze = _as_nchw(np.asarray(x))
    for axis, on in ((3, horizontal), (2, vertical)):
        if on:
            flip = rng.random(len(imgs)) < p
            imgs = np.where(flip[:, None, None, None], np.flip(imgs, axis), imgs)
    return imgs[:, 0] if squeeze else imgs


def random_shift(x: np.ndarray, max_shift: int, seed: Seed = None,
                 fill: float = 0.0) -> np.ndarray:
    """Shift each image by up to max_shift pixels per axis (pad with `fill`, crop back)."""
    rng = _rng(seed)
    imgs, squeeze = _as_nchw(np.asarray(x))
    n, c, h, w = imgs.shape
    padded = np.pad(imgs, ((0, 0), (0, 0), (max_shift, max_shift), (max_shift, max_shift)),
                    constant_values=fill)
    dy, dx = rng.integers(0, 2 * max_shift + 1, size=(2, n))
    rows = (dy[:, None] + np.arange(h))[:, None, :, None]
    cols = (dx[:, None] + np.arange(w))[:, None, None, :]
    out = padded[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None], rows, cols]
    return out[:, 0] if squeeze else out


def gaussian_noise(x: np.ndarray, std: float, seed: Seed = None) -> np.ndarray:
    """x plus independent N(0, std^2) noise, in x's dtype."""
    x = np.asarray(x)
    return (x + _rng(seed).normal(0.0, std, x.shape)).astype(x.dtype, copy=False)


class Augment:
    """A seeded augmentation pipeline for image batches: flips, shifts, then noise.

    Call it on each training batch: `augment = gc.data.Augment(max_shift=1, seed=0)`.
    """

    def __init__(self, horizontal_flip: bool = False, vertical_flip: bool = False,
                 max_shift: int = 0, noise_std: float = 0.0, seed: Seed = 0):
        self.horizontal_flip, self.vertical_flip = horizontal_flip, vertical_flip
        self.max_shift, self.noise_std = max_shift, noise_std
        self.rng = _rng(seed)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.horizontal_flip or self.vertical_flip:
            x = random_flip(x, self.rng, self.horizontal_flip, self.vertical_flip)
        if self.max_shift:
            x = random_shift(x, self.max_shift, self.rng)
        if self.noise_std:
            x = gaussian_noise(x, self.noise_std, self.rng)
        return x
