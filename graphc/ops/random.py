"""Random ops with an explicit random state in the graph, reproducible from a seed.

The state is an int64 variable holding (seed, counter). The primitives `random_uniform` and
`random_normal` are counter-based: element i of a draw is a pure function of
(seed, counter, stream, i) — a splitmix64 hash in uint64 arithmetic — so a seed replays the
same sequence and every backend can compute the same numbers. A training step advances the
counter with the update pair `(state, gc.next_random_state(state))`.

Equal draws are one node (nodes are hash-consed): two draws from one state in one step are
independent only if their `stream` differs. Nothing is differentiated into the state;
uniform(low, high) and normal(mean, std) are built as low + (high - low) * u and
mean + std * eps, so gradients flow into those parameters (the reparameterization trick).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from graphc.attrs import DTYPE, INT, SHAPE
from graphc.dtypes import FLOATS, canonical
from graphc.errors import DTypeError, ShapeError
from graphc.ops import random_bits
from graphc.ops.elementwise import cast, greater_equal, less
from graphc.ops.leaves import as_tensor, constant, variable
from graphc.registry import Kind, Trait, defgrad, defop
from graphc.tensor import Tensor, make
from graphc.types import TensorType, shape_str

__all__ = ["random_state", "next_random_state", "random_uniform", "random_normal",
           "random_bernoulli", "random_uniform_like", "random_normal_like",
           "random_bernoulli_like", "dropout"]


def _random_rule(types, attrs):
    if len(types) == 2 and attrs["shape"] != ():
        raise ShapeError("a draw shaped like an operand takes shape=()")
    state = types[0]
    if state.dtype != "int64" or tuple(state.shape) != (2,):
        raise DTypeError(f"the random state must be an int64 (seed, counter) pair of shape (2,)"
                         f" (see gc.random_state), got {state}")
    if attrs["dtype"] not in FLOATS:
        raise DTypeError(f"draws floats (float32 or float64), not {attrs['dtype']}")
    shape = types[1].shape if len(types) == 2 else attrs["shape"]
    return TensorType(attrs["dtype"], tuple(shape))


for _name in ("random_uniform", "random_normal"):
    defop(_name, Kind.RANDOM, _random_rule, arity=(1, 2), reference=random_bits.reference,
          attrs={"dtype": DTYPE, "stream": INT, "shape": SHAPE}, traits=(Trait.STATEFUL,))
    defgrad(_name, lambda g, out, *inputs: (None,) * len(inputs))


def random_state(seed: int, name: str | None = None) -> Tensor:
    """A new random state: an int64 variable (seed, counter=0) for the random ops."""
    return variable(np.array([seed, 0], np.int64), name=name)


def next_random_state(state: Tensor) -> Tensor:
    """The state with its counter advanced: pair it with `state` as an update of each step."""
    return state + constant(np.array([0, 1], np.int64))


def _shape(shape: Sequence) -> tuple:
    shape = (shape,) if isinstance(shape, (int, str)) else tuple(shape)
    for d in shape:
        if not isinstance(d, (int, str)) or isinstance(d, bool) or (isinstance(d, int) and d < 0):
            raise ShapeError(f"random ops need a shape of ints and symbolic dims, got "
                             f"{shape_str(shape)}; use the *_like form to follow a tensor's "
                             "shape")
    return shape


def _draw(op: str, shape, state: Tensor, dtype, stream: int, like: Tensor | None) -> Tensor:
    attrs = {"dtype": canonical(dtype), "stream": int(stream)}
    if like is None:
        return make(op, [as_tensor(state)], {**attrs, "shape": _shape(shape)})
    return make(op, [as_tensor(state), as_tensor(like)], {**attrs, "shape": ()})


def _affine(base: Tensor, shift, scale) -> Tensor:
    """shift + scale * base, skipping the identity parts so the plain draw stays one node."""
    if not (isinstance(scale, (int, float)) and scale == 1):
        base = base * scale
    if not (isinstance(shift, (int, float)) and shift == 0):
        base = base + shift
    return base


def random_uniform(shape, state: Tensor, low=0.0, high=1.0, dtype="float32",
                   stream: int = 0) -> Tensor:
    """Uniform draws in [low, high); dims of `shape` may be symbols bound by the inputs."""
    u = _draw("random_uniform", shape, state, dtype, stream, None)
    return _affine(u, low, high - low)


def random_normal(shape, state: Tensor, mean=0.0, std=1.0, dtype="float32",
                  stream: int = 0) -> Tensor:
    """Normal draws mean + std * eps, differentiable in mean and std (reparameterization)."""
    return _affine(_draw("random_normal", shape, state, dtype, stream, None), mean, std)


def random_bernoulli(shape, state: Tensor, p=0.5, dtype="float32", stream: int = 0) -> Tensor:
    """1 with probability p, else 0, in `dtype` (a float dtype or "bool")."""
    u = _draw("random_uniform", shape, state, "float32", stream, None)
    return _bernoulli(u, p, dtype)


def random_uniform_like(x: Tensor, state: Tensor, low=0.0, high=1.0, dtype=None,
                        stream: int = 0) -> Tensor:
    """Uniform draws shaped like x (symbolic batch dims included), x's dtype by default."""
    u = _draw("random_uniform", None, state, dtype or x.dtype, stream, x)
    return _affine(u, low, high - low)


def random_normal_like(x: Tensor, state: Tensor, mean=0.0, std=1.0, dtype=None,
                       stream: int = 0) -> Tensor:
    """Normal draws shaped like x (symbolic batch dims included), x's dtype by default."""
    return _affine(_draw("random_normal", None, state, dtype or x.dtype, stream, x), mean, std)


def random_bernoulli_like(x: Tensor, state: Tensor, p=0.5, dtype=None,
                          stream: int = 0) -> Tensor:
    """Bernoulli(p) draws shaped like x, in x's dtype by default."""
    dtype = dtype or x.dtype
    u = _draw("random_uniform", None, state, dtype if dtype in FLOATS else "float32", stream, x)
    return _bernoulli(u, p, dtype)


def _bernoulli(u: Tensor, p, dtype) -> Tensor:
    dtype = canonical(dtype)
    keep = less(u, p)
    return keep if dtype == "bool" else cast(keep, dtype)


def dropout(x: Tensor, rate: float, state: Tensor, training: bool = True,
            stream: int = 0) -> Tensor:
    """Inverted dropout: zero with probability `rate`, scale the rest by 1/(1 - rate); eval: x."""
    if not 0 <= rate < 1:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate}")
    x = as_tensor(x)
    if not training or rate == 0:
        return x
    u = random_uniform_like(x, state, stream=stream)
    return x * (cast(greater_equal(u, rate), x.dtype) * (1.0 / (1.0 - rate)))
