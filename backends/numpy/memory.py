"""Buffer reuse for the interpreter: which elementwise nodes may write into an input's array.

An elementwise ufunc can compute in place into an operand that dies at that node, when the
operand owns a fresh buffer of the output's shape and dtype and no view of it is read later.
A variable updated by such a node is updated in its own buffer (DESIGN: "updates applied in
place"), once every other reader of the variable has run.
"""
from __future__ import annotations

import numpy as np

from graphc.graph import Graph
from graphc.registry import Trait, ops_with
from graphc.tensor import Tensor

VIEW_OPS = ops_with(Trait.VIEW)
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
    updated_by = {id(value): var for var, value in graph.updates}
    plan: dict[int, int] = {}
    for i, node in enumerate(graph.nodes):
        if node.ndim == 0 or not is_elementwise_ufunc(kernels.get(id(node))):
            continue
        for pos, inp in enumerate(node.inputs):
            fresh = inp.op in _FRESH_OPS or isinstance(kernels.get(id(inp)), np.ufunc)
            own_variable = updated_by.get(id(node)) is inp
            if ((fresh or own_variable) and owner[id(inp)] is inp
                    and last_read.get(id(inp)) == i and id(inp) not in escaping
                    and graph.dims.same_type(inp.type, node.type)):
                plan[i] = pos
                break
    return plan

