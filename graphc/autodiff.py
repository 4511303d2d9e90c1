"""Symbolic reverse-mode differentiation: gradients are appended to the graph as more nodes.

Walk the nodes between `wrt` and `y` in reverse topological order, summing the adjoints that
reach each node and applying its op's gradient rule (a VJP built from ordinary ops), so the
result can be optimized, rendered and differentiated again.
"""
from __future__ import annotations

from typing import Sequence

from graphc.dtypes import is_float
from graphc.errors import DTypeError, GraphError
from graphc.graph import topological_order
from graphc.ops import GRADS, OPS, Kind
from graphc.ops.layout import broadcast_to
from graphc.ops.leaves import constant
from graphc.passes.stability import stabilize
from graphc.tensor import Tensor, building_gradient_of
from graphc.types import shape_str


def grad(y: Tensor, wrt: Sequence[Tensor] | Tensor, seed: Tensor | None = None):
    """d y / d wrt for each tensor in wrt (a list, or one Tensor for one Tensor).

    y must be a float scalar unless `seed` (the adjoint of y, y's shape) is given, which
    computes the vector-Jacobian product instead. Tensors y does not depend on get zeros.
    """
    single = isinstance(wrt, Tensor)
    targets = [wrt] if single else list(wrt)
    _check_arguments(y, targets, seed)
    y = stabilize(y, targets)
    order = topological_order([y])
    on_path = _depends_on(order, {id(t) for t in targets})
    pending: dict[int, list[Tensor]] = {id(y): [seed if seed is not None
                                                else constant(1, y.dtype)]}
    total: dict[int, Tensor] = {}
    for node in reversed(order):
        parts = pending.pop(id(node), None)
        if not parts or id(node) not in on_path:
            continue
        with building_gradient_of(node):
            g = _sum(parts)
        total[id(node)] = g
        # NOTE: the token of a node holding a subgraph carries the gradient of its results
        needed = [id(i) in on_path and (is_float(i.dtype) or OPS[i.op].kind is Kind.COMPOSITE)
                  for i in node.inputs]
        if not any(needed):
            continue
        for inp, gi in zip(node.inputs, _apply_rule(node, g)):
            if gi is not None and id(inp) in on_path and is_float(inp.dtype):
                _check_gradient(node, inp, gi)
                pending.setdefault(id(inp), []).append(gi)
    grads = [total[id(t)] if id(t) in total else broadcast_to(constant(0, t.dtype), t.shape)
             for t in targets]
    return grads[0] if single else grads


def _check_arguments(y: Tensor, targets: list[Tensor], seed: Tensor | None) -> None:
    if not isinstance(y, Tensor):
        raise GraphError(f"grad: y must be a Tensor, got {type(y).__name__}")
    if not is_float(y.dtype):
        raise DTypeError(f"grad: y must be float, got {y.dtype}")
    if seed is None and y.ndim != 0:
        raise GraphError(f"grad: y must be a scalar, got shape {shape_str(y.shape)}; reduce it "
                         "(e.g. gc.mean) or pass seed= for a vector-Jacobian product")
    if seed is not None and (seed.type != y.type):
        raise GraphError(f"grad: seed has type {seed.type}, y has type {y.type}")
    for t in targets:
        if not isinstance(t, Tensor):
            raise GraphError(f"grad: wrt must hold Tensors, got {type(t).__name__}")
        if not is_float(t.dtype):
            raise DTypeError(f"grad: cannot differentiate with respect to a {t.dtype} tensor "
                             f"{t.name or t.op!r}")


def _depends_on(order: list[Tensor], target_ids: set[int]) -> set[int]:
    """Ids of the nodes (in topological order) that depend on any target."""
    result = set()
    for node in order:
        if id(node) in target_ids or any(id(i) in result for i in node.inputs):
            result.add(id(node))
    return result


def _apply_rule(node: Tensor, g: Tensor) -> tuple:
    rule = GRADS.get(node.op)
    if rule is None:
        where = f" (built at {node.loc})" if node.loc else ""
        raise GraphError(f"grad: op {node.op} is not differentiable{where}")
    with building_gradient_of(node):
        grads = rule(g, node, *node.inputs)
    return grads if isinstance(grads, tuple) else (grads,)


def _check_gradient(node: Tensor, inp: Tensor, gi: Tensor) -> None:
    """A gradient rule must return its operand's type; catching a bad rule here names it."""
    same_static = all(a == b for a, b in zip(gi.shape, inp.shape)
                      if isinstance(a, int) and isinstance(b, int))
    if gi.dtype != inp.dtype or gi.ndim != inp.ndim or not same_static:
        raise GraphError(f"grad: the rule of {node.op} returned {gi.type} for an operand of "
                         f"type {inp.type}")


def _sum(parts: list[Tensor]) -> Tensor:
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total
