"""Dead code elimination: what no output or update needs is dropped, as are no-op updates.

A Graph holds only the nodes its outputs and updates reach, so rebuilding it drops dead
nodes; an update that assigns a variable its own value does nothing and goes too.
"""
from __future__ import annotations

from collections import Counter

from graphc.graph import Graph
from graphc.passes.manager import Pass, register


def dce(graph: Graph, fired: Counter, log: list | None) -> Graph:
    updates = [(var, value) for var, value in graph.updates if value is not var]
    if len(updates) < len(graph.updates):
        fired["no-op update"] += len(graph.updates) - len(updates)
    return Graph(graph.inputs, graph.outputs, updates)


PASS = register(Pass("dce", dce, __doc__.splitlines()[0]))
