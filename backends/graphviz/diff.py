"""Two versions of a graph side by side, with the nodes one has and the other lacks marked.

Nodes match structurally, not by identity (a loaded or rewritten graph has new objects for
unchanged nodes), in three steps, as tree diffs (GumTree) match nodes:
1. exactly: the same op, attributes, type and name applied to inputs that match in turn, so
   every untouched subgraph pairs up whole;
2. bottom-up: an unmatched node pairs with an unmatched node of the same op, attributes, type
   and name that reads the most of the same (matched) inputs, so a node whose input a rewrite
   replaced is still the same node;
3. top-down: outputs (and update values) at the same position, and then the unmatched inputs
   at the same position of two matched nodes, pair up when they look alike, so a node whose
   inputs all changed is still found through its users.
Steps 2 and 3 repeat until nothing new pairs up. What is left is marked: removed before,
added after; when the optimizer drops one broadcast_to, that is the one node marked.
"""
from __future__ import annotations

from collections import defaultdict

import graphviz

from backends.graphviz.draw import Canvas, Drawer, Options, as_graph, label, new_digraph
from graphc.printing import value_names
from graphc.tensor import Tensor

Signature = tuple


def signatures(graph) -> dict[int, Signature]:
    """node id -> what the node is by itself: op, name, attrs, type and a constant's value."""
    names = value_names(graph)
    printer, dims = names.printer, names.dims
    local: dict[int, Signature] = {}
    for node in graph.nodes:
        attrs = tuple((k, printer.value(v)) for k, v in node.attrs.items()
                      if node.op not in ("placeholder", "variable", "constant"))
        value = node.value.tobytes() if node.op == "constant" else None
        local[id(node)] = (node.op, node.name, attrs, dims.type(node.type), value)
    return local


def structural_keys(graph, interned: dict, local: dict[int, Signature]) -> dict[int, int]:
    """node id -> an int equal for nodes of equal structure (`interned` is shared by graphs)."""
    keys: dict[int, int] = {}
    for node in graph.nodes:
        key = (local[id(node)], tuple(keys[id(i)] for i in node.inputs))
        keys[id(node)] = interned.setdefault(key, len(interned))
    return keys


class _Matching:
    """A one-to-one pairing of the nodes of two graphs."""

    def __init__(self, before, after):
        self.before, self.after = before, after
        self.sig_a, self.sig_b = signatures(before), signatures(after)
        self.pair: dict[int, Tensor] = {}          # id(before node) -> after node
        self.back: dict[int, Tensor] = {}          # id(after node) -> before node
        self.position = {id(n): i / max(len(before.nodes), 1)
                         for i, n in enumerate(before.nodes)}
        self.position.update({id(n): i / max(len(after.nodes), 1)
                              for i, n in enumerate(after.nodes)})

    def link(self, a: Tensor, b: Tensor) -> None:
        self.pair[id(a)], self.back[id(b)] = b, a

    def exact(self) -> None:
        interned: dict = {}
        keys_a = structural_keys(self.before, interned, self.sig_a)
        keys_b = structural_keys(self.after, interned, self.sig_b)
        waiting: dict[int, list[Tensor]] = defaultdict(list)
        for node in self.before.nodes:
            waiting[keys_a[id(node)]].append(node)
        for node in self.after.nodes:
            if waiting[keys_b[id(node)]]:
                self.link(waiting[keys_b[id(node)]].pop(0), node)

    def unmatched_by_signature(self) -> dict[Signature, list[Tensor]]:
        found: dict[Signature, list[Tensor]] = defaultdict(list)
        for node in self.before.nodes:
            if id(node) not in self.pair:
                found[self.sig_a[id(node)]].append(node)
        return found

    def score(self, a: Tensor, b: Tensor) -> int:
        """How many of b's inputs are paired with a's: twice at the same position, once else."""
        paired = [self.pair.get(id(i)) for i in a.inputs]
        same_place = sum(p is not None and p is j for p, j in zip(paired, b.inputs))
        anywhere = sum(any(p is j for p in paired) for j in b.inputs)
        return same_place + anywhere

    def bottom_up(self) -> bool:
        candidates, linked = self.unmatched_by_signature(), False
        for b in self.after.nodes:
            if id(b) in self.back:
                continue
            pool = candidates.get(self.sig_b[id(b)], [])
            scored = [(self.score(a, b), -abs(self.position[id(a)] - self.position[id(b)]), k)
                      for k, a in enumerate(pool)]
            best = max(scored, default=None)
            if best is not None and best[0] > 0:
                self.link(pool.pop(best[2]), b)
                linked = True
        return linked

    def roots(self) -> list[tuple[Tensor, Tensor]]:
        """The graphs' outputs and update values, position by position."""
        pairs = list(zip(self.before.outputs, self.after.outputs))
        updates = {id(self.pair.get(id(var))): value for var, value in self.before.updates}
        pairs += [(updates[id(var)], value) for var, value in self.after.updates
                  if id(var) in updates]
        return pairs

    def top_down(self) -> bool:
        linked = False
        for x, y in self.roots():
            if (id(x) not in self.pair and id(y) not in self.back
                    and self.sig_a[id(x)] == self.sig_b[id(y)]):
                self.link(x, y)
                linked = True
        for a in reversed(self.before.nodes):
            b = self.pair.get(id(a))
            if b is None or len(a.inputs) != len(b.inputs):
                continue
            for x, y in zip(a.inputs, b.inputs):
                if (id(x) not in self.pair and id(y) not in self.back
                        and self.sig_a[id(x)] == self.sig_b[id(y)]):
                    self.link(x, y)
                    linked = True
        return linked

    def run(self) -> None:
        self.exact()
        while self.bottom_up() | self.top_down():
            pass


def diff_marks(before, after) -> tuple[dict[int, str], dict[int, str]]:
    """The nodes of `before` that `after` lacks ("removed"), and those it adds ("added")."""
    matching = _Matching(before, after)
    matching.run()
    return ({id(n): "removed" for n in before.nodes if id(n) not in matching.pair},
            {id(n): "added" for n in after.nodes if id(n) not in matching.back})


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
