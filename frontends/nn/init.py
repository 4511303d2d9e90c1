"""gc.nn.init: seeded weight initializers returning NumPy arrays to wrap in gc.variable.

Every initializer is `fn(shape, rng=None, dtype="float32", ...) -> np.ndarray`. `rng` is a
seed (int), a `np.random.Generator`, or None for this module's default generator, which
`seed(n)` resets so whole models are reproducible. Fans follow the usual conventions:
a dense weight is (in, out); a convolution kernel is (O, I, k...), each fan times the
receptive field size prod(k...); a vector's fans are its length.
"""
from __future__ import annotations

import math
from typing import Callable, Union

import numpy as np

Shape = Union[int, tuple, list]
Rng = Union[int, np.random.Generator, None]
Initializer = Callable[..., np.ndarray]

__all__ = ["zeros", "ones", "constant", "normal", "uniform", "glorot_normal", "glorot_uniform",
           "xavier_normal", "xavier_uniform", "he_normal", "he_uniform", "kaiming_normal",
           "kaiming_uniform", "fans", "seed", "get", "generator"]

_default = np.random.default_rng(0)


def seed(value: int) -> None:
    """Reset the default generator that initializers use when no rng is given."""
    global _default
    _default = np.random.default_rng(value)


def generator(rng: Rng) -> np.random.Generator:
    """The generator an rng argument means: itself, a new one from a seed, or the default."""
    if rng is None:
        return _default
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def _shape(shape: Shape) -> tuple[int, ...]:
    return (shape,) if isinstance(shape, int) else tuple(int(d) for d in shape)


def fans(shape: Shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight: dense (in, out), convolution (O, I, k...), vector (n,)."""
    shape = _shape(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def zeros(shape: Shape, rng: Rng = None, dtype: str = "float32") -> np.ndarray:
    """All zeros (biases; rng is accepted so every initializer has one signature)."""
    return np.zeros(_shape(shape), dtype)


def ones(shape: Shape, rng: Rng = None, dtype: str = "float32") -> np.ndarray:
    """All ones (batch-norm and layer-norm scales)."""
    return np.ones(_shape(shape), dtype)


def constant(shape: Shape, rng: Rng = None, dtype: str = "float32",
             value: float = 0.0) -> np.ndarray:
    """Every element equal to `value`."""
    return np.full(_shape(shape), value, dtype)


def normal(shape: Shape, rng: Rng = None, dtype: str = "float32", mean: float = 0.0,
           std: float = 1.0) -> np.ndarray:
    """Independent N(mean, std^2) draws."""
    return (mean + std * generator(rng).standard_normal(_shape(shape))).astype(dtype)


def uniform(shape: Shape, rng: Rng = None, dtype: str = "float32", low: float = -1.0,
            high: float = 1.0) -> np.ndarray:
    """Independent U(low, high) draws."""
    return generator(rng).uniform(low, high, _shape(shape)).astype(dtype)


def glorot_normal(shape: Shape, rng: Rng = None, dtype: str = "float32",
                  gain: float = 1.0) -> np.ndarray:
    """Glorot/Xavier normal: variance gain^2 * 2 / (fan_in + fan_out), keeping signals level."""
    fan_in, fan_out = fans(shape)
    return normal(shape, rng, dtype, std=gain * math.sqrt(2.0 / (fan_in + fan_out)))


def glorot_uniform(shape: Shape, rng: Rng = None, dtype: str = "float32",
                   gain: float = 1.0) -> np.ndarray:
    """Glorot/Xavier uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(shape)
    limit = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform(shape, rng, dtype, -limit, limit)


def _fan(shape: Shape, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"he/kaiming init: mode must be 'fan_in' or 'fan_out', not {mode!r}")
    return fans(shape)[0 if mode == "fan_in" else 1]


def he_normal(shape: Shape, rng: Rng = None, dtype: str = "float32", mode: str = "fan_in",
              gain: float = math.sqrt(2.0)) -> np.ndarray:
    """He/Kaiming normal: variance gain^2 / fan (2 / fan_in for ReLU networks)."""
    return normal(shape, rng, dtype, std=gain / math.sqrt(_fan(shape, mode)))


def he_uniform(shape: Shape, rng: Rng = None, dtype: str = "float32", mode: str = "fan_in",
               gain: float = math.sqrt(2.0)) -> np.ndarray:
    """He/Kaiming uniform: U(-a, a) with a = gain * sqrt(3 / fan), the He normal variance."""
    limit = gain * math.sqrt(3.0 / _fan(shape, mode))
    return uniform(shape, rng, dtype, -limit, limit)


xavier_normal, xavier_uniform = glorot_normal, glorot_uniform
kaiming_normal, kaiming_uniform = he_normal, he_uniform
_INITIALIZERS = [n for n in __all__ if n not in ("fans", "seed", "get", "generator")]


def get(init: str | Initializer) -> Initializer:
    """An initializer by name ("he_normal", "xavier_uniform", ...) or the callable itself."""
    if callable(init):
        return init
    if init in _INITIALIZERS:
        return globals()[init]
    names = ", ".join(_INITIALIZERS)
    raise ValueError(f"unknown initializer {init!r}; expected a callable or one of: {names}")
