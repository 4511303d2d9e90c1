"""gc.nn.init: fans, variances that match the formulas, seeds that reproduce."""
from __future__ import annotations

import math

import numpy as np
import pytest

import graphc as gc

init = gc.nn.init

# (initializer, kwargs, expected variance as a function of (fan_in, fan_out))
VARIANCES = [
    (init.normal, {"std": 0.5}, lambda fi, fo: 0.25),
    (init.uniform, {"low": -0.3, "high": 0.3}, lambda fi, fo: 0.3 ** 2 / 3),
    (init.glorot_normal, {}, lambda fi, fo: 2 / (fi + fo)),
    (init.glorot_uniform, {}, lambda fi, fo: 2 / (fi + fo)),
    (init.xavier_uniform, {"gain": 2.0}, lambda fi, fo: 8 / (fi + fo)),
    (init.he_normal, {}, lambda fi, fo: 2 / fi),
    (init.he_uniform, {}, lambda fi, fo: 2 / fi),
    (init.kaiming_normal, {"mode": "fan_out"}, lambda fi, fo: 2 / fo),
    (init.kaiming_uniform, {"gain": 1.0}, lambda fi, fo: 1 / fi),
]


@pytest.mark.parametrize("shape, expected", [
    ((300, 200), (300, 200)),            # dense (in, out)
    ((16, 8, 3, 3), (8 * 9, 16 * 9)),    # conv2d (O, I, kh, kw)
    ((4, 2, 5), (10, 20)),               # conv1d
    ((7,), (7, 7)),
])
def test_fans(shape, expected) -> None:
    assert init.fans(shape) == expected


@pytest.mark.parametrize("fn, kwargs, variance", VARIANCES,
                         ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("shape", [(400, 300), (64, 32, 3, 3)])
def test_variance_matches_formula(fn, kwargs, variance, shape) -> None:
    w = fn(shape, 0, **kwargs)
    assert w.shape == shape and w.dtype == np.float32
    expected = variance(*init.fans(shape))
    assert abs(w.var() - expected) < 0.05 * expected
    assert abs(w.mean()) < 0.05 * math.sqrt(expected)


def test_uniform_bounds() -> None:
    w = init.glorot_uniform((50, 30), 1)
    assert np.abs(w).max() <= math.sqrt(6 / 80)


@pytest.mark.parametrize("name", ["normal", "uniform", "glorot_normal", "he_uniform"])
def test_seeded_and_reproducible(name) -> None:
    fn = init.get(name)
    assert np.array_equal(fn((20, 10), 3), fn((20, 10), 3))
    assert not np.array_equal(fn((20, 10), 3), fn((20, 10), 4))
    init.seed(5)
    a = fn((20, 10))
    init.seed(5)
    assert np.array_equal(a, fn((20, 10)))


def test_constants_and_dtype() -> None:
    assert np.array_equal(init.zeros((2, 3)), np.zeros((2, 3)))
    assert np.array_equal(init.ones(3), np.ones(3))
    assert np.all(init.constant((2, 2), value=0.7, dtype="float64") == 0.7)
    assert init.he_normal((3, 4), 0, dtype="float64").dtype == np.float64


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="unknown initializer 'bogus'"):
        init.get("bogus")
    with pytest.raises(ValueError, match="mode"):
        init.he_normal((3, 3), 0, mode="fan_avg")
