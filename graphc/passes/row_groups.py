"""Row groups: the nodes that keep a batch's rows apart, in regions a backend may run on pieces.

graphc/rows.py places each node of a graph whose inputs lead with a batch symbol: rows (row i
from rows i), free (no batch in its shape), or neither (a loss's mean over the batch, a weight
gradient's product over it). The row nodes between such barriers form regions; each region
of two or more kernels whose rows are heavy enough to share (MIN_ROW_WORK) becomes one
`fused` node of kind "rows", and a backend runs its body
on pieces of the batch, each piece through every kernel of the region, on the thread team
when the work is big (backends/llvm/kernels/row_pieces.py). Threads then meet once per region
instead of at every kernel (an unrolled LSTM's step is 4096-element gate math around a small
product: below the team's threshold one by one, not in sum), and each piece's values stay
with the core that wrote them.

A region is convex: a path leaving it through a barrier never comes back. Node levels make it
so: a row node's level is the highest of its operands', a barrier's one more than the highest
row node's below it, and a region is the row nodes of one level. Nodes whose native kernel can
fail on the values it reads (a gather out of range) stay out, so that the error names them.
Runs only where the batch is a symbol (a graph built for one batch size is left whole).
"""
from __future__ import annotations

from collections import Counter

from graphc import rows
from graphc.dimenv import DimEnv
from graphc.errors import GraphcError
from graphc.graph import Graph
from graphc.passes.fusion import Fuser
from graphc.passes.fusion_groups import Group
from graphc.passes.manager import Pass, register
from graphc.registry import OPS, Kind, Trait
from graphc.tensor import Tensor

MIN_ROW_WORK = 1024     # about one scalar operation each
# NOTE: their native kernels check the indices they read; a group would report the failure
# as its own, not the op's with its line.
FAILS_ON_VALUES = frozenset({"take", "take_along_axis", "take_grad", "take_along_axis_grad",
                             "one_hot"})
# max and min of nothing fail; along static nonempty axes they cannot
EMPTY_FAILS = frozenset({"max", "min", "argmax", "argmin"})


def row_groups(graph: Graph, fired: Counter, log: list | None) -> Graph:
    env = graph.dims
    symbol = batch_symbol(graph)
    if symbol is None:
        return graph
    classes = rows.node_classes(graph, symbol, env)
    members = {id(n) for n in graph.nodes if _joins(n, classes)}
    regions = [r for r in map(_without_outer_views, _regions(graph, members))
               if _worth(r) and _bound(r)]
    if not regions:
        return graph
    groups = [Group(tuple(r), "rows", None) for r in regions]
    return Fuser(graph, fired, log, lambda _: groups, nested=False).run()


def batch_symbol(graph: Graph) -> str | None:
    """The symbol leading most of the graph's inputs (the batch), if any leads one."""
    env = graph.dims
    leads = Counter(env.resolve(p.shape[0]) for p in graph.inputs if p.ndim)
    symbols = [(count, s) for s, count in leads.items() if isinstance(s, str)]
    return max(symbols)[1] if symbols else None


def _joins(node: Tensor, classes: dict) -> bool:
    """Whether node is a row node a group may hold."""
    c = classes[id(node)]
    if OPS[node.op].kind is Kind.LEAF or not _all_rows(c):
        return False
    if node.op == "fused":
        return node.attrs["kind"] != "rows" and all(map(_cannot_fail, node.attrs["body"].nodes))
    if node.op == "fused_result":
        return _joins(node.inputs[0], classes)
    return _cannot_fail(node)


def _all_rows(c) -> bool:
    return c == rows.ROWS or (isinstance(c, tuple) and all(x == rows.ROWS for x in c))


def _cannot_fail(node: Tensor) -> bool:
    """Whether node's kernel cannot fail on what it reads (shapes aside: the piece's are the
    whole batch's but for the rows)."""
    if node.op in FAILS_ON_VALUES:
        return False
    if node.op in EMPTY_FAILS:
        x = node.inputs[0]
        axes = node.attrs["axes"] if "axes" in node.attrs else (node.attrs["axis"],)
        axes = range(x.ndim) if axes is None or None in axes else axes
        return all(isinstance(x.shape[a], int) and x.shape[a] > 0 for a in axes)
    return True


def _regions(graph: Graph, members: set[int]) -> list[list[Tensor]]:
    """The members by level, each region in the graph's order."""
    level: dict[int, int] = {}
    by_level: dict[int, list[Tensor]] = {}
    for n in graph.nodes:
        if id(n) in members:
            level[id(n)] = max((level[id(i)] for i in n.inputs), default=0)
            by_level.setdefault(level[id(n)], []).append(n)
        else:
            level[id(n)] = max((level[id(i)] + (id(i) in members) for i in n.inputs),
                               default=0)
    return [by_level[k] for k in sorted(by_level)]


def _without_outer_views(region: list[Tensor]) -> list[Tensor]:
    """The region without the views only nodes outside it read (labels reshaped for the
    loss, a result flattened): outside they cost nothing, as results of the group a copy."""
    kept = list(region)
    while True:
        read_inside = {id(i) for n in kept for i in n.inputs}
        outer = {id(n) for n in kept if OPS[n.op].has(Trait.VIEW) and id(n) not in read_inside}
        if not outer:
            return kept
        kept = [n for n in kept if id(n) not in outer]


def _worth(region: list[Tensor]) -> bool:
    """Two kernels at least (views and result picks run none), and rows heavy enough that
    a few thousand of them make work for two threads: a group's calls cost a W1 step (an
    XOR net, 50 operations a row) 4%, which pieces would win back only past 20,000 rows."""
    kernels = [n for n in region if n.op != "fused_result" and not OPS[n.op].has(Trait.VIEW)]
    return len(kernels) >= 2 and rows.row_work(region) >= MIN_ROW_WORK


def _bound(region: list[Tensor]) -> bool:
    """Whether the values the region reads bind every symbol in its shapes, as its body's
    plan will need (a reshape may rest on an equality a node outside the region assumed)."""
    inside = {id(n) for n in region}
    read = list({id(i): i for n in region for i in n.inputs
                 if id(i) not in inside and not (i.op == "constant" and not i.ndim)}.values())
    try:
        env = DimEnv(read, region)
    except GraphcError:
        return False
    return not any(env.unbound(d) for n in region for d in _shape(n))


def _shape(node: Tensor) -> tuple:
    return () if node.op == "fused" else node.shape


PASS = register(Pass("row_groups", row_groups, __doc__.splitlines()[0]))
