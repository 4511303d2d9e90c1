"""Graph: inputs, variables, constants, nodes in topological order, outputs and state updates."""
from __future__ import annotations

import heapq
from typing import Iterable, Sequence

from graphc.dimenv import DimEnv
from graphc.errors import GraphError
from graphc.tensor import Tensor

Update = tuple[Tensor, Tensor]


def topological_order(roots: Iterable[Tensor]) -> list[Tensor]:
    """Every node the roots depend on, inputs first, ties broken by creation order.

    Kahn's algorithm over a heap, as networkx's lexicographical_topological_sort (with the
    same tie-break: the order nodes were first met); NOTE: our own, because importing
    networkx took ~60 ms of every process's `import graphc`.
    """
    first_met: dict[int, int] = {}          # id(node) -> when it was first met
    nodes: list[Tensor] = []
    users: dict[int, list[Tensor]] = {}
    pending: dict[int, int] = {}            # id(node) -> its distinct operands not yet listed
    stack, seen = list(roots), set()

    def meet(node: Tensor) -> None:
        if id(node) not in first_met:
            first_met[id(node)] = len(nodes)
            nodes.append(node)

    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        meet(node)
        operands = {id(i): i for i in node.inputs}
        pending[id(node)] = len(operands)
        for inp in node.inputs:
            meet(inp)
            stack.append(inp)
        for inp in operands.values():
            users.setdefault(id(inp), []).append(node)
    # NOTE: constants are shared by every graph using their value (hash-consing), so their
    # creation order says when some earlier graph first made one; each is ordered just before
    # its first user instead, so that equal graphs built at different times list (print,
    # cache-key, schedule) their nodes alike.
    def order(node: Tensor) -> tuple[float, int]:
        if node.op != "constant":
            return node.serial, first_met[id(node)]
        first_user = min((user.serial for user in users.get(id(node), ())), default=node.serial)
        return first_user - 0.5, first_met[id(node)]
    ready = [order(node) for node in nodes if not pending[id(node)]]
    heapq.heapify(ready)
    listed = []
    while ready:
        node = nodes[heapq.heappop(ready)[1]]
        listed.append(node)
        for user in users.get(id(node), ()):
            pending[id(user)] -= 1
            if not pending[id(user)]:
                heapq.heappush(ready, order(user))
    return listed


class Graph:
    """A closed computation: given its inputs (and variables), it defines outputs and updates."""

    def __init__(self, inputs: Sequence[Tensor] = (), outputs: Sequence[Tensor] | Tensor = (),
                 updates: Iterable[Update] = ()):
        self.inputs = tuple(inputs)
        self.outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
        self.updates = tuple((var, value) for var, value in updates)
        self._check_leaves()
        self.nodes = topological_order(
            list(self.inputs) + list(self.outputs) + [v for pair in self.updates for v in pair])
        self.variables = [n for n in self.nodes if n.op == "variable"]
        self.constants = [n for n in self.nodes if n.op == "constant"]
        missing = [n for n in self.nodes if n.op == "placeholder"
                   and not any(n is i for i in self.inputs)]
        if missing:
            names = ", ".join(repr(n.name or "unnamed") + f" {n.type}" for n in missing)
            raise GraphError(f"the outputs depend on placeholders that are not inputs: {names}")
        self.dims = DimEnv(self.inputs, self.nodes)

    def _check_leaves(self) -> None:
        for t in self.inputs:
            if not isinstance(t, Tensor) or t.op != "placeholder":
                raise GraphError(f"graph inputs must be placeholders, got {t!r}")
        if len({id(t) for t in self.inputs}) != len(self.inputs):
            raise GraphError("a placeholder is listed twice among the inputs")
        for t in self.outputs:
            if not isinstance(t, Tensor):
                raise GraphError(f"graph outputs must be Tensors, got {type(t).__name__}")
        targets = set()
        for var, value in self.updates:
            if not isinstance(var, Tensor) or var.op != "variable":
                raise GraphError(f"an update must assign to a variable, not {var!r}")
            if not isinstance(value, Tensor):
                raise GraphError(f"the update of {var.name!r} must be a Tensor")
            if value.type != var.type:
                where = f" (built at {value.loc})" if value.loc else ""
                raise GraphError(f"the update of variable {var.name!r} has type {value.type}, "
                                 f"but the variable is {var.type}{where}")
            if id(var) in targets:
                raise GraphError(f"variable {var.name!r} is updated twice")
            targets.add(id(var))

    def with_nodes(self, outputs: Sequence[Tensor], updates: Iterable[Update]) -> Graph:
        """The same inputs with rewritten outputs and update values (what a pass returns)."""
        return Graph(self.inputs, outputs, updates)

    def __str__(self) -> str:
        from graphc.printing import graph_to_text
        return graph_to_text(self)

    def _repr_svg_(self) -> str | None:
        """Inline SVG in Jupyter (the renderer is imported on use: the core never needs it)."""
        from backends.graphviz import repr_svg  # NOTE: the renderer, loaded on use
        return repr_svg(self)

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        from backends.graphviz import repr_mimebundle  # NOTE: the renderer, loaded on use
        return repr_mimebundle(self)

    def __repr__(self) -> str:
        return (f"<Graph {len(self.inputs)} inputs, {len(self.nodes)} nodes, "
                f"{len(self.outputs)} outputs, {len(self.updates)} updates>")
