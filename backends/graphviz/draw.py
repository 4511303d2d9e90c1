"""Drawing one graph: nodes styled by kind, name scopes as (collapsible) clusters, groups.

A Drawer places every node of a graph on a Canvas (clusters, edges, rank constraints), which
then writes itself into a graphviz.Digraph. Node ids are the text IR's value names (`W1` for
`%W1`; Graphviz reserves a leading %), so a picture and `str(graph)` name the same values; a
node's tooltip is its text-IR line.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Iterable

import graphviz

from backends.graphviz import style
from graphc.dimenv import DimEnv
from graphc.errors import GraphError
from graphc.graph import Graph, topological_order
from graphc.printing import WORD, listed_nodes, scalar_text, shown_attrs, value_names
from graphc.registry import OPS
from graphc.tensor import Tensor

MAX_ATTR_TEXT = 28


@dataclass(frozen=True)
class Options:
    """How to draw: `collapse` scope names (or a depth), nodes to highlight, layout choices."""

    collapse: frozenset[str] | int | None = None
    highlight: frozenset[int] = frozenset()          # ids of the highlighted nodes
    grads_beside: bool = False
    expand_groups: bool = True


def as_graph(graph_or_tensors) -> Graph | SimpleNamespace:
    """A Graph as is; Tensors as the graph of everything they depend on."""
    if isinstance(graph_or_tensors, Graph):
        return graph_or_tensors
    tensors = [graph_or_tensors] if isinstance(graph_or_tensors, Tensor) else \
        list(graph_or_tensors)
    if not tensors or not all(isinstance(t, Tensor) for t in tensors):
        raise GraphError("draw a gc.Graph, a Tensor or a list of Tensors, got "
                         f"{type(graph_or_tensors).__name__}")
    nodes = topological_order(tensors)
    inputs = [n for n in nodes if n.op == "placeholder"]
    return SimpleNamespace(nodes=nodes, inputs=inputs, outputs=tensors, updates=(),
                           dims=DimEnv(inputs, nodes))


def make_options(graphs: list, collapse=None, highlight: Iterable = (),
                 grads_beside: bool = False, expand_groups: bool = True) -> Options:
    """Check the options against the graphs: unknown scopes or nodes are errors, not no-ops."""
    if isinstance(collapse, str):
        collapse = [collapse]
    if isinstance(collapse, bool) or (isinstance(collapse, int) and collapse < 1):
        raise GraphError(f"collapse: a depth is 1 (top-level scopes) or more, got {collapse}")
    if collapse is not None and not isinstance(collapse, int):
        collapse = frozenset(collapse)
        scopes = {"/".join(n.scope[:i]) for g in graphs for n in g.nodes
                  for i in range(1, len(n.scope) + 1)}
        unknown = sorted(collapse - scopes)
        if unknown:
            raise GraphError(f"collapse: no scope {unknown[0]!r} in this graph; its scopes are "
                             + (", ".join(sorted(scopes)) or "none"))
    chosen = set()
    names = [value_names(g) for g in graphs]
    for item in highlight:
        if isinstance(item, str):
            found = [node_id for n in names for node_id, name in n.items()
                     if name == item.lstrip("%")]
            if not found:
                raise GraphError(f"highlight: no value named {item!r} in this graph")
            chosen.update(found)
        elif isinstance(item, Tensor) and any(id(item) in n for n in names):
            chosen.add(id(item))
        else:
            raise GraphError(f"highlight: {item!r} is not a node of this graph")
    return Options(collapse, frozenset(chosen), grads_beside, expand_groups)


def escape(text: str) -> str:
    """Text shown as is by Graphviz (its label escapes start with a backslash)."""
    return text.replace("\\", "\\\\")


def label(*lines: str) -> str:
    return graphviz.nohtml("\\n".join(escape(line) for line in lines if line))


def is_gradient(node: Tensor) -> bool:
    return node.grad_of is not None or node.scope[:1] == ("grad",)


def _safe(node_id: str) -> str:
    return node_id.replace(":", "_")      # NOTE: the graphviz package reads a:b as node:port


class _Cluster:
    def __init__(self, name: str | None = None, attrs: dict | None = None):
        self.name, self.attrs = name, attrs or {}
        self.nodes: list[tuple[str, dict]] = []
        self.children: dict[object, _Cluster] = {}

    def child(self, key, name: str, attrs: dict) -> _Cluster:
        if key not in self.children:
            self.children[key] = _Cluster(_safe(name), attrs)
        return self.children[key]

    def homes(self) -> dict[str, _Cluster]:
        """node id -> the innermost cluster holding it (the root for nodes in no cluster)."""
        found = {node_id: self for node_id, _ in self.nodes}
        for child in self.children.values():
            found.update(child.homes())
        return found

    def write(self, dot: graphviz.Digraph) -> None:
        for node_id, attrs in self.nodes:
            dot.node(node_id, **attrs)
        for child in self.children.values():
            with dot.subgraph(name=child.name) as sub:
                sub.attr(**child.attrs)
                child.write(sub)


@dataclass
class Canvas:
    """What a picture collects before it is written: clusters, edges and rank constraints."""

    root: _Cluster = field(default_factory=_Cluster)
    attrs: dict[str, dict] = field(default_factory=dict)           # node id -> its attributes
    edges: list[tuple[str, str, dict]] = field(default_factory=list)
    same_rank: list[tuple[str, str]] = field(default_factory=list)

    def add_node(self, cluster: _Cluster, node_id: str, attrs: dict) -> None:
        node_id = _safe(node_id)
        if node_id not in self.attrs:
            cluster.nodes.append((node_id, attrs))
            self.attrs[node_id] = attrs

    def add_edge(self, tail: str, head: str, attrs: dict) -> None:
        self.edges.append((_safe(tail), _safe(head), attrs))

    def write(self, dot: graphviz.Digraph) -> None:
        self.root.write(dot)
        home = self.root.homes()
        for tail, head, attrs in self.edges:
            # NOTE: dot (2.43) fails ("trouble in init_rank", after "merge2: ... has only n < m
            # nodes") on labelled edges that leave a cluster, or that do not constrain the ranks
            # and so may lie flat: a scan's body and its gradient's are clusters with many such
            # edges. Their text is an xlabel, placed after the layout, which dot draws reliably.
            if "label" in attrs and (home.get(tail) is not home.get(head)
                                     or attrs.get("constraint") == "false"):
                attrs = {("xlabel" if k == "label" else k): v for k, v in attrs.items()}
            dot.edge(tail, head, **attrs)
        if self.same_rank:
            dot.attr(newrank="true")
            for a, b in self.same_rank:
                with dot.subgraph() as rank:
                    rank.attr(rank="same")
                    rank.node(_safe(a))
                    rank.node(_safe(b))


class Drawer:
    """Places one graph's nodes on a canvas; `marks` (diff view) maps node ids to a mark."""

    def __init__(self, canvas: Canvas, graph, options: Options, prefix: str = "",
                 marks: dict[int, str] | None = None, cluster: _Cluster | None = None,
                 ports: dict[int, str] | None = None, within: tuple[str, ...] = ()):
        self.canvas, self.graph, self.options, self.prefix = canvas, graph, options, prefix
        self.marks = marks or {}
        self.cluster_root = cluster or canvas.root
        self.names = value_names(graph)
        self.dims = self.names.dims
        self.rep: dict[int, str] = dict(ports or {})   # node -> the drawn node standing for it
        self.ports = set(self.rep)                # inputs drawn outside (a fused group's operands)
        self.hidden: dict[int, _Cluster] = {}     # fused and fused_result nodes: their cluster
        self.within = within                      # the scope the drawing sits in already
        self.inline: dict[int, list[str]] = {}    # scalar constant -> its copies, one per use
        self.boxes: dict[str, list[Tensor]] = {}  # collapsed scope box -> the nodes inside
        self.groups: dict[int, Drawer] = {}       # node holding a subgraph -> its drawer
        self.box_edges: dict[tuple[str, str], dict[int, str]] = {}   # values between boxes
        kept = list(graph.outputs) + [t for pair in graph.updates for t in pair]
        self.kept = {id(t) for t in kept}

    def draw(self, sinks: bool = True) -> None:
        for node in self.graph.nodes:
            self.place(node)
        for node in self.graph.nodes:
            self.connect(node)
        for (tail, head), types in self.box_edges.items():
            text = next(iter(types.values())) if len(types) == 1 else f"{len(types)} values"
            self.canvas.add_edge(tail, head, {"label": text})
        if sinks:
            self.draw_outputs()
        self.decorate()
        if self.options.grads_beside:
            self.pair_gradients()

    # ---- placing nodes ------------------------------------------------------------------------

    def node_id(self, node: Tensor) -> str:
        """The value's name, as in the text IR without its %; other drawn nodes have a space."""
        name = self.names[id(node)]
        if not WORD.fullmatch(name):
            name = f"#{listed_nodes(self.graph).index(node)}"
        return f"{self.prefix}{name}"

    def collapsed(self, scope: tuple[str, ...]) -> tuple[str, ...] | None:
        collapse = self.options.collapse
        if isinstance(collapse, int):
            return scope[:collapse] if len(scope) >= collapse else None
        for i in range(1, len(scope) + 1 if collapse else 0):
            if "/".join(scope[:i]) in collapse:
                return scope[:i]
        return None

    def cluster(self, scope: tuple[str, ...]) -> _Cluster:
        if scope[:len(self.within)] == self.within:
            scope = scope[len(self.within):]
        tree = self.cluster_root
        for i in range(1, len(scope) + 1):
            path = scope[:i]
            attrs = dict(style.GRAD_CLUSTER if path[0] == "grad" else style.SCOPE_CLUSTER,
                         label=label(path[-1]), tooltip=escape("/".join(path)))
            tree = tree.child(("scope", path), f"cluster_{self.prefix}{'/'.join(path)}", attrs)
        return tree

    def place(self, node: Tensor) -> None:
        if id(node) in self.ports:
            return
        if node.op == "fused_result" and id(node.inputs[0]) in self.hidden:
            inner = self.groups[id(node.inputs[0])]     # drawn as the member it stands for
            self.rep[id(node)] = inner.rep_of(inner.graph.outputs[node.attrs["index"]])
            self.hidden[id(node)] = self.hidden[id(node.inputs[0])]
            return
        # NOTE: a scalar constant goes beside its users, whatever scope it was first built in
        # (hash-consing shares one node, with its first scope, among every graph using it).
        if node.op == "constant" and node.ndim == 0 and id(node) not in self.kept:
            self.inline[id(node)] = []
            return
        path = self.collapsed(node.scope)
        if path is not None:
            box = f"{self.prefix}scope {'/'.join(path)}"
            self.boxes.setdefault(box, []).append(node)
            self.canvas.add_node(self.cluster(path[:-1]), box, dict(style.BOX))
            self.rep[id(node)] = box
            return
        node_id = self.node_id(node)
        self.rep[id(node)] = node_id
        body = next((v for v in node.attrs.values() if isinstance(v, Graph)), None)
        if body is not None and self.options.expand_groups:
            self.draw_group(node, body, node_id)
            return
        attrs = self.node_attrs(node)
        if body is not None:
            attrs.update(style.GROUP, label=label(group_title(node), f"{len(body.nodes)} nodes"))
        self.canvas.add_node(self.cluster(node.scope), node_id, attrs)

    def draw_group(self, node: Tensor, body: Graph, node_id: str) -> None:
        """A node holding a subgraph: a cluster with the subgraph inside and the node itself.

        A fused group is its members alone: its operands' edges go straight to the members
        reading them, and the values it returns leave from the members computing them.
        """
        fused = node.op == "fused"
        attrs = dict(style.FUSED_CLUSTER if fused else style.GROUP_CLUSTER,
                     label=group_title(node), tooltip=self.tooltip(node))
        group = self.cluster(node.scope).child(("group", id(node)), f"cluster_{node_id}", attrs)
        ports = {id(p): self.rep[id(o)] for p, o in zip(body.inputs, node.inputs)
                 if fused and id(o) in self.rep}
        # NOTE: a group's members stay together, not beside the forward nodes they came from
        options = replace(self.options, grads_beside=False) if fused else self.options
        inner = Drawer(self.canvas, body, options, f"{node_id}/", cluster=group, ports=ports,
                       within=node.scope if fused else ())
        inner.draw(sinks=False)
        self.groups[id(node)] = inner
        if fused:
            self.hidden[id(node)] = group
            return
        self.canvas.add_node(group, node_id, dict(self.node_attrs(node), **style.ANCHOR))
        for k, out in enumerate(body.outputs):
            text = f"{k}: {self.dims.type(out.type)}" if len(body.outputs) > 1 else \
                self.dims.type(out.type)
            self.canvas.add_edge(inner.rep_of(out), node_id, {"label": text})

    def node_attrs(self, node: Tensor) -> dict:
        name, ttype = self.names[id(node)], self.dims.type(node.type)
        if node.op == "placeholder":
            attrs = dict(style.PLACEHOLDER, label=label(name, ttype))
        elif node.op == "variable":
            attrs = dict(style.VARIABLE, label=label(name, ttype))
        elif node.op == "constant":
            attrs = dict(style.CONSTANT, label=label("const " + ttype))
        else:
            mark = style.GRAD_MARK if is_gradient(node) else ""
            head = f"{mark}{node.name}: {node.op}" if node.name else mark + node.op
            attrs = dict(style.OP, fillcolor=style.KIND_FILL[OPS[node.op].kind],
                         label=label(head, *self.attr_lines(node)))
        if is_gradient(node):
            attrs = dict(style.with_style(attrs, "dashed"), **style.GRAD)
        attrs["tooltip"] = self.tooltip(node)
        return attrs

    def attr_lines(self, node: Tensor) -> list[str]:
        printer = self.names.printer
        lines = []
        for key, value in shown_attrs(node):
            if isinstance(value, Graph):
                continue
            text = printer.value(value)
            if len(text) > MAX_ATTR_TEXT:
                text = text[:MAX_ATTR_TEXT - 1] + "\u2026"
            lines.append(f"{key}={text}")
        return lines

    def tooltip(self, node: Tensor) -> str:
        line = self.names.printer.node_line(node).splitlines()[0]
        return escape(line)

    def rep_of(self, node: Tensor) -> str:
        return self.rep[id(node)]

    def is_box(self, node_id: str) -> bool:
        return node_id.startswith(f"{self.prefix}scope ")

    # ---- edges --------------------------------------------------------------------------------

    def connect(self, node: Tensor) -> None:
        if id(node) in self.inline or id(node) in self.ports or node.op == "fused_result" \
                and id(node) in self.hidden:
            return
        group = self.groups.get(id(node))
        seen = set()
        for k, inp in enumerate(node.inputs):
            head = self.rep[id(node)]
            if group is not None and k < len(group.graph.inputs):
                head = group.rep_of(group.graph.inputs[k])
            if id(inp) in self.inline:
                if not self.is_box(head):
                    self.inline_constant(inp, node, head, k)
                continue
            tail = self.rep[id(inp)]
            if tail == head or (tail, head, id(inp)) in seen:
                continue
            seen.add((tail, head, id(inp)))
            if self.is_box(tail) or self.is_box(head):    # one edge per pair of boxes
                values = self.box_edges.setdefault((tail, head), {})
                values[id(inp)] = self.dims.type(inp.type)
                continue
            attrs = {"label": self.dims.type(inp.type)}
            if self.options.grads_beside and is_gradient(node):
                attrs["constraint"] = "false"
            self.canvas.add_edge(tail, head, attrs)

    def inline_constant(self, const: Tensor, user: Tensor, head: str, k: int) -> None:
        """A scalar constant drawn small beside each node that uses it."""
        copy = f"{head}/const {k}"
        attrs = dict(style.CONSTANT, label=label(scalar_text(const.value)),
                     tooltip=self.tooltip(const))
        self.canvas.add_node(self.cluster(user.scope), copy, attrs)
        self.canvas.add_edge(copy, head, {})
        self.inline[id(const)].append(copy)

    def draw_outputs(self) -> None:
        for k, out in enumerate(self.graph.outputs):
            sink = f"{self.prefix}output {k}"
            name = self.names[id(out)]
            self.canvas.add_node(self.cluster_root, sink,
                                 dict(style.OUTPUT, label=label(f"output {k}", "%" + name)))
            self.canvas.add_edge(self.rep[id(out)], sink, {"label": self.dims.type(out.type)})
        for var, value in self.graph.updates:
            tail, head = self.rep[id(value)], self.rep[id(var)]
            # NOTE: dot (2.43) fails ("trouble in init_rank") on an unconstrained edge out of
            # a nested cluster; from inside a fused group the edge is a weightless one instead
            edge = style.UPDATE_EDGE if id(value) not in self.hidden else style.UPDATE_FROM_GROUP
            if tail != head:
                self.canvas.add_edge(tail, head, dict(edge, label="update"))

    def pair_gradients(self) -> None:
        """Each gradient node on the rank of the forward node it came from."""
        for node in self.graph.nodes:
            origin = node.grad_of
            if origin is None or id(origin) not in self.rep or id(node) not in self.rep:
                continue
            a, b = self.rep[id(origin)], self.rep[id(node)]
            if a != b and id(node) not in self.hidden and id(origin) not in self.hidden:
                self.canvas.same_rank.append((a, b))

    # ---- highlight, diff marks and collapsed boxes ----------------------------------------------

    def decorate(self) -> None:
        for box, members in self.boxes.items():
            attrs = self.canvas.attrs[_safe(box)]
            path = box[len(self.prefix) + len("scope "):]
            lines = [path.rsplit("/", 1)[-1], f"{len(members)} nodes"]
            if path.split("/", 1)[0] == "grad":
                attrs.update(style.GRAD)
            counts: dict[str, int] = {}
            for node in members:
                if id(node) in self.marks:
                    counts[self.marks[id(node)]] = counts.get(self.marks[id(node)], 0) + 1
            for mark, n in sorted(counts.items()):
                attrs.update(style.DIFF[mark])
                lines.append(f"{n} {mark}")
            attrs.update(label=label(*lines), tooltip=escape(path))
        for node in self.graph.nodes:
            if id(node) in self.ports:
                continue
            if id(node) in self.hidden:
                self.decorate_cluster(node, self.hidden[id(node)])
                continue
            drawn = self.inline[id(node)] if id(node) in self.inline else [self.rep[id(node)]]
            for node_id in drawn:
                attrs = self.canvas.attrs[_safe(node_id)]
                mark = self.marks.get(id(node))
                if mark and not self.is_box(node_id):
                    attrs.update(style.DIFF[mark])
                    attrs["label"] = graphviz.nohtml(escape(style.DIFF_MARK[mark])
                                                     + attrs["label"])
                if id(node) in self.options.highlight:
                    attrs.update(style.HIGHLIGHT)


    def decorate_cluster(self, node: Tensor, cluster: _Cluster) -> None:
        """A fused node's diff mark or highlight goes to the cluster drawn for it."""
        if node.op != "fused":
            return
        mark = self.marks.get(id(node))
        if mark:
            cluster.attrs.update(style.DIFF[mark],
                                 label=style.DIFF_MARK[mark] + cluster.attrs["label"])
        if id(node) in self.options.highlight:
            cluster.attrs.update(style.HIGHLIGHT)


def group_title(node: Tensor) -> str:
    """What a node holding a subgraph is called: its op, and a fused group's kind."""
    return f"fused {node.attrs['kind']}" if node.op == "fused" else node.op


def new_digraph(title: str | None = None, rankdir: str = "TB") -> graphviz.Digraph:
    dot = graphviz.Digraph(graph_attr={"rankdir": rankdir, "fontname": style.FONT["fontname"],
                                       "nodesep": "0.25", "ranksep": "0.35"},
                           node_attr=dict(style.FONT),
                           edge_attr={"fontname": style.FONT["fontname"], "fontsize": "8",
                                      "color": "#495057", "arrowsize": "0.7"})
    if title:
        dot.attr(label=label(title), labelloc="t", fontsize="14")
    return dot
