"""gc.data: splits and folds (stratified), batches, scalers and class weights against
scikit-learn, one-hot labels, seeded image augmentation."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.preprocessing import MinMaxScaler as SkMinMax
from sklearn.preprocessing import StandardScaler as SkStandard
from sklearn.utils.class_weight import compute_class_weight

import graphc as gc

D = gc.data
RNG = np.random.default_rng(0)
LABELS = np.repeat([0, 1, 2], [60, 30, 10])          # imbalanced classes
FEATURES = RNG.standard_normal((100, 4)) * [1, 5, 0.1, 2] + [0, 3, -1, 7]


def test_train_test_split_is_a_seeded_partition() -> None:
    (xa, ya), (xb, yb) = D.train_test_split(FEATURES, LABELS, test_size=0.25, seed=1)
    assert len(xa) == 75 and len(xb) == 25
    rows = {tuple(r) for r in np.concatenate([xa, xb])}
    assert rows == {tuple(r) for r in FEATURES}, "train and test cover every example once"
    (xa2, _), _ = D.train_test_split(FEATURES, LABELS, test_size=0.25, seed=1)
    (xa3, _), _ = D.train_test_split(FEATURES, LABELS, test_size=0.25, seed=2)
    np.testing.assert_array_equal(xa, xa2)
    assert not np.array_equal(xa, xa3)
    pairs = {tuple(r): y for r, y in zip(FEATURES, LABELS)}
    assert all(pairs[tuple(r)] == y for r, y in zip(xb, yb)), "rows keep their labels"


def test_stratified_three_way_split_keeps_class_shares() -> None:
    train, val, test = D.train_val_test_split(FEATURES, LABELS, val_size=0.2, test_size=0.3,
                                              stratify=LABELS, seed=0)
    assert [len(part[1]) for part in (train, val, test)] == [50, 20, 30]
    for (_, ys), frac in ((train, 0.5), (val, 0.2), (test, 0.3)):
        counts = np.bincount(ys, minlength=3)
        assert np.all(np.abs(counts - frac * np.array([60, 30, 10])) <= 1), counts


def test_split_sizes_as_counts_and_errors() -> None:
    (_, ya), (_, yb) = D.train_test_split(FEATURES, LABELS, test_size=7, seed=0)
    assert len(yb) == 7 and len(ya) == 93
    with pytest.raises(ValueError, match="same length"):
        D.train_test_split(FEATURES, LABELS[:-1])
    with pytest.raises(ValueError, match="exceed"):
        D.train_val_test_split(FEATURES, val_size=0.6, test_size=0.6)


@pytest.mark.parametrize("stratify", [None, LABELS], ids=["plain", "stratified"])
def test_k_fold_validates_each_example_once(stratify) -> None:
    folds = list(D.k_fold(len(LABELS), k=4, stratify=stratify, seed=0))
    assert len(folds) == 4
    seen = np.concatenate([val for _, val in folds])
    np.testing.assert_array_equal(np.sort(seen), np.arange(100))
    for train, val in folds:
        assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == 100
    sizes = [len(val) for _, val in folds]
    assert max(sizes) - min(sizes) <= 1
    if stratify is not None:
        per_class = np.array([np.bincount(LABELS[val], minlength=3) for _, val in folds])
        assert np.all(per_class.max(axis=0) - per_class.min(axis=0) <= 1), per_class


def test_k_fold_rejects_bad_k() -> None:
    with pytest.raises(ValueError, match="k must be"):
        list(D.k_fold(5, k=1))


def test_batches_shuffle_seed_and_drop_last() -> None:
    x, y = np.arange(10), np.arange(10) * 10
    plain = list(D.batches(x, y, batch_size=4, shuffle=False))
    assert [len(b[0]) for b in plain] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in plain]), x)
    shuffled = list(D.batches(x, y, batch_size=4, seed=3, drop_last=True))
    assert [len(b[0]) for b in shuffled] == [4, 4]
    for bx, by in shuffled:
        np.testing.assert_array_equal(by, bx * 10)
    again = list(D.batches(x, y, batch_size=4, seed=3, drop_last=True))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(shuffled, again))
    rng = np.random.default_rng(0)
    first = np.concatenate([b[0] for b in D.batches(x, batch_size=3, seed=rng)])
    second = np.concatenate([b[0] for b in D.batches(x, batch_size=3, seed=rng)])
    assert not np.array_equal(first, second), "a Generator gives a new order each epoch"
    np.testing.assert_array_equal(np.sort(first), x)


def test_scalers_match_scikit_learn_and_use_training_statistics() -> None:
    train, test = FEATURES[:70], FEATURES[70:] * 1.5
    for ours, theirs in ((D.StandardScaler(), SkStandard()),
                         (D.MinMaxScaler((-1, 2)), SkMinMax((-1, 2)))):
        ours.fit(train)
        theirs.fit(train)
        np.testing.assert_allclose(ours.transform(test), theirs.transform(test), rtol=1e-12)
        np.testing.assert_allclose(ours.inverse_transform(ours.transform(test)), test)
    z = D.StandardScaler().fit_transform(train.astype(np.float32))
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-5)


def test_scalers_constant_features_axes_and_errors() -> None:
    x = np.column_stack([np.full(5, 3.0), np.arange(5.0)])
    np.testing.assert_array_equal(D.StandardScaler().fit_transform(x)[:, 0], 0)
    np.testing.assert_array_equal(D.MinMaxScaler().fit_transform(x)[:, 0], 0)
    images = RNG.standard_normal((6, 3, 4, 4)) * np.array([1, 2, 3])[:, None, None] + 5
    per_channel = D.StandardScaler(axis=(0, 2, 3)).fit_transform(images)
    np.testing.assert_allclose(per_channel.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(per_channel.std(axis=(0, 2, 3)), 1)
    with pytest.raises(RuntimeError, match="not fitted"):
        D.StandardScaler().transform(x)
    with pytest.raises(ValueError, match="increasing"):
        D.MinMaxScaler((1, 0))


def test_one_hot() -> None:
    np.testing.assert_array_equal(D.one_hot(np.array([2, 0, 1]), 4),
                                  np.eye(4, dtype=np.float32)[[2, 0, 1]])
    assert D.one_hot(np.array([[1, 0]])).shape == (1, 2, 2)
    with pytest.raises(ValueError, match="integers"):
        D.one_hot(np.array([0.5]))
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        D.one_hot(np.array([0, 2]), 2)


def test_class_weights_are_scikit_learns_balanced() -> None:
    expected = compute_class_weight("balanced", classes=np.arange(3), y=LABELS)
    np.testing.assert_allclose(D.class_weights(LABELS), expected)
    np.testing.assert_allclose(D.class_weights(np.array([0, 0, 2]), 4), [0.75, 0, 1.5, 0])


def test_class_weights_in_a_weighted_loss() -> None:
    logits = gc.placeholder((None, 3), "float64")
    y = gc.placeholder((None,), "int64")
    w = D.class_weights(LABELS)
    weighted = gc.losses.cross_entropy(logits, y) * gc.take(gc.constant(w), y)
    scores = RNG.standard_normal((100, 3))
    got = gc.compile([logits, y], weighted)(scores, LABELS)
    plain = gc.compile([logits, y], gc.losses.cross_entropy(logits, y))(scores, LABELS)
    np.testing.assert_allclose(got, plain * w[LABELS])


IMAGES = RNG.standard_normal((8, 2, 5, 6))


def test_random_flip() -> None:
    np.testing.assert_array_equal(D.random_flip(IMAGES, seed=0, p=1.0), IMAGES[..., ::-1])
    np.testing.assert_array_equal(D.random_flip(IMAGES, seed=0, horizontal=False,
                                                vertical=True, p=1.0), IMAGES[:, :, ::-1])
    np.testing.assert_array_equal(D.random_flip(IMAGES, seed=0, p=0.0), IMAGES)
    half = D.random_flip(IMAGES, seed=4)
    flipped = [np.array_equal(h, x[..., ::-1]) for h, x in zip(half, IMAGES)]
    kept = [np.array_equal(h, x) for h, x in zip(half, IMAGES)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)
    np.testing.assert_array_equal(D.random_flip(IMAGES[:, 0], seed=0, p=1.0),
                                  IMAGES[:, 0, :, ::-1])


def shifted(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """img (C, H, W) moved down by dy and right by dx, zero-filled (a direct loop reference)."""
    out = np.zeros_like(img)
    _, h, w = img.shape
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[:, i, j] = img[:, i - dy, j - dx]
    return out


def test_random_shift_moves_each_image_within_range() -> None:
    out = D.random_shift(IMAGES, max_shift=2, seed=0)
    assert out.shape == IMAGES.shape
    found = []
    for img, res in zip(IMAGES, out):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if np.array_equal(res, shifted(img, dy, dx))]
        assert matches, "every output is a shifted copy of its input"
        found.append(matches[0])
    assert len(set(found)) > 1, "shifts differ between images"
    np.testing.assert_array_equal(out, D.random_shift(IMAGES, max_shift=2, seed=0))
    assert D.random_shift(IMAGES[:, 0], max_shift=1, seed=0).shape == IMAGES[:, 0].shape
    with pytest.raises(ValueError, match="NCHW or NHW"):
        D.random_shift(IMAGES[0, 0], 1)


def test_gaussian_noise_and_augment_pipeline() -> None:
    x = np.zeros((200, 1, 8, 8), np.float32)
    noisy = D.gaussian_noise(x, 0.5, seed=0)
    assert noisy.dtype == np.float32 and abs(noisy.std() - 0.5) < 0.02
    augment = D.Augment(horizontal_flip=True, max_shift=1, noise_std=0.1, seed=7)
    a = augment(IMAGES)
    b = D.Augment(horizontal_flip=True, max_shift=1, noise_std=0.1, seed=7)(IMAGES)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(augment(IMAGES), a), "the pipeline's generator advances"
