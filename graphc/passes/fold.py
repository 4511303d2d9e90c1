"""Constant folding: a node whose operands are all constants is evaluated at compile time.

Evaluation goes through the core's reference semantics (scalar formulas, NumPy references),
never through a backend. Random draws and composites are left alone, and so is a node whose
result would be much larger than its operands (a cheap broadcast is better than a big array).
"""
from __future__ import annotations

import numpy as np

from graphc.ops.leaves import constant
from graphc.ops.shapes import num_elements
from graphc.passes.manager import register, rule_pass
from graphc.pattern import P, RuleSet
from graphc.reference import has_reference, reference_kernel
from graphc.registry import OPS, Kind
from graphc.tensor import Tensor

MAX_FOLDED_ELEMENTS = 1 << 16


def _static_dims(shape):
    static = tuple(shape)
    return lambda: static


def _foldable(node: Tensor) -> bool:
    return (bool(node.inputs) and OPS[node.op].kind not in (Kind.RANDOM, Kind.COMPOSITE)
            and all(i.op == "constant" for i in node.inputs) and has_reference(node.op))


def fold(node: Tensor) -> Tensor | None:
    size = num_elements(node.shape)
    if size is None or size > max(MAX_FOLDED_ELEMENTS, *(i.value.size for i in node.inputs)):
        return None
    kernel = reference_kernel(node, _static_dims)
    try:
        with np.errstate(all="ignore"):
            value = np.asarray(kernel(*(i.value for i in node.inputs)), dtype=node.dtype)
    except (ValueError, ArithmeticError, IndexError):
        return None        # an error (int ** -1, an index out of range) is left for run time
    return constant(value, name=node.name)


RULES = RuleSet([(P(None, where=_foldable), fold)])
PASS = register(rule_pass("fold", RULES, __doc__.splitlines()[0]))
