"""Fusion groups: a graph's nodes partitioned into groups a backend can run as one loop nest.

A group is a connected set of elementwise nodes of one shape (their operands may broadcast
into it), plus at most one anchor: a matmul, convolution or reduction whose result they read
(an epilogue: bias + activation after a matmul, the division of a mean after its sum), or a
reduction they feed (a prologue: the exp of a softmax before its sum, the square of a sum of
squares). Nothing else joins a group: layout and indexing ops, random draws, scans and any op
without a scalar formula stay on their own, as does a second anchor.

Groups grow by merging two groups joined by a fusible edge (operand -> user) whenever the
rules above allow it and the graph of groups stays acyclic (graphc/passes/group_dag.py),
until no merge is left, so every group is maximal: merging it with any neighbour along a
fusible edge would break a rule or make a cycle (or, in a graph too big to search, cost more
than the search budget to rule a cycle out). Edges are tried in topological order in three
phases (elementwise edges, then prologues, then epilogues), so a reduction first takes the
elementwise ops feeding it, which saves writing its large operand, before those reading its
small result.
"""
from __future__ import annotations

from dataclasses import dataclass

from graphc.graph import Graph
from graphc.ops.fused import is_epilogue_anchor, is_prologue_anchor
from graphc.passes.group_dag import GroupDag
from graphc.registry import OPS, Kind
from graphc.tensor import Tensor

ELEMENTWISE, ANCHOR = 1, 2
PHASES = (("elementwise",), ("elementwise", "prologue"), ("elementwise", "prologue", "epilogue"))


@dataclass(frozen=True, eq=False)
class Group:
    """Nodes run as one loop nest: `kind` is "elementwise", "epilogue" or "prologue"."""

    members: tuple[Tensor, ...]        # in the graph's topological order
    kind: str
    anchor: Tensor | None


class _Partition:
    """The groups of one graph, each described at its root in the GroupDag."""

    def __init__(self, graph: Graph):
        self.nodes = [n for n in graph.nodes if OPS[n.op].kind is not Kind.LEAF]
        index = {id(n): i for i, n in enumerate(self.nodes)}
        self.operands = [[index[id(i)] for i in dict.fromkeys(n.inputs) if id(i) in index]
                         for n in self.nodes]
        self.users: list[list[int]] = [[] for _ in self.nodes]
        for c, operands in enumerate(self.operands):
            for p in operands:
                self.users[p].append(c)
        self.dag = GroupDag(self.operands, self.users)
        self.role = [_role(n) for n in self.nodes]
        resolve = graph.dims.resolve_shape
        self.shape = [resolve(n.shape) for n in self.nodes]
        self.reduced = {i: resolve(n.inputs[0].shape) for i, n in enumerate(self.nodes)
                        if is_prologue_anchor(n.op)}       # the loop shape of a prologue
        # per group, kept at its root
        self.members = [[i] for i in range(len(self.nodes))]
        self.anchor = [i if r == ANCHOR else -1 for i, r in enumerate(self.role)]
        self.anchor_role: list[str | None] = [None] * len(self.nodes)
        self.loop = [self.shape[i] if r == ELEMENTWISE else None
                     for i, r in enumerate(self.role)]
        self.version = [0] * len(self.nodes)
        self.refused: set[tuple] = set()

    def edge(self, p: int, c: int) -> str | None:
        """What kind of fusible edge p -> c is, or None."""
        rp, rc = self.role[p], self.role[c]
        if rp == ELEMENTWISE and rc == ELEMENTWISE:
            return "elementwise"
        if rp == ELEMENTWISE and rc == ANCHOR and is_prologue_anchor(self.nodes[c].op):
            return "prologue"
        if rp == ANCHOR and rc == ELEMENTWISE and is_epilogue_anchor(self.nodes[p].op):
            return "epilogue"
        return None

    def merged_role(self, gp: int, gc: int, edge: str) -> tuple[bool, str | None]:
        """Whether groups gp -> gc (joined by an edge of kind `edge`) may form one group, and
        the role of its anchor."""
        if self.anchor[gp] >= 0 and self.anchor[gc] >= 0:
            return False, None                                    # one anchor per group
        if self.anchor[gp] < 0 and self.anchor[gc] < 0:
            return self.loop[gp] == self.loop[gc], None
        anchored, other = (gp, gc) if self.anchor[gp] >= 0 else (gc, gp)
        a = self.anchor[anchored]
        role = self.anchor_role[anchored] or edge               # a lone anchor: the edge says
        if role == "epilogue":
            loop, crossing = self.shape[a], self.operands[a]    # no member may feed the anchor
        elif role == "prologue":
            loop, crossing = self.reduced[a], self.users[a]     # nor read it
        else:
            return False, None
        find = self.dag.find
        return self.loop[other] == loop and all(find(i) != other for i in crossing), role

    def try_merge(self, p: int, c: int, edge: str) -> bool:
        gp, gc = self.dag.find(p), self.dag.find(c)
        if gp == gc:
            return False
        key = (gp, self.version[gp], gc, self.version[gc])
        if key in self.refused:
            return False
        ok, role = self.merged_role(gp, gc, edge)
        root = self.dag.try_merge(gp, gc) if ok else None
        if root is None:
            self.refused.add(key)
            return False
        other = gc if root == gp else gp
        self.members[root] += self.members[other]
        self.anchor[root] = max(self.anchor[gp], self.anchor[gc])
        self.anchor_role[root] = role
        self.loop[root] = self.loop[gp] if self.loop[gp] is not None else self.loop[gc]
        self.members[other] = []
        self.version[root] += 1
        return True

    def run(self) -> list[Group]:
        for allowed in PHASES:
            merged = True
            while merged:
                merged = False
                for c, operands in enumerate(self.operands):
                    for p in operands:
                        edge = self.edge(p, c)
                        if edge in allowed and self.try_merge(p, c, edge):
                            merged = True
        groups = []
        order = self.dag.order
        for root in sorted((g for g in range(len(self.nodes)) if len(self.members[g]) > 1),
                           key=order.__getitem__):
            anchor = self.anchor[root]
            groups.append(Group(tuple(self.nodes[i] for i in sorted(self.members[root])),
                                self.anchor_role[root] or "elementwise",
                                self.nodes[anchor] if anchor >= 0 else None))
        return groups


def _role(node: Tensor) -> int | None:
    if OPS[node.op].kind is Kind.ELEMENTWISE:
        return ELEMENTWISE
    if is_epilogue_anchor(node.op) or is_prologue_anchor(node.op):
        return ANCHOR
    return None


def partition(graph: Graph) -> list[Group]:
    """The fusion groups of graph (of two members or more), in a topological order of groups."""
    return _Partition(graph).run()
