"""A corpus of malformed ONNX models: each gets a gc.GraphcError, never another exception."""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the ONNX importer needs the optional onnx package")

from onnx import TensorProto, helper  # noqa: E402

import graphc as gc  # noqa: E402
from tests.onnx_models import F, mlp, model, one_node  # noqa: E402


def _tensor(name, dims, data_type=TensorProto.FLOAT, raw=b""):
    t = onnx.TensorProto(name=name, data_type=data_type, raw_data=raw)
    t.dims.extend(dims)
    return t


def _with_initializer(tensor):
    m = mlp()
    m.graph.initializer.append(tensor)
    node = helper.make_node("Add", ["x", tensor.name], ["z"])
    m.graph.node.append(node)
    return m


def _cycle():
    nodes = [helper.make_node("Relu", ["x", "b"], ["a"], name="first"),
             helper.make_node("Relu", ["a"], ["b"], name="second"),
             helper.make_node("Relu", ["b"], ["y"])]
    return model(nodes, [("x", F, [2])], [("y", F, [2])])


def _not_utf8() -> bytes:
    """A node name and a string attribute whose bytes are not UTF-8 text."""
    m = one_node("Pad", [("x", F, [2])], [("y", F, None)], mode="WXYZ", pads=[1, 1])
    m.graph.node[0].name = "ABCD"
    data = m.SerializeToString()
    return data.replace(b"ABCD", b"\xff\xfe\xfd\xfc").replace(b"WXYZ", b"\xc3\x28\xa0\xa1")


def _typed_wrong():
    m = one_node("MatMul", [("a", F, [2, 3]), ("b", TensorProto.INT64, [3, 2])],
                 [("y", F, None)])
    return m


def _attribute_type():
    m = one_node("Transpose", [("x", F, [2, 3])], [("y", F, None)], perm=[0, 7])
    return m


CORPUS = {
    "empty bytes": b"",
    "truncated protobuf": mlp().SerializeToString()[:-17],
    "random bytes": np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes(),
    "text instead of protobuf": b"graph(%x: f32[2]) { return %x }",
    "missing input": model([helper.make_node("Relu", ["nowhere"], ["y"])],
                           [("x", F, [2])], [("y", F, [2])]),
    "cyclic graph": _cycle(),
    "unknown op": one_node("Frobnicate", [("x", F, [2])], [("y", F, [2])]),
    "output never computed": model([helper.make_node("Relu", ["x"], ["a"])],
                                   [("x", F, [2])], [("y", F, [2])]),
    "value defined twice": model([helper.make_node("Relu", ["x"], ["y"]),
                                  helper.make_node("Neg", ["x"], ["y"])],
                                 [("x", F, [2])], [("y", F, [2])]),
    "wrong operand types": _typed_wrong(),
    "shape mismatch": one_node("Add", [("a", F, [2, 3]), ("b", F, [4])], [("y", F, None)]),
    "bad attribute value": _attribute_type(),
    "absurd input dim": one_node("Relu", [("x", F, [1 << 62])], [("y", F, None)]),
    "absurd initializer dims": _with_initializer(_tensor("big", [1 << 40, 1 << 40])),
    "initializer data of the wrong size": _with_initializer(_tensor("w", [3], raw=b"\0" * 5)),
    "absurd ConstantOfShape": one_node(
        "ConstantOfShape", [], [("y", F, None)],
        initializers=[("shape", np.array([1 << 30, 1 << 30], np.int64))]),
    "string tensors": one_node("Identity", [("x", TensorProto.STRING, [2])],
                               [("y", TensorProto.STRING, [2])]),
    "negative reshape target": one_node("Reshape", [("x", F, [2, 3])], [("y", F, None)],
                                        initializers=[("s", np.array([-2, -3], np.int64))]),
    "no graph": onnx.ModelProto(ir_version=8).SerializeToString(),
    "text that is not UTF-8": _not_utf8(),
    "input without a type": model([helper.make_node("Relu", ["x"], ["y"])], [], [],),
}
# the last one: a node reading an input the graph declares without any type
CORPUS["input without a type"].graph.input.append(onnx.ValueInfoProto(name="x"))
CORPUS["input without a type"].graph.output.append(helper.make_tensor_value_info("y", F, [2]))


@pytest.mark.parametrize("name", list(CORPUS))
def test_malformed_models_raise_graphc_errors(name: str) -> None:
    with pytest.raises(gc.GraphcError) as info:
        gc.onnx.load(CORPUS[name])
    assert str(info.value)


def test_malformed_files_name_the_file(tmp_path) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(CORPUS["truncated protobuf"])
    with pytest.raises(gc.GraphcError, match="broken.onnx"):
        gc.onnx.load(path)
    with pytest.raises(gc.GraphcError, match="No such file"):
        gc.onnx.load(tmp_path / "missing.onnx")


def test_missing_external_data_is_reported(tmp_path) -> None:
    m = mlp(hidden=64)
    onnx.save_model(m, tmp_path / "mlp.onnx", save_as_external_data=True,
                    location="weights.bin", size_threshold=0)
    (tmp_path / "weights.bin").unlink()
    with pytest.raises(gc.GraphcError, match="external data"):
        gc.onnx.load(tmp_path / "mlp.onnx")


@pytest.mark.parametrize("seed", range(60))
def test_corrupted_bytes_never_escape_as_other_exceptions(seed: int) -> None:
    """Flip bytes of a valid model: it loads, or it raises a GraphcError; nothing else."""
    data = bytearray(mlp().SerializeToString())
    rng = np.random.default_rng(seed)
    for i in rng.integers(0, len(data), 3):
        data[i] = int(rng.integers(0, 256))
    try:
        gc.onnx.load(bytes(data))
    except gc.GraphcError:
        pass
