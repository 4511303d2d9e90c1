"""Constant folding: nodes whose inputs are all constants are evaluated once, at compile time."""
from __future__ import annotations

import numpy as np

from graphc.graph import Graph
from graphc.ops.leaves import constant
from graphc.ops.shapes import num_elements
from graphc.reference import reference_kernel
from graphc.registry import OPS, Kind
from graphc.rewrite import rewrite
from graphc.tensor import Tensor

MAX_FOLDED_ELEMENTS = 1 << 16   # do not turn a cheap broadcast into a big stored array


def _static_dims(shape):
    static = tuple(shape)
    return lambda: static


def fold(node: Tensor) -> Tensor | None:
    # NOTE: a composite (a scan) evaluates to a tuple of arrays, not one constant.
    if not node.inputs or OPS[node.op].kind in (Kind.RANDOM, Kind.COMPOSITE):
        return None
    if any(i.op != "constant" for i in node.inputs):
        return None
    size = num_elements(node.shape)
    if size is None or size > max(MAX_FOLDED_ELEMENTS, *(i.value.size for i in node.inputs)):
        return None
    kernel = reference_kernel(node, _static_dims)
    if kernel is None:
        return None
    value = np.asarray(kernel(*(i.value for i in node.inputs)), dtype=node.dtype)
    return constant(value, name=node.name)


def fold_constants(graph: Graph) -> Graph:
    return rewrite(graph, [fold])
