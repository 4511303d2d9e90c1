"""Algebraic simplification: identities that remove work without changing any result."""
from __future__ import annotations

from graphc.ops.shapes import broadcast_shapes
from graphc.passes.manager import register, rule_pass
from graphc.passes.unslices import merge_unslices
from graphc.pattern import P, RuleSet
from graphc.registry import Kind, ops_of_kind
from graphc.tensor import Tensor

x, y = P.var("x"), P.var("y")


def keep_x(x: Tensor, node: Tensor) -> Tensor | None:
    """The operand itself, when it already has the result's shape (no broadcast to keep)."""
    return x if x.shape == node.shape else None


def drop_implied_broadcast(node: Tensor) -> Tensor | None:
    """op(broadcast_to(a), b) -> op(a, b) when the op's own broadcasting gives the same shape."""
    for i, inp in enumerate(node.inputs):
        if inp.op != "broadcast_to":
            continue
        inputs = list(node.inputs)
        inputs[i] = inp.inputs[0]
        if broadcast_shapes(*(t.shape for t in inputs)) == node.shape:
            return node.replace(inputs)
    return None


def collapse_reshapes(x: Tensor, node: Tensor) -> Tensor | None:
    """reshape(reshape(x)) -> reshape(x), and a reshape to x's own shape -> x."""
    if x.shape == node.shape:
        return x
    return node.replace([x]) if node.inputs[0] is not x else None


ELEMENTWISE = tuple(sorted(ops_of_kind(Kind.ELEMENTWISE)))

RULES = RuleSet([
    (P("add", x, P.const(0)), keep_x, "x + 0"),
    (P("subtract", x, P.const(0)), keep_x, "x - 0"),
    (P("multiply", x, P.const(1)), keep_x, "x * 1"),
    (P("divide", x, P.const(1)), keep_x, "x / 1"),
    (P("neg", P("neg", x)), lambda x: x, "--x"),
    (P("reshape", P("reshape", x)), collapse_reshapes, "reshape of reshape"),
    (P("reshape", x), keep_x, "reshape to own shape"),
    (P(ELEMENTWISE, where=lambda n: len(n.inputs) > 1 and any(
        i.op == "broadcast_to" for i in n.inputs)), drop_implied_broadcast,
     "implied broadcast"),
    (P(("add", "unslice")), merge_unslices, "unslices to concatenate"),
])
PASS = register(rule_pass("simplify", RULES, __doc__.splitlines()[0]))
