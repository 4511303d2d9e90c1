"""Buffers for the interpreter: which nodes may write into an input's array, which results to copy.

An elementwise ufunc can compute in place into an operand that dies at that node, when the
operand owns a fresh buffer of the output's shape and dtype and no view of it is read later.
Leaves are never written: not a feed (the caller's array), not a constant, and not a variable,
whose new value goes to a fresh buffer that the call commits only once every node has run, so
a call that fails leaves every variable as it was.
"""
from __future__ import annotations

import numpy as np

from graphc.graph import Graph
from graphc.registry import Trait, ops_with
from graphc.tensor import Tensor

VIEW_OPS = ops_with(Trait.VIEW)
LEAF_OPS = frozenset({"placeholder", "variable", "constant"})
# Ops whose kernels always return a new array (not a view, not an operand).
_FRESH_OPS = frozenset({"cast", "where", "sum", "prod", "max", "min"})


def is_elementwise_ufunc(kernel) -> bool:
    return isinstance(kernel, np.ufunc) and kernel.signature is None


def buffer_owners(graph: Graph) -> dict[int, Tensor]:
    """For every node, the node whose array it shares (itself unless it is a view)."""
    owner: dict[int, Tensor] = {}
    for node in graph.nodes:
        owner[id(node)] = owner[id(node.inputs[0])] if node.op in VIEW_OPS else node
    return owner


def plan_in_place(graph: Graph, kernels: dict[int, object]) -> dict[int, int]:
    """Map node index -> position of the operand whose buffer the node's kernel writes into.

    `kernels` maps id(node) to the node's kernel.
    """
    owner = buffer_owners(graph)
    last_read: dict[int, int] = {}
    for i, node in enumerate(graph.nodes):
        for inp in node.inputs:
            last_read[id(owner[id(inp)])] = i
    escaping = {id(owner[id(t)]) for t in graph.outputs}
    escaping |= {id(owner[id(v)]) for _, v in graph.updates}
    plan: dict[int, int] = {}
    for i, node in enumerate(graph.nodes):
        if node.ndim == 0 or not is_elementwise_ufunc(kernels.get(id(node))):
            continue
        for pos, inp in enumerate(node.inputs):
            fresh = inp.op in _FRESH_OPS or isinstance(kernels.get(id(inp)), np.ufunc)
            if (fresh and owner[id(inp)] is inp
                    and last_read.get(id(inp)) == i and id(inp) not in escaping
                    and graph.dims.same_type(inp.type, node.type)):
                plan[i] = pos
                break
    return plan


def plan_copies(graph: Graph) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The positions of the update values and outputs to copy, so each owns a buffer.

    A copy is needed for a result sharing its buffer with a leaf (a feed, a variable, a
    constant) or with a result claimed before it: a variable then never shares its value with
    an array the caller holds, nor two returned arrays with each other. A variable's new value
    is also copied when it is a view or 0-d (a NumPy scalar), so that it is a compact array.
    """
    owner = buffer_owners(graph)
    claimed: set[int] = set()

    def needs_copy(t: Tensor, compact: bool) -> bool:
        base = owner[id(t)]
        copy = (t.ndim == 0 or base.op in LEAF_OPS or id(base) in claimed
                or (compact and t.op in VIEW_OPS))
        if not copy:
            claimed.add(id(base))
        return copy
    updates = [i for i, (_, value) in enumerate(graph.updates) if needs_copy(value, compact=True)]
    outputs = [i for i, t in enumerate(graph.outputs) if needs_copy(t, compact=False)]
    return tuple(updates), tuple(outputs)
