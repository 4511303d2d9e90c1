"""The text IR: one line per node with its type, scope and source line; gc.parse reads it back.

    graph(%x: f32[?1,64], %y: i64[?1]) {
      %W1 = variable() : f32[64,32]  # dense1 @ mlp.py:5
      %4 = matmul(%x, %W1) : f32[?1,32]  # dense1 @ mlp.py:7
      %11 = max(%10) {axes=(1,), keepdims=True} : f32[?1,1]  # @ mlp.py:12
      %26 = constant() {value=1.0} : f32[]  # @ mlp.py:13
      %27 = divide(%26, %24) : f32[]  # grad @ mlp.py:13 (grad of %25)
      return %25
      %W1 <- %54
    }

- Values are `%name`: the user's name when it is free, else the value's position (inputs
  first, then one per line); a name that is not a plain word is quoted, `%"my name"`.
- Symbolic dims are numbered per graph (`?1`, `?2`, ... in order of appearance); dims the user
  named (`batch`) keep their name. In attributes a bare `?1` or `batch` is a dim and strings
  are quoted, so the two never mix.
- Attribute values: ints, floats (`inf`, `-inf`, `nan`), "strings", None, True, False, tuples,
  types (`f32[?1,10]`) and whole graphs (ops that hold a subgraph, such as scan). An
  attribute at its schema's default (matmul's `transpose_a=False`) is left out.
- A scalar constant's value is written inline; variable values and non-scalar constants are
  not text: `stored_arrays` returns them keyed by value name (gc.save writes them to `.npz`).
- Annotations after `#`: the name scope (`grad/dense1`), `@ file:line`, `(grad of %v)`.
"""
from __future__ import annotations

import json
import re
from typing import Iterator

import numpy as np

from graphc.attrs import REQUIRED
from graphc.dims import DimExpr, format_dim, symbols
from graphc.dtypes import SHORT
from graphc.graph import Graph
from graphc.registry import OPS
from graphc.tensor import Tensor
from graphc.types import TensorType

WORD = re.compile(r"[\w.\-]+")                 # a bare value name or scope part
DIM_WORD = re.compile(r"[A-Za-z_]\w*")         # a user-named dim printed as is
BARE_FILE = re.compile(r'[^\s"()#]+')          # a source file printed without quotes
RESERVED = frozenset({"None", "True", "False", "inf", "nan", "graph", "return", *SHORT.values()})
HIDDEN_ATTRS = {"placeholder", "variable", "constant"}   # leaves print no attrs (value aside)


def quote_word(word: str) -> str:
    """A name or scope part as is when it is a plain word, else as a JSON string."""
    return word if WORD.fullmatch(word) else json.dumps(word, ensure_ascii=False)


def listed_nodes(graph) -> list[Tensor]:
    """The values of a graph in printed order: its inputs, then every other node."""
    return list(graph.inputs) + [n for n in graph.nodes if n.op != "placeholder"]


def _attr_values(node: Tensor) -> Iterator:
    for value in node.attrs.values():
        yield from _nested_values(value)


def _nested_values(value) -> Iterator:
    if isinstance(value, tuple) and not isinstance(value, TensorType):
        for item in value:
            yield from _nested_values(item)
    else:
        yield value


def _symbols_of(graph, found: set[str]) -> set[str]:
    """The symbols in every type of `graph` and of the graphs it holds."""
    for node in graph.nodes:
        for d in node.shape:
            found |= symbols(d)
        for value in _attr_values(node):
            if isinstance(value, TensorType):
                for d in value.shape:
                    found |= symbols(d)
            elif isinstance(value, DimExpr):
                found |= symbols(value)
            elif isinstance(value, Graph):
                _symbols_of(value, found)
    return found


class DimNames:
    """Per-graph names of symbolic dims: `?1`, `?2`, ... by first use; user-named dims kept."""

    def __init__(self, graph):
        self.known = _symbols_of(graph, set())
        self.names: dict[str, str] = {}
        self._count = 0

    def is_dim(self, text: str) -> bool:
        """Whether a string attribute is a symbolic dim (rather than a string such as a dtype)."""
        return text.startswith("?") or text in self.known

    def __call__(self, dim) -> str:
        """A dim's text (each symbol as itself: two the graph assumes equal stay two, so a
        file describes exactly the nodes it was printed from)."""
        if isinstance(dim, DimExpr):
            return format_dim(dim, self)
        if not isinstance(dim, str):
            return str(int(dim))
        sym = dim
        if sym not in self.names:
            if DIM_WORD.fullmatch(sym) and sym not in RESERVED:
                self.names[sym] = sym
            else:
                self._count += 1
                self.names[sym] = f"?{self._count}"
        return self.names[sym]

    def type(self, ttype: TensorType) -> str:
        return f"{SHORT[ttype.dtype]}[{','.join(self(d) for d in ttype.shape)}]"


class Names(dict):
    """id(node) -> value name for one graph; `.printer` prints its lines with these names."""

    def __init__(self, graph, printer: Printer):
        super().__init__()
        self.printer = printer
        used: set[str] = set()
        for position, node in enumerate(listed_nodes(graph)):
            name = node.name or str(position)
            while name in used:
                name += "_"
            used.add(name)
            self[id(node)] = name

    @property
    def dims(self) -> DimNames:
        return self.printer.dims

    def ref(self, node: Tensor) -> str:
        return "%" + quote_word(self[id(node)])


def scalar_text(array: np.ndarray) -> str:
    """A 0-d array as a literal that reads back to the same bits (shortest form when it can)."""
    value = array.item()
    if array.dtype == np.bool_:
        return "True" if value else "False"
    if array.dtype.kind in "iu":
        return str(int(value))
    short = str(array.dtype.type(value))
    same = np.array(float(short), array.dtype)
    if same.tobytes() == array.tobytes() or (np.isnan(value) and np.isnan(same)):
        return short
    return repr(float(value))


def _loc_text(loc) -> str:
    file = loc.file if BARE_FILE.fullmatch(loc.file) else json.dumps(loc.file, ensure_ascii=False)
    return f"{file}:{loc.line}"


class Printer:
    """Prints one graph (and the graphs its nodes hold), collecting the arrays gc.save stores."""

    def __init__(self, graph, dims: DimNames | None = None, prefix: str = ""):
        self.graph = graph
        self.dims = dims or DimNames(graph)
        self.names = Names(graph, self)
        self.prefix = prefix
        self.arrays: dict[str, np.ndarray] = {}

    def text(self, indent: str = "") -> str:
        """The graph block; statements are indented by `indent` plus two spaces."""
        params = ", ".join(f"{self.names.ref(t)}: {self.dims.type(t.type)}"
                           for t in self.graph.inputs)
        inner = indent + "  "
        lines = [f"graph({params}) {{"]
        lines += [inner + self.node_line(n, inner) for n in listed_nodes(self.graph)
                  if n.op != "placeholder"]
        outputs = ", ".join(self.names.ref(t) for t in self.graph.outputs)
        lines.append(inner + ("return " + outputs if outputs else "return"))
        lines += [f"{inner}{self.names.ref(var)} <- {self.names.ref(value)}"
                  for var, value in self.graph.updates]
        lines.append(indent + "}")
        return "\n".join(lines)

    def node_line(self, node: Tensor, indent: str = "  ") -> str:
        name = self.names[id(node)]
        args = ", ".join(self.names.ref(i) for i in node.inputs)
        attrs = self._attrs(node, name, indent)
        line = f"{self.names.ref(node)} = {node.op}({args}){attrs} : {self.dims.type(node.type)}"
        notes = self._notes(node)
        return line + ("  # " + " ".join(notes) if notes else "")

    def _attrs(self, node: Tensor, name: str, indent: str) -> str:
        if node.op == "variable":
            self.arrays[self.prefix + name] = node.value
            return ""
        if node.op == "constant":
            if node.ndim:
                self.arrays[self.prefix + name] = node.value
                return ""
            return " {value=" + scalar_text(node.value) + "}"
        if node.op in HIDDEN_ATTRS or not node.attrs:
            return ""
        items = [f"{key}={self.value(v, f'{self.prefix}{name}/{key}/', indent)}"
                 for key, v in shown_attrs(node)]
        return " {" + ", ".join(items) + "}" if items else ""

    def value(self, v, prefix: str = "", indent: str = "  ") -> str:
        """An attribute value in the text IR's literal syntax."""
        if v is None or isinstance(v, (bool, np.bool_)):
            return str(None if v is None else bool(v))
        if isinstance(v, (int, np.integer)):
            return str(int(v))
        if isinstance(v, (float, np.floating)):
            return repr(float(v))
        if isinstance(v, str):
            return self.dims(v) if self.dims.is_dim(v) else json.dumps(v, ensure_ascii=False)
        if isinstance(v, DimExpr):
            return self.dims(v)
        if isinstance(v, TensorType):
            return self.dims.type(v)
        if isinstance(v, tuple):
            items = [self.value(item, prefix, indent) for item in v]
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        if isinstance(v, Graph):                          # ops that hold a subgraph
            inner = Printer(v, self.dims, prefix)
            text = inner.text(indent + "  ")
            self.arrays.update(inner.arrays)
            return text
        # NOTE: str(graph) must never fail (errors print it); the parser rejects this form.
        return "!" + json.dumps(repr(v), ensure_ascii=False)

    def _notes(self, node: Tensor) -> list[str]:
        notes = []
        if node.scope:
            notes.append("/".join(quote_word(part) for part in node.scope))
        if node.loc:
            notes.append("@ " + _loc_text(node.loc))
        if node.grad_of is not None and id(node.grad_of) in self.names:
            notes.append(f"(grad of {self.names.ref(node.grad_of)})")
        return notes


def shown_attrs(node: Tensor) -> list[tuple[str, object]]:
    """node's attributes except those at their schema's default (make() fills those in)."""
    schema = OPS[node.op].attrs
    return [(key, v) for key, v in node.attrs.items()
            if schema[key].default is REQUIRED or type(v) is not type(schema[key].default)
            or v != schema[key].default]


def graph_to_text(graph) -> str:
    """The text IR of a graph (what str(graph) shows and gc.save writes)."""
    return Printer(graph).text()


def stored_arrays(graph) -> dict[str, np.ndarray]:
    """Variable values and non-scalar constants, keyed as the text IR refers to them."""
    printer = Printer(graph)
    printer.text()
    return printer.arrays


def value_names(graph) -> Names:
    """The %names of a graph's values, with its dims numbered as in the whole printout."""
    printer = Printer(graph)
    printer.text()
    return printer.names


def node_line(node: Tensor, names: Names) -> str:
    """One node's line, named as in its graph's printout (for error messages)."""
    return names.printer.node_line(node)
