"""The bit-level spec of the random ops, with its NumPy implementation (splitmix64, uint64).

Every backend computes exactly these numbers. A draw's key is
mix(mix(seed) ^ mix(counter + 1) ^ mix(stream + 2)); element i takes the 64 random bits
mix(key + (i + 1) * GOLDEN), splitmix64's i-th output from state `key`. Uniforms keep the top
24 (float32) or 53 (float64) bits, so they lie exactly in [0, 1); normals apply Box-Muller to
the uniforms of elements 2i and 2i + 1, with log and cos defined below by exactly rounded
arithmetic (not libm), so that every backend computes the same bits.
"""
from __future__ import annotations

import math

import numpy as np

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _mix_int(z: int) -> int:
    """splitmix64's finalizer on a Python int (the per-draw key, computed once)."""
    z &= MASK
    z = ((z ^ (z >> 30)) * _M1) & MASK
    z = ((z ^ (z >> 27)) * _M2) & MASK
    return z ^ (z >> 31)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer on a uint64 array (wrapping multiplication)."""
    z = z ^ (z >> np.uint64(30))
    z *= np.uint64(_M1)
    z ^= z >> np.uint64(27)
    z *= np.uint64(_M2)
    z ^= z >> np.uint64(31)
    return z


def key(state: np.ndarray, stream: int) -> int:
    """The 64-bit key of one draw from a (seed, counter) state and a stream number."""
    seed, counter = (int(v) & MASK for v in state)
    return _mix_int(seed) ^ _mix_int(counter + 1) ^ _mix_int(stream + 2)


def random_bits(k: int, n: int) -> np.ndarray:
    """n uint64 words: splitmix64's outputs 1..n from state k."""
    steps = np.arange(1, n + 1, dtype=np.uint64)
    return _mix(steps * np.uint64(GOLDEN) + np.uint64(k))


def uniform(k: int, n: int, dtype: np.dtype) -> np.ndarray:
    """n uniforms in [0, 1), exact in `dtype` (24 or 53 random bits)."""
    bits = 24 if dtype == np.float32 else 53
    top = random_bits(k, n) >> np.uint64(64 - bits)
    return (top.astype(np.float64) * 2.0 ** -bits).astype(dtype)


def normal(k: int, n: int, dtype: np.dtype) -> np.ndarray:
    """n standard normals by Box-Muller on pairs of 53-bit uniforms, computed in float64."""
    u = uniform(k, 2 * n, np.dtype(np.float64)).reshape(n, 2)
    radius = np.sqrt(-2.0 * log_unit(1.0 - u[:, 0]))    # NOTE: 1 - u is exact and in (0, 1]
    return (radius * cos_turn(u[:, 1])).astype(dtype)


# ---- log and cos from exactly rounded arithmetic ------------------------------------------------
# NOTE: libm and NumPy's SIMD loops compute log and cos with different (all faithful) roundings,
# so the spec defines its own: a fixed sequence of IEEE operations (+, -, *, /, sqrt, floor,
# comparisons, exponent bits), which any backend reproduces bit for bit.

LOG_SERIES = tuple(1.0 / (2 * j + 1) for j in range(12))           # atanh(s) / s in s^2
COS_SERIES = tuple((-1.0) ** j / math.factorial(2 * j) for j in range(10))
SIN_SERIES = tuple((-1.0) ** j / math.factorial(2 * j + 1) for j in range(9))
LN2_HI, LN2_LO = 0.6931471803691238, 1.9082149292705877e-10       # ln 2 = hi + lo
HALF_PI = math.pi / 2
SQRT_HALF = 0.7071067811865476


def horner(coefficients: tuple, z):
    """c0 + z (c1 + z (c2 + ...)), innermost first."""
    total = coefficients[-1]
    for c in reversed(coefficients[:-1]):
        total = total * z + c
    return total


def log_unit(v: np.ndarray) -> np.ndarray:
    """log(v) for v in (0, 1]: v = m 2^e with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s)."""
    m, e = np.frexp(v)                           # m in [0.5, 1)
    low = m < SQRT_HALF
    m = np.where(low, m * 2.0, m)
    e = (e - low).astype(np.float64)
    s = (m - 1.0) / (m + 1.0)
    log_m = 2.0 * s * horner(LOG_SERIES, s * s)
    return e * LN2_HI + (log_m + e * LN2_LO)


def cos_turn(u: np.ndarray) -> np.ndarray:
    """cos(2 pi u) for u in [0, 1): quarter turns q, and the angle within one, kept <= pi/4."""
    t = u * 4.0
    q = np.floor(t)
    f = t - q
    swap = f > 0.5
    r = np.where(swap, 1.0 - f, f) * HALF_PI
    z = r * r
    c, s = horner(COS_SERIES, z), r * horner(SIN_SERIES, z)
    cos_f, sin_f = np.where(swap, s, c), np.where(swap, c, s)     # cos and sin of f pi/2
    return np.select([q == 0, q == 1, q == 2], [cos_f, -sin_f, -cos_f], sin_f)


DRAWS = {"random_uniform": uniform, "random_normal": normal}


def reference(node, dims):
    """The NumPy implementation of a random_uniform or random_normal node."""
    draw, dtype, stream = DRAWS[node.op], np.dtype(node.dtype), node.attrs["stream"]
    if len(node.inputs) == 2:
        def kernel(state, like):
            return draw(key(state, stream), like.size, dtype).reshape(like.shape)
        return kernel
    shape = dims(node.attrs["shape"])

    def kernel(state):
        concrete = shape()
        return draw(key(state, stream), math.prod(concrete), dtype).reshape(concrete)
    return kernel
