"""Two versions of a graph side by side, with the nodes one has and the other lacks marked.

Nodes match structurally, not by identity: the same op, attributes, type and name, applied to
inputs that match in turn (a loaded or rewritten graph has new objects for unchanged nodes).
"""
from __future__ import annotations

from collections import Counter

import graphviz

from backends.graphviz.draw import Canvas, Drawer, Options, as_graph, label, new_digraph
from graphc.printing import value_names
from graphc.tensor import Tensor


def structural_keys(graph, interned: dict) -> dict[int, int]:
    """node id -> an int equal for nodes of equal structure (`interned` is shared by graphs)."""
    names = value_names(graph)
    printer, dims = names.printer, names.dims
    keys: dict[int, int] = {}
    for node in graph.nodes:
        attrs = tuple((k, printer.value(v)) for k, v in node.attrs.items()
                      if node.op not in ("placeholder", "variable", "constant"))
        value = node.value.tobytes() if node.op == "constant" else None
        key = (node.op, node.name, attrs, dims.type(node.type), value,
               tuple(keys[id(i)] for i in node.inputs))
        keys[id(node)] = interned.setdefault(key, len(interned))
    return keys


def diff_marks(before, after) -> tuple[dict[int, str], dict[int, str]]:
    """The nodes of `before` that `after` lacks ("removed"), and those it adds ("added")."""
    interned: dict = {}
    keys_a, keys_b = structural_keys(before, interned), structural_keys(after, interned)
    spare_a = Counter(keys_a.values()) - Counter(keys_b.values())
    spare_b = Counter(keys_b.values()) - Counter(keys_a.values())
    return _take(before.nodes, keys_a, spare_a, "removed"), \
        _take(after.nodes, keys_b, spare_b, "added")


def _take(nodes: list[Tensor], keys: dict[int, int], spare: Counter, mark: str) -> dict[int, str]:
    marks = {}
    for node in reversed(nodes):
        if spare[keys[id(node)]] > 0:
            spare[keys[id(node)]] -= 1
            marks[id(node)] = mark
    return marks


def diff_to_dot(before, after, options: Options, rankdir: str = "TB",
                titles: tuple[str, str] = ("before", "after")) -> graphviz.Digraph:
    """Both graphs in one picture, each in its own cluster, changed nodes marked."""
    before, after = as_graph(before), as_graph(after)
    removed, added = diff_marks(before, after)
    canvas = Canvas()
    for graph, marks, title, mark in ((before, removed, titles[0], "removed"),
                                      (after, added, titles[1], "added")):
        summary = f"{title}: {len(graph.nodes)} nodes, {len(marks)} {mark}"
        cluster = canvas.root.child(title, f"cluster_{title}",
                                    {"label": label(summary), "style": "rounded",
                                     "color": "#adb5bd", "fontsize": "12"})
        Drawer(canvas, graph, options, prefix=f"{title}/", marks=marks, cluster=cluster).draw()
    dot = new_digraph(rankdir=rankdir)
    canvas.write(dot)
    return dot
