"""Graph -> Graph passes and the default pipeline that compile() runs."""
from __future__ import annotations

from graphc.graph import Graph
from graphc.passes.fold import fold_constants
from graphc.passes.simplify import simplify

PIPELINE = [("fold_constants", fold_constants), ("simplify", simplify)]


def optimize(graph: Graph, skip: tuple[str, ...] = ()) -> Graph:
    """Run the default pipeline (dead code is dropped by Graph itself, CSE by hash-consing)."""
    for name, run in PIPELINE:
        if name not in skip:
            graph = run(graph)
    return graph
