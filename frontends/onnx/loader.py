"""gc.onnx.load: an ONNX model as a gc.Graph, one converter call per ONNX node.

Initializers become constants (float ones become gc.variables with trainable=True, so the
model trains with gc.grad and gc.optim); graph inputs that are also initializers are weights;
`dim_param` and missing dims become symbolic dims. Before anything is built, every node is
checked against the converter table, so one error lists all unsupported ops and attributes.

Values computed from constants alone (shape arithmetic) are folded as the graph is built.
Narrow ONNX types compute in a wider graphc dtype (float16 in float32, uint8 in int32, see
dtypes.py); `import_model` keeps the declared types, which the ONNX backend returns.
"""
from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import onnx

import graphc as gc
from frontends.onnx import table
from frontends.onnx.dtypes import graphc_dtype, numpy_dtype, widen
from frontends.onnx.errors import OnnxError, UnsupportedOnnxError
from frontends.onnx.fold import fold
from frontends.onnx.node import Node
from frontends.onnx.proto import attributes, describe, ordered_nodes, read_model, to_array
from frontends.onnx.shapes import EVALUATORS, SymbolicShape, as_value
from graphc.errors import GraphcError
from graphc.tensor import Tensor

MAX_DIM = 1 << 40     # a declared dim beyond this is corrupt, not a real size


@dataclass
class Imported:
    """The graph and the ONNX types of its inputs and outputs (the backend casts to them)."""

    graph: gc.Graph
    input_names: list[str]
    input_dtypes: list[np.dtype]
    output_names: list[str]
    output_dtypes: list[np.dtype]


def load(model, trainable: bool = False,
         static_inputs: Mapping[str, np.ndarray] | None = None) -> gc.Graph:
    """An ONNX model (a path, bytes or onnx.ModelProto) as a gc.Graph.

    trainable=True makes float initializers gc.variables. `static_inputs` binds graph inputs
    to values (they become constants), for inputs that must be known when the model loads,
    such as a shape fed to Reshape.
    """
    return import_model(model, trainable, static_inputs).graph


def import_model(model, trainable: bool = False,
                 static_inputs: Mapping[str, np.ndarray] | None = None) -> Imported:
    """load(), keeping the ONNX names and declared dtypes of the inputs and outputs."""
    try:
        return _import(model, trainable, dict(static_inputs or {}))
    except GraphcError:
        raise
    except RecursionError:
        raise OnnxError("the model is nested too deeply to convert") from None
    except MemoryError:
        raise OnnxError("the model needs more memory than there is to convert (absurd "
                        "shapes?)") from None


def _opsets(model: onnx.ModelProto) -> dict[str, int]:
    opsets = {(o.domain or ""): o.version for o in model.opset_import}
    if "ai.onnx" in opsets:
        opsets.setdefault("", opsets["ai.onnx"])
    if not model.opset_import:
        opsets[""] = 1     # IR version 1 models predate opset_import
    return opsets


def _all_nodes(graph: onnx.GraphProto):
    """The graph's nodes and those of its subgraphs (Scan, Loop and If bodies), depth first."""
    for node in graph.node:
        yield node
        for attr in node.attribute:
            for body in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _all_nodes(body)


def check_supported(graph: onnx.GraphProto, opsets: dict[str, int]) -> None:
    """Raise one UnsupportedOnnxError listing every op and attribute graphc cannot convert."""
    problems: dict[str, None] = {}
    for node in _all_nodes(graph):
        domain = node.domain or ""
        opset = opsets.get(domain)
        where = f"{describe(node)}, domain {domain or 'ai.onnx'!r}, opset {opset}"
        conv = table.lookup(domain, node.op_type)
        if opset is None:
            problems[f"{where}: the model imports no opset of domain {domain!r}"] = None
        elif conv is None:
            problems[f"{node.op_type} ({where})"] = None
        elif opset < conv.min_opset:
            problems[f"{node.op_type} ({where}): supported from opset {conv.min_opset}"] = None
        else:
            extra = [a.name for a in node.attribute if a.name not in conv.attrs]
            if extra:
                problems[f"{node.op_type} attribute(s) {', '.join(extra)} ({where})"] = None
    if problems:
        raise UnsupportedOnnxError(list(problems))


def _dims(value: onnx.ValueInfoProto) -> tuple:
    ttype = value.type.tensor_type
    if not value.type.HasField("tensor_type"):
        raise UnsupportedOnnxError([f"input {value.name!r}: only tensors are supported, not "
                                    "sequences, maps or optionals"])
    if not ttype.HasField("shape"):
        raise OnnxError(f"input {value.name!r} has no shape (not even a rank); graphc needs "
                        "the rank of every input")
    dims = []
    for d in ttype.shape.dim:
        if d.HasField("dim_value"):
            if not 0 <= d.dim_value <= MAX_DIM:
                raise OnnxError(f"input {value.name!r} has an absurd dim {d.dim_value}")
            dims.append(d.dim_value)
        else:
            dims.append(_symbol(d.dim_param) if d.dim_param else None)
    return tuple(dims)


def _symbol(name: str) -> str:
    """A dim_param as a graphc symbol name (letters, digits and _)."""
    return re.sub(r"\W", "_", name) or "dim"


def _scopes(name: str) -> tuple[str, ...]:
    """A PyTorch-style node name /encoder/layer.0/MatMul -> name scopes (encoder, layer.0)."""
    parts = [p for p in name.split("/") if p]
    return tuple(parts[:-1]) if name.startswith("/") else ()


def _import(source, trainable: bool, static_inputs: dict) -> Imported:
    table.load_families()
    model, base = read_model(source)
    opsets = _opsets(model)
    check_supported(model.graph, opsets)
    values = _initializers(model.graph, base, trainable)
    inputs, input_dtypes = _inputs(model.graph, values, static_inputs)
    _convert_nodes(model.graph, opsets, values)
    outputs, output_dtypes = _outputs(model.graph, values)
    return Imported(gc.Graph(inputs, outputs), [t.name for t in inputs], input_dtypes,
                    [v.name for v in model.graph.output], output_dtypes)


def _initializers(graph: onnx.GraphProto, base: str | None, trainable: bool) -> dict:
    """Initializers as constants, float ones as variables when trainable."""
    values: dict = {}
    for init in graph.initializer:
        array = to_array(init, "initializer", base)
        trained = trainable and array.dtype.kind == "f"
        values[init.name] = gc.variable(array, name=init.name) if trained else \
            gc.constant(array)
    return values


def _inputs(graph: onnx.GraphProto, values: dict, static_inputs: dict):
    """Placeholders for the graph inputs that are not initializers (or bound statically)."""
    inputs, dtypes = [], []
    for value in graph.input:
        if value.name in values:
            continue                # an initializer listed as an input (IR < 4): a weight
        elem = value.type.tensor_type.elem_type
        if value.name in static_inputs:
            array = np.asarray(static_inputs.pop(value.name), numpy_dtype(elem))
            values[value.name] = gc.constant(widen(array))
            continue
        values[value.name] = gc.placeholder(_dims(value), graphc_dtype(elem), name=value.name)
        inputs.append(values[value.name])
        dtypes.append(numpy_dtype(elem))
    if static_inputs:
        raise OnnxError(f"static_inputs names {', '.join(map(repr, static_inputs))}, which "
                        "are not graph inputs")
    return inputs, dtypes


def _convert_nodes(graph: onnx.GraphProto, opsets: dict[str, int], values: dict) -> None:
    """Convert every node in dependency order, adding its outputs to `values`.

    A subgraph (a Scan, Loop or If body) is converted the same way into a copy of `values`
    holding its inputs, so it sees the values of the graphs around it by name.
    """
    def subgraph(body: onnx.GraphProto, bound: dict) -> list:
        inner = {**values, **{init.name: gc.constant(to_array(init, "initializer"))
                              for init in body.initializer}, **bound}
        _convert_nodes(body, opsets, inner)
        missing = [o.name for o in body.output if o.name not in inner]
        if missing:
            raise OnnxError(f"subgraph {body.name!r}: output {missing[0]!r} is computed by "
                            "no node")
        return [inner[o.name] for o in body.output]

    # ONNX element types where known: CastLike reads them (graphc's dtypes are wider).
    declared = {v.name: v.type.tensor_type.elem_type for v in
                list(graph.input) + list(graph.value_info) + list(graph.output)
                if v.type.HasField("tensor_type") and v.type.tensor_type.elem_type}
    declared.update({init.name: init.data_type for init in graph.initializer})
    memo: dict[Tensor, int | None] = {}   # keyed by node: the ids of dead nodes get reused
    for proto in ordered_nodes(graph, set(values)):
        domain = proto.domain or ""
        node = Node(proto.op_type, domain, proto.name, opsets[domain],
                    [values[n] if n else None for n in proto.input], attributes(proto),
                    len(proto.output), [declared.get(n) for n in proto.input], subgraph)
        outputs = _convert(node, proto)
        if proto.op_type == "Cast" and isinstance(node.attr("to"), int):
            declared.setdefault(proto.output[0], node.attr("to"))
        for name, t in zip(proto.output, outputs):
            if not name or t is None:
                continue
            if isinstance(t, Tensor):
                t = fold(t, memo)
                if t.name is None and t.op != "constant":
                    t.name = name
            values[name] = t


def _outputs(graph: onnx.GraphProto, values: dict):
    """The graph outputs and the numpy dtypes the model declares for them."""
    outputs, dtypes = [], []
    for value in graph.output:
        t = values.get(value.name)
        if t is None:
            raise OnnxError(f"graph output {value.name!r} is computed by no node")
        if isinstance(t, SymbolicShape):
            raise UnsupportedOnnxError([f"graph output {value.name!r} is a shape with symbolic "
                                        "dims"])
        elem = value.type.tensor_type.elem_type
        outputs.append(t)
        dtypes.append(numpy_dtype(elem) if elem else np.dtype(t.dtype))
    return outputs, dtypes


def _convert(node: Node, proto: onnx.NodeProto) -> list[Tensor | None]:
    """The converter's results for one node, as a list of the node's outputs."""
    conv = table.lookup(node.domain, node.op_type)
    try:
        symbolic = _symbolic(node)
        if symbolic is not None:
            return [symbolic]
        with contextlib.ExitStack() as scopes:
            for name in _scopes(proto.name):
                scopes.enter_context(gc.scope(name))
            result = conv.fn(node)
    except OnnxError:
        raise                       # it names the node already
    except GraphcError as exc:
        raise OnnxError(f"{node!r}: {exc}") from None
    except (ValueError, TypeError, IndexError, KeyError, ZeroDivisionError, OverflowError,
            AttributeError) as exc:
        raise OnnxError(f"{node!r}: {type(exc).__name__}: {exc} (attributes "
                        f"{_brief(node.attrs)})") from None
    results = list(result) if isinstance(result, (list, tuple)) else [result]
    wanted = [name for name in proto.output]
    if len(results) < len(wanted) and any(wanted[len(results):]):
        raise node.unsupported(f"output {len(results)} ({wanted[len(results)]!r}) is not "
                               "supported")
    return results


def _symbolic(node: Node):
    """A shape op applied to a SymbolicShape, evaluated on its entries (None: no such input)."""
    every = node.op_type in ("Concat", "Add", "Sub", "Mul", "Div")
    data = node.inputs if every else node.inputs[:1]
    if not any(isinstance(t, SymbolicShape) for t in data):
        return None
    evaluate = EVALUATORS.get(node.op_type)
    if evaluate is None:
        return None         # the converter says what it needs
    entries = [t.entries if isinstance(t, SymbolicShape) else
               (None if t is None else node.static(i)) for i, t in enumerate(node.inputs)]
    return as_value(evaluate(node, entries))


def _brief(attrs: dict) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in attrs.items())
    return text if len(text) < 200 else text[:200] + "..."


__all__ = ["load", "import_model", "Imported", "check_supported"]
