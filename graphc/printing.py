"""The text form of a graph: one line per node with its type, scope and source line."""
from __future__ import annotations

import numpy as np

from graphc.tensor import Tensor


def value_names(graph) -> dict[int, str]:
    """A readable, unique %name for every node: the user's name when free, else a number."""
    names: dict[int, str] = {}
    used: set[str] = set()
    for i, node in enumerate(graph.nodes):
        name = node.name if node.name and node.name not in used else str(i)
        while name in used:
            name += "_"
        used.add(name)
        names[id(node)] = name
    return names


def format_attr(value) -> str:
    if hasattr(value, "array"):                    # a constant's Const
        array = value.array
        if array.size <= 8:
            return np.array2string(array, separator=", ").replace("\n", "")
        return f"<{array.size} elements>"
    if hasattr(value, "type") and hasattr(value, "value"):   # a variable's Variable
        return repr(value.name)
    return repr(value)


def node_line(node: Tensor, names: dict[int, str]) -> str:
    args = ", ".join("%" + names[id(i)] for i in node.inputs)
    attrs = {k: v for k, v in node.attrs.items() if k not in ("type", "id", "var")}
    attr_text = (" {" + ", ".join(f"{k}={format_attr(v)}" for k, v in attrs.items()) + "}"
                 if attrs else "")
    line = f"  %{names[id(node)]} = {node.op}({args}){attr_text} : {node.type}"
    notes = []
    if node.scope:
        notes.append("/".join(node.scope))
    if node.loc:
        notes.append(f"@ {node.loc}")
    return line + ("  # " + " ".join(notes) if notes else "")


def graph_to_text(graph) -> str:
    names = value_names(graph)
    params = ", ".join(f"%{names[id(t)]}: {t.type}" for t in graph.inputs)
    lines = [f"graph({params}) {{"]
    lines += [node_line(n, names) for n in graph.nodes if n.op != "placeholder"]
    lines.append("  return " + ", ".join("%" + names[id(t)] for t in graph.outputs))
    lines += [f"  %{names[id(var)]} <- %{names[id(value)]}" for var, value in graph.updates]
    lines.append("}")
    return "\n".join(lines)
