"""The one rewriting utility: rebuild a graph bottom-up, offering every node to a list of rules.

A rule takes a node (whose inputs are already rewritten) and returns its replacement, or None
when it does not match. Rules run to a fixpoint on each node; a replacement must keep the
node's type.
"""
from __future__ import annotations

from typing import Callable, Sequence

from graphc.errors import GraphError
from graphc.graph import Graph
from graphc.tensor import Tensor

Rule = Callable[[Tensor], "Tensor | None"]


def rewrite_node(node: Tensor, rules: Sequence[Rule]) -> Tensor:
    changed = True
    while changed:
        changed = False
        for rule in rules:
            new = rule(node)
            if new is not None and new is not node:
                if new.dtype != node.dtype or new.ndim != node.ndim:
                    raise GraphError(f"rewrite {rule.__name__} changed the type of {node.op} "
                                     f"from {node.type} to {new.type}")
                node, changed = new, True
    return node


def rewrite(graph: Graph, rules: Sequence[Rule]) -> Graph:
    """The graph with every node rewritten by `rules`, inputs before users."""
    memo: dict[int, Tensor] = {}
    for node in graph.nodes:
        new = node.replace([memo[id(i)] for i in node.inputs])
        memo[id(node)] = rewrite_node(new, rules)
    return graph.with_nodes([memo[id(t)] for t in graph.outputs],
                            [(var, memo[id(value)]) for var, value in graph.updates])
