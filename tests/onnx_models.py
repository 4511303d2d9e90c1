"""Small ONNX models built with onnx.helper, shared by the ONNX tests."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT


def model(nodes, inputs, outputs, initializers=(), opset: int = 17, ir_version: int = 8):
    """A model from nodes and (name, elem_type, shape) inputs/outputs; shapes may hold str."""
    graph = helper.make_graph(
        nodes, "test",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        [numpy_helper.from_array(np.asarray(a), name) for name, a in initializers])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = ir_version
    return m


def one_node(op: str, inputs, outputs, opset: int = 17, initializers=(), **attrs):
    """A model of one node; inputs/outputs are (name, elem_type, shape)."""
    node = helper.make_node(op, [n for n, _, _ in inputs] + [n for n, _ in initializers],
                            [n for n, _, _ in outputs], **attrs)
    return model([node], inputs, outputs, initializers, opset)


def mlp(hidden: int = 8, batch="N") -> onnx.ModelProto:
    """x (batch, 4) -> Gemm -> Relu -> Gemm -> (batch, 3), weights as initializers."""
    rng = np.random.default_rng(0)
    w1, b1 = rng.standard_normal((4, hidden)).astype("f4"), np.zeros(hidden, "f4")
    w2, b2 = rng.standard_normal((hidden, 3)).astype("f4"), rng.standard_normal(3).astype("f4")
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"])]
    return model(nodes, [("x", F, [batch, 4])], [("y", F, [batch, 3])],
                 [("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2)])
