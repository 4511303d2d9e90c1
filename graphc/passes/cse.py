"""Common subexpressions: nodes that hold structurally equal subgraphs become one node.

Hash-consing already shares equal nodes as they are built; this pass also merges nodes that
hold structurally equal subgraphs (two scans of the same body, traced twice).

Two subgraphs are equal when rebuilding each on canonical placeholders (one per input
position and type) gives the same nodes; the later node is then rebuilt on the first graph,
and hash-consing returns the node that already holds it.
"""
from __future__ import annotations

from collections import Counter

from graphc.graph import Graph
from graphc.ops.leaves import canonical_placeholder
from graphc.passes.manager import Pass, register
from graphc.pattern import P, RuleSet
from graphc.rewrite import Rewriter
from graphc.tensor import Tensor, make


def canonical_form(graph: Graph) -> tuple[tuple, list[Tensor]]:
    """A key equal for subgraphs computing the same thing from the same input positions, and
    the canonical nodes the key's ids refer to (to keep them alive while the key is used)."""
    memo = {id(t): canonical_placeholder(t.type, k) for k, t in enumerate(graph.inputs)}
    for node in graph.nodes:
        if id(node) not in memo:
            memo[id(node)] = node.replace([memo[id(i)] for i in node.inputs])
    nodes = list(memo.values())
    key = (tuple(id(memo[id(t)]) for t in graph.inputs),
           tuple(id(memo[id(t)]) for t in graph.outputs),
           tuple((id(v), id(memo[id(u)])) for v, u in graph.updates))
    return key, nodes


def cse(graph: Graph, fired: Counter, log: list | None) -> Graph:
    seen: dict[tuple, tuple[Graph, list]] = {}

    def merge(node: Tensor) -> Tensor | None:
        attrs, changed = dict(node.attrs), False
        for key, value in node.attrs.items():
            if isinstance(value, Graph):
                form, nodes = canonical_form(value)
                first, _ = seen.setdefault(form, (value, nodes))
                if first is not value:
                    attrs[key], changed = first, True
        if not changed:
            return None
        return make(node.op, node.inputs, attrs, name=node.name, loc=node.loc,
                    scope=node.scope, grad_of=node.grad_of)

    rules = RuleSet([(P(None, where=_holds_graph), merge, "equal subgraphs")])
    return Rewriter(rules, fired, log)(graph)


def _holds_graph(node: Tensor) -> bool:
    return any(isinstance(v, Graph) for v in node.attrs.values())


PASS = register(Pass("cse", cse, __doc__.splitlines()[0]))
