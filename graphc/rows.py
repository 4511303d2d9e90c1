"""Rows kept apart: whether a graph computes each row of a batch from that row alone.

A graph whose inputs lead with one batch dim `n` is *row-separable* when row i of every result
depends on row i of those inputs and on nothing else that has rows: the graph run on rows
[lo, hi) of its batch inputs gives rows [lo, hi) of its results. A backend may then cut the
batch into pieces and run them apart (on several threads, each piece through the whole of a
scan's loop, as the native scan does). An LSTM step is: a matmul of h by the weights, gate
math row by row.

The test is a sufficient one, read off the ops: a value is either *rows* (its leading dim is
n, row i from rows i) or *free* (no n in its shape, made from free values); any node it cannot
place (a reduction over the batch, a gather across it, a random draw) makes the graph not
separable.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from graphc import dims as D
from graphc.dimenv import DimEnv
from graphc.graph import Graph
from graphc.registry import OPS, Kind, Trait
from graphc.tensor import Tensor

ROWS, FREE = "rows", "free"


def batch_symbol(graph: Graph, batch_inputs: Sequence[int], env: DimEnv) -> str | None:
    """The one symbol leading the shapes of the given inputs, if they share one; else None."""
    leads = {env.resolve(graph.inputs[i].shape[0]) if graph.inputs[i].ndim else None
             for i in batch_inputs}
    if len(leads) != 1:
        return None
    (lead,) = leads
    return lead if isinstance(lead, str) else None


def separable(graph: Graph, symbol: str, env: DimEnv) -> list[str] | None:
    """Each input's class (ROWS or FREE) when `graph` is row-separable along `symbol` and
    every result has rows; None when the ops do not show it is."""
    classes = {}
    for p in graph.inputs:
        c = _leaf_class(p, symbol, env)
        if c is None:
            return None
        classes[id(p)] = c
    if _classify(graph, classes, symbol, env) is None:
        return None
    if any(classes[id(out)] != ROWS for out in graph.outputs):
        return None
    return [classes[id(p)] for p in graph.inputs]


def node_classes(graph: Graph, symbol: str, env: DimEnv,
                 given: Sequence | None = None) -> dict[int, str | tuple | None]:
    """Every node's class, None for a node the ops do not place (a reduction over the batch,
    say); a fused group's is the tuple of its results'. Unlike `separable`, one such node
    does not condemn the rest: a value without the batch in its shape is read by the nodes
    after it as a free one (the loss's 1/n is the same number for every row), so a graph
    falls into regions of rows between such nodes. `given`: the inputs' classes (a fused
    body's), else read off their shapes.
    """
    classes: dict[int, str | tuple | None] = {}
    if given is not None:
        classes.update((id(p), c) for p, c in zip(graph.inputs, given))
    for node in graph.nodes:
        if id(node) in classes:
            continue
        ins = [classes[id(i)] for i in node.inputs]
        ins = [FREE if c is None and not any(_mentions(d, symbol, env) for d in i.shape)
               else c for c, i in zip(ins, node.inputs)]
        if OPS[node.op].kind is Kind.LEAF:
            classes[id(node)] = _leaf_class(node, symbol, env)
        elif node.op == "fused_result":
            group = classes[id(node.inputs[0])]
            classes[id(node)] = group[node.attrs["index"]] if group is not None else None
        elif node.op == "fused":
            body = node.attrs["body"]
            inner = node_classes(body, symbol, env, ins)
            classes[id(node)] = tuple(inner[id(out)] for out in body.outputs)
        elif None in ins:
            classes[id(node)] = None
        else:
            classes[id(node)] = _node_class(node, ins, symbol, env)
    return classes


def _classify(graph: Graph, classes: dict, symbol: str, env: DimEnv) -> dict | None:
    """classes extended to every node of graph (inputs given), or None."""
    for node in graph.nodes:
        if id(node) in classes:
            continue
        c = _node_class(node, [classes[id(i)] for i in node.inputs], symbol, env)
        if c is None:
            return None
        classes[id(node)] = c
    return classes


def _mentions(d, symbol: str, env: DimEnv) -> bool:
    return symbol in D.symbols(env.resolve(d))


def _leads(t: Tensor, symbol: str, env: DimEnv) -> bool:
    """t's leading dim is the batch and no other dim mentions it."""
    return (t.ndim >= 1 and env.resolve(t.shape[0]) == symbol
            and not any(_mentions(d, symbol, env) for d in t.shape[1:]))


def _leaf_class(t: Tensor, symbol: str, env: DimEnv) -> str | None:
    if _leads(t, symbol, env):
        return ROWS
    if any(_mentions(d, symbol, env) for d in t.shape):
        return None
    return FREE


def _node_class(node: Tensor, ins: list, symbol: str, env: DimEnv) -> str | tuple | None:
    op = OPS[node.op]
    if op.kind is Kind.RANDOM or op.has(Trait.STATEFUL) or node.op == "scan":
        return None
    if node.op == "fused":
        return _fused_class(node, ins, symbol, env)
    if node.op == "fused_result":
        return ins[0][node.attrs["index"]]
    if node.op == "placeholder":
        return _leaf_class(node, symbol, env)
    if ROWS not in ins:
        if not any(_mentions(d, symbol, env) for d in node.shape):
            return FREE
        # a free value spread over the batch (zeros like h): every row the same
        return ROWS if node.op == "broadcast_to" and _leads(node, symbol, env) else None
    return ROWS if _leads(node, symbol, env) and _keeps_rows(node, ins) else None


def _keeps_rows(node: Tensor, ins: list) -> bool:
    """Row i of node's value comes from row i of its rows operands, given that the node and
    those operands lead with the batch and mention it nowhere else.

    Then no product or reduction can run over the batch, nor a layout op move it off axis 0:
    rows mix only where they are reordered along it (a slice or unslice stepping backwards),
    picked across it (gathers along axis 0 of rows) or drawn for by position (random ops,
    refused before). A gather picks within rows when it reads a free table by rows of
    indices (an embedding inside the step) or rows along another axis.
    """
    if node.op in ("slice", "unslice"):
        start, stop, step = node.attrs["slices"][0]
        return start in (None, 0) and stop is None and step in (None, 1)
    if node.op == "take":
        table, indices = ins
        return table == FREE if node.attrs["axis"] == 0 else indices == FREE
    if node.op in ("take_along_axis", "one_hot"):
        return node.op == "one_hot" or node.attrs["axis"] != 0
    return OPS[node.op].kind in _ROW_WISE_KINDS or node.op in _POOLING_GRADIENTS


_ROW_WISE_KINDS = frozenset({Kind.ELEMENTWISE, Kind.CONTRACTION, Kind.REDUCTION, Kind.LAYOUT})
# gathers and scatters within each map's windows (along the spatial axes, never the batch)
_POOLING_GRADIENTS = frozenset({"max_pool_grad", "max_pool_select", "avg_pool_grad"})


def _fused_class(node: Tensor, ins: list, symbol: str, env: DimEnv) -> tuple | None:
    """A fused group's class is its results' (read through its body), as a tuple the
    fused_result nodes pick from."""
    body = node.attrs["body"]
    inner = {}
    for p, c in zip(body.inputs, ins):
        if c == ROWS and not _leads(p, symbol, env):
            return None
        inner[id(p)] = c
    if _classify(body, inner, symbol, env) is None:
        return None
    return tuple(inner[id(out)] for out in body.outputs)


def row_work(nodes: Iterable[Tensor]) -> int:
    """Rough work of one row of the batch through the nodes (parallel.py's units in the
    native backend: about one scalar operation): each computed value's elements per row,
    times the depth of a product; fused groups' bodies counted, views and leaves not."""
    total = 0
    for n in nodes:
        if n.op == "fused":
            total += row_work(n.attrs["body"].nodes)
            continue
        if OPS[n.op].kind is Kind.LEAF or OPS[n.op].has(Trait.VIEW) or n.op == "fused_result":
            continue
        per_row = math.prod(d if isinstance(d, int) else 1 for d in n.shape[1:])
        depth = n.inputs[0].shape[-2 if n.attrs["transpose_a"] else -1] \
            if n.op == "matmul" else 1
        total += per_row * (depth if isinstance(depth, int) else 1)
    return total
