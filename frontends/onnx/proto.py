"""Reading ONNX protobufs: a model from a path, bytes or ModelProto, its tensors and attributes.

Everything that can go wrong with a file (truncated protobuf, missing external data, a tensor
whose data does not fit its dims) becomes an OnnxError here, so the loader sees clean values.
"""
from __future__ import annotations

import os
from pathlib import Path

import networkx as nx
import numpy as np
import onnx
from google.protobuf.descriptor import FieldDescriptor
from onnx import external_data_helper, helper, numpy_helper

from frontends.onnx.dtypes import numpy_dtype, type_name, widen
from frontends.onnx.errors import OnnxError

MAX_ELEMENTS = 1 << 31     # larger tensors are taken for corrupt dims, not for real weights


def read_model(source) -> tuple[onnx.ModelProto, str | None]:
    """The model and the directory its external data lives in (None: beside no file)."""
    if isinstance(source, onnx.ModelProto):
        return source, None
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _parse(bytes(source), "the given bytes"), None
    if not isinstance(source, (str, os.PathLike)):
        raise OnnxError(f"gc.onnx.load takes a path, bytes or an onnx.ModelProto, not "
                        f"{type(source).__name__}")
    path = Path(source)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OnnxError(f"{path}: {exc.strerror or exc}") from None
    model = _parse(data, str(path))
    base = str(path.parent)
    if any(external_data_helper.uses_external_data(t) for t in _tensors(model.graph)):
        try:
            external_data_helper.load_external_data_for_model(model, base)
        except Exception as exc:   # noqa: BLE001  (any failure here means a bad file)
            raise OnnxError(f"{path}: cannot read the external data: {exc}") from None
    return model, base


def _parse(data: bytes, what: str) -> onnx.ModelProto:
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:   # noqa: BLE001  (protobuf raises several kinds for bad bytes)
        raise OnnxError(f"{what} is not an ONNX model (protobuf: {exc})") from None
    if not model.HasField("graph"):
        raise OnnxError(f"{what} is not an ONNX model (it has no graph)")
    bad = _non_text(model)
    if bad:
        raise OnnxError(f"{what} is corrupt: field {bad} holds bytes that are not UTF-8 text")
    return model


def _non_text(message) -> str | None:
    """The first string field of a protobuf message tree that did not decode, or None.

    NOTE: protobuf hands back undecodable string fields (names, op types) as bytes.
    """
    stack = [message]
    while stack:
        msg = stack.pop()
        for field, value in msg.ListFields():
            if field.type == FieldDescriptor.TYPE_STRING:
                if any(not isinstance(v, str) for v in (value if _repeated(field) else [value])):
                    return f"{msg.DESCRIPTOR.name}.{field.name}"
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                stack.extend(value if _repeated(field) else [value])
    return None


def _repeated(field) -> bool:
    if hasattr(field, "is_repeated"):         # protobuf >= 5.28 drops `label`
        return field.is_repeated
    return field.label == FieldDescriptor.LABEL_REPEATED


def _tensors(graph: onnx.GraphProto):
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors


def to_array(tensor: onnx.TensorProto, what: str, base: str | None = None) -> np.ndarray:
    """A tensor's value in the graphc dtype computing it (see dtypes.py)."""
    dims = list(tensor.dims)
    if any(d < 0 for d in dims) or _count(dims) > MAX_ELEMENTS:
        raise OnnxError(f"{what}: tensor {tensor.name!r} has absurd dims {dims}")
    numpy_dtype(tensor.data_type)   # raises for element types graphc cannot compute
    try:
        array = numpy_helper.to_array(tensor, base or "")
    except Exception as exc:   # noqa: BLE001  (the data does not match dims or type)
        raise OnnxError(f"{what}: tensor {tensor.name!r} ({type_name(tensor.data_type)} "
                        f"{dims}) cannot be read: {exc}") from None
    return widen(np.asarray(array))


def _count(dims) -> int:
    count = 1
    for d in dims:
        count *= d
    return count


def attributes(node: onnx.NodeProto) -> dict:
    """A node's attributes as Python values (tensors and graphs stay protobufs)."""
    values = {}
    for attr in node.attribute:
        try:
            values[attr.name] = helper.get_attribute_value(attr)
        except Exception as exc:   # noqa: BLE001
            raise OnnxError(f"node {node.name!r} ({node.op_type}): attribute {attr.name!r} "
                            f"cannot be read: {exc}") from None
    try:
        return {k: _text(v) for k, v in values.items()}
    except UnicodeDecodeError:
        raise OnnxError(f"node {node.name!r} ({node.op_type}): a string attribute is not "
                        "UTF-8 text") from None


def _text(value):
    """String attributes (bytes in the protobuf) as str, lists of them too."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode() for v in value]
    return value


def ordered_nodes(graph: onnx.GraphProto, known: set[str]) -> list[onnx.NodeProto]:
    """The nodes in an order where each one's inputs are computed first; checks the wiring."""
    producer: dict[str, int] = {}
    for i, node in enumerate(graph.node):
        for out in node.output:
            if not out:
                continue
            if out in producer or out in known:
                raise OnnxError(f"value {out!r} is defined twice (node {describe(node)})")
            producer[out] = i
    dag = nx.DiGraph()
    dag.add_nodes_from(range(len(graph.node)))
    for i, node in enumerate(graph.node):
        for inp in node.input:
            if not inp or inp in known:
                continue
            if inp not in producer:
                raise OnnxError(f"node {describe(node)} reads {inp!r}, which no node, "
                                "input or initializer defines")
            dag.add_edge(producer[inp], i)
    try:
        order = list(nx.lexicographical_topological_sort(dag))
    except nx.NetworkXUnfeasible:
        cycle = nx.find_cycle(dag)
        names = " -> ".join(describe(graph.node[a]) for a, _ in cycle)
        raise OnnxError(f"the graph has a cycle: {names}") from None
    return [graph.node[i] for i in order]


def describe(node: onnx.NodeProto) -> str:
    return f"{node.name or '(unnamed)'!r} ({node.domain + '.' if node.domain else ''}" \
           f"{node.op_type})"
