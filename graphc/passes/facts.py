"""What a rule may assume of a node's values without running it: finite, never negative.

Both are sufficient tests read off the ops that made the node (a few levels deep), never a
guess: a placeholder or variable of floats may hold NaN or infinities, so nothing is known of
it. Ints and bools are always finite.
"""
from __future__ import annotations

import numpy as np

from graphc.dtypes import is_float
from graphc.registry import Trait, ops_with
from graphc.tensor import Tensor

DEPTH = 8     # how many producers deep a question looks (the answer is False beyond)

VIEWS = ops_with(Trait.VIEW)
# Finite whenever their value operands are (a where's branches, a gather's table).
_KEEP_FINITE = VIEWS | {"neg", "abs", "sign", "floor", "ceil", "relu", "sin", "cos", "tanh",
                        "sigmoid", "erf", "maximum", "minimum", "where", "concatenate",
                        "take", "take_along_axis"}
_BOUNDED = frozenset({"one_hot", "shape_size", "random_uniform"})    # finite, whatever feeds
_NONNEG = frozenset({"exp", "sigmoid", "softplus", "relu", "sqrt", "one_hot", "shape_size",
                     "random_uniform"})     # >= 0 or NaN, whatever their operands
_KEEP_NONNEG = VIEWS | {"minimum", "max", "min", "where", "concatenate", "take",
                        "take_along_axis"}
# NOTE: int arithmetic wraps around (the square of a large int32 is negative), so these keep
# their operands' sign only in floats.
_KEEP_NONNEG_FLOAT = frozenset({"add", "multiply", "sum", "prod"})
_NONNEG_FLOAT = frozenset({"abs", "square"})


def _values(node: Tensor) -> tuple[Tensor, ...]:
    """The operands whose values flow into node's (not a where's condition, not indices)."""
    if node.op == "where":
        return node.inputs[1:]
    if node.op in ("take", "take_along_axis"):
        return node.inputs[:1]
    return node.inputs


def known_finite(node: Tensor, depth: int = DEPTH) -> bool:
    """Whether every value of node is finite (no NaN, no infinity) for any feeds."""
    if not is_float(node.dtype) or node.op in _BOUNDED:
        return True
    if node.op == "constant":
        return bool(np.isfinite(node.value).all())
    if node.op == "cast" and not is_float(node.inputs[0].dtype):
        return True              # |int64| < 2**63, far inside float32's range
    if depth == 0:
        return False
    if node.op == "cast":
        source = node.inputs[0]
        narrowing = np.finfo(node.dtype).max < np.finfo(source.dtype).max
        return not narrowing and known_finite(source, depth - 1)
    if node.op in _KEEP_FINITE or (node.op == "pad" and np.isfinite(node.attrs["value"])):
        return all(known_finite(i, depth - 1) for i in _values(node))
    return False


def known_nonneg(node: Tensor, depth: int = DEPTH) -> bool:
    """Whether every value of node is >= 0 or NaN (never below zero) for any feeds.

    NOTE: -0.0 counts as non-negative; a rule relying on this must not divide by the value.
    """
    floating = is_float(node.dtype)
    if node.op in _NONNEG or node.dtype == "bool" or (floating and node.op in _NONNEG_FLOAT):
        return True
    if node.op == "constant":
        with np.errstate(invalid="ignore"):
            return not bool((node.value < 0).any())
    if depth == 0:
        return False
    if node.op == "cast":
        source = node.inputs[0]
        widening = floating or (source.dtype, node.dtype) == ("int32", "int64")
        return source.dtype == "bool" or (widening and known_nonneg(source, depth - 1))
    if floating and node.op == "multiply" and node.inputs[0] is node.inputs[1]:
        return True              # x * x
    if node.op == "maximum":
        return any(known_nonneg(i, depth - 1) for i in node.inputs)
    if node.op in _KEEP_NONNEG or (floating and node.op in _KEEP_NONNEG_FLOAT):
        return all(known_nonneg(i, depth - 1) for i in _values(node))
    return False
