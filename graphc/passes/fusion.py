"""Fusion: each fusion group becomes one `fused` node holding its members as a subgraph.

The groups come from graphc/passes/fusion_groups.py. A group's operands are the values its
members read from outside it (scalar constants stay in the body); its results are the members
read outside it, returned or assigned to a variable, in topological order, each picked by a
fused_result node that carries the member's name, line and scope; a value a group can
recompute exactly from values it reads anyway is recomputed, not read (`_recomputed`). A
group reading nothing but scalar constants is left to constant folding. Scan bodies are
fused too, unless the scan's gradient reads body nodes by position (SUBGRAPH_GUARDS); the
native scan fuses those itself, once the nodes read are outputs (backends/llvm/kernels/
scan.py). Not in the default pipeline: the interpreter gains nothing from it; backends that
generate code append it.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from graphc.errors import CompileError
from graphc.graph import Graph
from graphc.ops.fused import fused_results
from graphc.ops.leaves import placeholder
from graphc.passes.fusion_groups import Group, partition
from graphc.passes.manager import Pass, register
from graphc.rewrite import SUBGRAPH_GUARDS
from graphc.tensor import Tensor, make


class Fuser:
    """Rebuilds one graph with its groups fused, unit by unit (a group or an unfused node).

    `groups` makes the groups of a graph (fusion's partition); the graphs nodes hold (scan
    bodies) get theirs too, unless `nested` is False.
    """

    def __init__(self, graph: Graph, fired: Counter, log: list | None,
                 groups: Callable[[Graph], list[Group]] = partition, nested: bool = True):
        self.graph, self.fired, self.log = graph, fired, log
        self.groups, self.nested = groups, nested
        self.users: dict[int, list[Tensor]] = {}
        for node in graph.nodes:
            for i in dict.fromkeys(node.inputs):
                self.users.setdefault(id(i), []).append(node)
        self.returned = {id(t) for t in graph.outputs} | {id(v) for _, v in graph.updates}
        self.memo: dict[int, Tensor] = {}

    def run(self) -> Graph:
        graph = self.graph
        groups = self.groups(graph)
        self.recipes = {id(g): _recomputed(g) if g.kind in RECOMPUTING else {} for g in groups}
        self.group_of = {id(m): g for g in groups for m in g.members}
        for unit in _units_in_order(graph, groups):
            if isinstance(unit, Group):
                self.fuse(unit)
            else:
                self.memo[id(unit)] = self.rebuild(unit)
        memo = self.memo
        return Graph(graph.inputs, [memo[id(t)] for t in graph.outputs],
                     [(var, memo[id(value)]) for var, value in graph.updates])

    def rebuild(self, node: Tensor) -> Tensor:
        """node on its new operands, with the graphs it holds fused too (where allowed)."""
        inputs = [self.memo[id(i)] for i in node.inputs]
        guard = SUBGRAPH_GUARDS.get(node.op)
        attrs, changed = dict(node.attrs), False
        if self.nested and (guard is None or guard(node, self.users.get(id(node), []))):
            for key, value in node.attrs.items():
                if isinstance(value, Graph):
                    attrs[key] = Fuser(value, self.fired, self.log, self.groups).run()
                    changed = changed or _changed(value, attrs[key])
        if not changed:
            return node.replace(inputs)
        return make(node.op, inputs, attrs, name=node.name, loc=node.loc, scope=node.scope,
                    grad_of=node.grad_of)

    def fuse(self, group: Group) -> None:
        inside = {id(m) for m in group.members}
        recipes = self.recipes[id(group)]
        operands: list[Tensor] = []
        body: dict[int, Tensor] = {}          # outer node -> the node standing for it inside

        def read(i: Tensor) -> None:
            if id(i) in inside or id(i) in body or (i.op == "constant" and not i.ndim):
                return
            if id(i) in recipes:              # recomputed here from values read anyway
                for n in recipes[id(i)]:
                    for j in n.inputs:
                        read(j)
                    body[id(n)] = n.replace([body.get(id(j), j) for j in n.inputs])
                return
            body[id(i)] = placeholder(i.shape, i.dtype, name=i.name)
            operands.append(i)
        for m in group.members:
            for i in m.inputs:
                read(i)
        if not operands:                       # constants only: constant folding's business
            for m in group.members:
                self.memo[id(m)] = self.rebuild(m)
            return
        for m in group.members:
            body[id(m)] = m.replace([body.get(id(i), i) for i in m.inputs])
        results = [m for m in group.members if id(m) in self.returned
                   or any(id(u) not in inside and not self._recomputes(u, m)
                          for u in self.users.get(id(m), ()))]
        if not results:                        # every reader recomputes what it needs
            return
        subgraph = Graph([body[id(o)] for o in operands], [body[id(m)] for m in results])
        new = fused_results(subgraph, [self.memo[id(o)] for o in operands], group.kind,
                            results, _common_scope(group.members))
        rule = f"{group.kind} group"
        self.fired[rule] += 1
        for m, r in zip(results, new):
            self.memo[id(m)] = r
            if self.log is not None:
                self.log.append((rule, m, r))

    def _recomputes(self, user: Tensor, value: Tensor) -> bool:
        group = self.group_of.get(id(user))
        return group is not None and id(value) in self.recipes[id(group)]


# NOTE: exact in IEEE arithmetic (no rounding choices, no contraction without fast-math
# flags), so a value recomputed in another loop has the same bits.
RECOMPUTED_OPS = frozenset({"add", "subtract", "multiply", "square", "negative"})
RECIPE_SIZE = 2
RECOMPUTING = frozenset({"elementwise", "epilogue", "prologue"})   # a loop nest's kinds


def _recomputed(group: Group) -> dict[int, list[Tensor]]:
    """Values the group reads that it can recompute, as cheaply as reading them, from values
    it reads anyway: id -> the nodes to recompute, operands first. The gradient's 1 - s and
    1 - tanh(c)^2 of an unrolled LSTM step are so recomputed from s and tanh(c) in the
    backward loop instead of being written by the forward one and read back.
    """
    inside = {id(m) for m in group.members}
    reads = {id(i): i for m in group.members for i in m.inputs
             if id(i) not in inside and not (i.op == "constant" and not i.ndim)}
    anchor_reads = {id(i) for i in group.anchor.inputs} if group.anchor is not None else set()
    recipes = {}
    for key, value in reads.items():
        recipe = None if key in anchor_reads else _recipe(value, reads, value.shape)
        if recipe is not None:
            recipes[key] = recipe
    while True:                       # a recipe may only start from values still read
        kept = {k: r for k, r in recipes.items()
                if not any(id(j) in recipes for n in r for j in n.inputs)}
        if len(kept) == len(recipes):
            return recipes
        recipes = kept


def _recipe(value: Tensor, reads: dict, shape: tuple) -> list[Tensor] | None:
    """The nodes computing value from `reads` (other than itself) and scalar constants with
    at most RECIPE_SIZE exact operations of one shape, operands first; None if there are none."""
    recipe: list[Tensor] = []

    def visit(n: Tensor) -> bool:
        if n is not value and id(n) in reads or (n.op == "constant" and not n.ndim):
            return True
        if n.op not in RECOMPUTED_OPS or n.shape != shape or len(recipe) >= RECIPE_SIZE:
            return False
        if not all(visit(i) for i in n.inputs):
            return False
        if all(r is not n for r in recipe):
            recipe.append(n)
        return True
    return recipe if visit(value) else None


def _units_in_order(graph: Graph, groups: list[Group]) -> list:
    """Groups and unfused nodes in a topological order of the graph of groups: Kahn's
    algorithm by generations, units first met first (the order networkx's topological_sort
    gave, which the fused graph's node order, and so its cache key, rests on)."""
    unit_of: dict[int, object] = {id(m): g for g in groups for m in g.members}
    units: dict[int, object] = {}                  # id -> unit, in the order first met
    users: dict[int, dict[int, None]] = {}         # id -> ids of the units reading it
    pending: dict[int, int] = {}                   # id -> sources not yet listed

    def meet(unit) -> None:
        if id(unit) not in units:
            units[id(unit)], users[id(unit)], pending[id(unit)] = unit, {}, 0
    for node in graph.nodes:
        unit = unit_of.get(id(node), node)
        meet(unit)
        for i in node.inputs:
            source = unit_of.get(id(i), i)
            if source is not unit:
                meet(source)
                if id(unit) not in users[id(source)]:
                    users[id(source)][id(unit)] = None
                    pending[id(unit)] += 1
    order: list[int] = []
    generation = [u for u in units if not pending[u]]
    while generation:
        order += generation
        following = []
        for u in generation:
            for user in users[u]:
                pending[user] -= 1
                if not pending[user]:
                    following.append(user)
        generation = following
    if len(order) != len(units):
        raise CompileError("internal error: fusion groups that depend on each other in a cycle")
    return [units[u] for u in order]


def _common_scope(members) -> tuple[str, ...]:
    scope = members[0].scope
    for m in members[1:]:
        while m.scope[:len(scope)] != scope:
            scope = scope[:-1]
    return scope


def _changed(old: Graph, new: Graph) -> bool:
    return (any(a is not b for a, b in zip(old.outputs, new.outputs))
            or any(a[1] is not b[1] for a, b in zip(old.updates, new.updates)))


def fusion(graph: Graph, fired: Counter, log: list | None) -> Graph:
    return Fuser(graph, fired, log).run()


PASS = register(Pass("fusion", fusion, __doc__.splitlines()[0]))
