"""The rewrite engine: a graph rebuilt bottom-up, each node offered to a RuleSet until none fires.

A node is rebuilt on its rewritten operands, then offered to the rules indexed by its op; when
one returns a replacement, the replacement is itself visited (its operands first), so nodes a
rule builds meet the rules too (a rule producing neg(neg(a)) beside a double-negation rule
ends as a). Every replacement must have the replaced node's type (under the graph's dim
equalities), and nodes a rule builds inherit the replaced node's line, scope and gradient
origin. Subgraphs held by composite nodes are rewritten with the same rules. The traversal
uses an explicit stack, so graph depth is not limited by Python's recursion limit.
"""
from __future__ import annotations

from collections import Counter
from typing import Callable

from graphc.errors import GraphError
from graphc.graph import Graph
from graphc.pattern import RuleSet
from graphc.tensor import Tensor, inheriting, make

# op -> (node, users) -> whether the engine may rewrite the graphs node holds
SUBGRAPH_GUARDS: dict[str, Callable[[Tensor, list[Tensor]], bool]] = {}


class Context:
    """What a rule may ask about the graph being rewritten: its users and its dims."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.dims = graph.dims
        self._users: dict[int, list[Tensor]] = {}
        for node in graph.nodes:
            for i in dict.fromkeys(map(id, node.inputs)):
                self._users.setdefault(i, []).append(node)
        self._outputs = {id(t) for t in graph.outputs} | {id(v) for _, v in graph.updates}

    def users(self, node: Tensor) -> list[Tensor]:
        """The nodes of the original graph reading node (none for nodes built since)."""
        return self._users.get(id(node), [])

    def stands_for(self, rebuilt: Tensor, original: Tensor) -> None:
        """rebuilt replaces original (its operands rewritten): it has original's users."""
        if rebuilt is not original:
            self._users.setdefault(id(rebuilt), self._users.get(id(original), []))
            if id(original) in self._outputs:
                self._outputs.add(id(rebuilt))

    def is_returned(self, node: Tensor) -> bool:
        """Whether node's value is a graph output or a variable's new value."""
        return id(node) in self._outputs

    def is_shared(self, node: Tensor) -> bool:
        """Whether node's value is read by more than one node or is also a graph output."""
        return len(self.users(node)) + (id(node) in self._outputs) > 1


class Rewriter:
    """One rewrite of one graph by one RuleSet; `fired` counts the rules that fired.

    With a `log` list, each replacement is appended to it as (rule name, old, new).
    """

    def __init__(self, rules: RuleSet, fired: Counter | None = None, log: list | None = None):
        self.rules = rules
        self.fired = fired if fired is not None else Counter()
        self.log = log

    def __call__(self, graph: Graph) -> Graph:
        ctx = Context(graph)
        done: dict[int, Tensor] = {}
        keep: list[Tensor] = []            # NOTE: keeps visited nodes alive, so ids stay unique
        budget = 50 * (len(graph.nodes) + 10)
        roots = list(graph.outputs) + [v for _, v in graph.updates]
        stack: list[tuple[Tensor, Tensor | None]] = [(r, None) for r in reversed(roots)]
        while stack:
            node, alias = stack.pop()
            if alias is not None:                    # node's result is alias's result
                done[id(node)] = done[id(alias)]
                continue
            if id(node) in done:
                continue
            missing = [i for i in node.inputs if id(i) not in done]
            if missing:
                stack.append((node, None))
                stack.extend((i, None) for i in reversed(missing))
                continue
            keep.append(node)
            rebuilt = self._rebuild(node, done, ctx)
            ctx.stands_for(rebuilt, node)
            new = self._apply(rebuilt, ctx)
            if new is None:
                done[id(node)] = done[id(rebuilt)] = rebuilt      # final: no rule fires
                keep.append(rebuilt)
                continue
            budget -= 1
            if budget < 0:
                raise GraphError("rewrite rules do not converge; most fired: "
                                 + ", ".join(f"{n} ({c})" for n, c in self.fired.most_common(3)))
            keep.append(new)
            stack.append((node, new))
            stack.append((new, None))
        return Graph(graph.inputs, [done[id(t)] for t in graph.outputs],
                     [(var, done[id(value)]) for var, value in graph.updates])

    def _rebuild(self, node: Tensor, done: dict[int, Tensor], ctx: Context) -> Tensor:
        """node on its rewritten operands, with the graphs it holds rewritten too."""
        inputs = [done[id(i)] for i in node.inputs]
        attrs = dict(node.attrs)
        changed = False
        guard = SUBGRAPH_GUARDS.get(node.op)
        if guard is None or guard(node, ctx.users(node)):
            for key, value in node.attrs.items():
                if isinstance(value, Graph):
                    new = Rewriter(self.rules, self.fired, self.log)(value)
                    if not _same_graph(new, value):
                        attrs[key], changed = new, True
        if not changed:
            return node.replace(inputs)
        return make(node.op, inputs, attrs, name=node.name, loc=node.loc, scope=node.scope,
                    grad_of=node.grad_of)

    def _apply(self, node: Tensor, ctx: Context) -> Tensor | None:
        """The replacement the first matching rule gives, or None."""
        for r in self.rules.for_op(node.op):
            with inheriting(node):
                new = r.apply(node, ctx)
            if new is None or new is node:
                continue
            if not isinstance(new, Tensor):
                raise GraphError(f"rule {r.name} returned {type(new).__name__}, not a Tensor")
            if not ctx.dims.same_type(new.type, node.type):
                raise GraphError(f"rule {r.name} replaced {node.op} of type {node.type} by "
                                 f"{new.op} of type {new.type}")
            self.fired[r.name] += 1
            if self.log is not None:
                self.log.append((r.name, node, new))
            return new
        return None


def _same_graph(a: Graph, b: Graph) -> bool:
    return (all(x is y for x, y in zip(a.outputs, b.outputs))
            and all(x[1] is y[1] for x, y in zip(a.updates, b.updates)))


def rewrite(graph: Graph, rules: RuleSet, fired: Counter | None = None) -> Graph:
    """graph with every node rewritten by rules to a fixpoint (see the module doc)."""
    return Rewriter(rules, fired)(graph)
