"""Algebraic simplification: identities that remove work without changing any result."""
from __future__ import annotations

from graphc.graph import Graph
from graphc.ops.leaves import is_constant
from graphc.ops.shapes import broadcast_shapes
from graphc.passes.unslices import merge_unslices
from graphc.rewrite import rewrite
from graphc.tensor import Tensor

_BINARY_ELEMENTWISE = {"add", "subtract", "multiply", "divide", "power", "maximum", "minimum",
                       "where", "equal", "not_equal", "less", "less_equal", "greater",
                       "greater_equal", "logical_and", "logical_or"}


def drop_identity_operand(node: Tensor) -> Tensor | None:
    """x + 0, 0 + x, x - 0, x * 1, 1 * x, x / 1 -> x (when x already has the result's shape)."""
    identities = {"add": ((0, 0), (1, 0)), "subtract": ((0, 0),), "multiply": ((0, 1), (1, 1)),
                  "divide": ((0, 1),)}
    for keep, value in identities.get(node.op, ()):
        x, other = node.inputs[keep], node.inputs[1 - keep]
        if x.shape == node.shape and is_constant(other, value):
            return x
    return None


def drop_implied_broadcast(node: Tensor) -> Tensor | None:
    """op(broadcast_to(a), b) -> op(a, b) when the op's own broadcasting gives the same shape."""
    if node.op not in _BINARY_ELEMENTWISE:
        return None
    for i, inp in enumerate(node.inputs):
        if inp.op != "broadcast_to":
            continue
        inputs = list(node.inputs)
        inputs[i] = inp.inputs[0]
        if broadcast_shapes(*(t.shape for t in inputs)) == node.shape:
            return node.replace(inputs)
    return None


def collapse_double_neg(node: Tensor) -> Tensor | None:
    if node.op == "neg" and node.inputs[0].op == "neg":
        return node.inputs[0].inputs[0]
    return None


def collapse_reshapes(node: Tensor) -> Tensor | None:
    """reshape(reshape(x)) -> reshape(x), and a reshape to x's own shape -> x."""
    if node.op != "reshape":
        return None
    x = node.inputs[0]
    if x.shape == node.shape:
        return x
    if x.op == "reshape":
        return node.replace([x.inputs[0]]) if x.inputs[0].shape != node.shape \
            else x.inputs[0]
    return None


RULES = [drop_identity_operand, drop_implied_broadcast, collapse_double_neg, collapse_reshapes,
         merge_unslices]


def simplify(graph: Graph) -> Graph:
    return rewrite(graph, RULES)
