"""The reference meaning of any node as a NumPy computation (constant folding, verification).

Elementwise ops evaluate their scalar formula; the others their OpDef's reference
implementation. Ops with neither (convolution, pooling, scan) have no reference in the core.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from graphc import scalar
from graphc.registry import OPS, Kind
from graphc.tensor import Tensor


def formula_kernel(node: Tensor, dims=None) -> Callable[..., np.ndarray]:
    """An elementwise node evaluated from its scalar formula."""
    expr = scalar.trace(OPS[node.op].formula, len(node.inputs), dict(node.attrs))
    return lambda *arrays: scalar.evaluate(expr, arrays, node.dtype)


def reference_kernel(node: Tensor, dims) -> Callable[..., np.ndarray] | None:
    """A function of the operand arrays computing node, or None when the core has none."""
    opdef = OPS[node.op]
    if opdef.kind is Kind.ELEMENTWISE:
        return formula_kernel(node)
    return None if opdef.reference is None else opdef.reference(node, dims)


def has_reference(op: str) -> bool:
    opdef = OPS[op]
    return opdef.kind is Kind.ELEMENTWISE or opdef.reference is not None
