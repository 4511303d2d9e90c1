"""gc.onnx.save: inference graphs of every gc.nn layer, checked by re-importing them (and by
onnxruntime where it is installed)."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="ONNX export needs the optional onnx package")

import graphc as gc  # noqa: E402
from frontends.onnx import OnnxError  # noqa: E402

nn = gc.nn
rng = np.random.default_rng(0)


def _mha(x):
    layer = _mha.layer = getattr(_mha, "layer", None) or nn.MultiHeadAttention(8, 2).eval()
    return layer(x, mask=gc.causal_mask(5))


LAYERS = {  # name: (build the model, input shape, input dtype)
    "dense": (lambda: nn.Sequential(nn.Dense(5, 4, activation=gc.relu), nn.Dense(4, 3)),
              (2, 5), "float32"),
    "conv2d_pools": (lambda: nn.Sequential(nn.Conv2D(3, 4, 3, padding=1), gc.relu,
                                           nn.MaxPool(2), nn.AvgPool(2), nn.Flatten(),
                                           nn.Dense(16, 2)), (2, 3, 8, 8), "float32"),
    "conv1d": (lambda: nn.Sequential(nn.Conv1D(3, 4, 3, stride=2), nn.MaxPool(2)),
               (2, 3, 16), "float32"),
    "conv3d": (lambda: nn.Conv3D(2, 3, 2), (1, 2, 4, 4, 4), "float32"),
    "batchnorm_global_pool_dropout": (lambda: nn.Sequential(
        nn.Conv2D(3, 4, 3), nn.BatchNorm(4), nn.GlobalAvgPool(), nn.Dropout(0.5)),
        (2, 3, 6, 6), "float32"),
    "layernorm": (lambda: nn.Sequential(nn.LayerNorm(6), nn.Dense(6, 6, activation=gc.gelu)),
                  (2, 5, 6), "float32"),
    "embedding": (lambda: nn.Embedding(10, 4), (3, 5), "int64"),
    "simple_rnn": (lambda: nn.SimpleRNN(4, 5, return_sequences=True), (2, 6, 4), "float32"),
    "lstm": (lambda: nn.LSTM(4, 5), (2, 6, 4), "float32"),
    "gru": (lambda: nn.GRU(4, 5, return_sequences=True), (2, 6, 4), "float32"),
    "attention": (lambda: _mha, (2, 5, 8), "float32"),
    "activations": (lambda: lambda x: gc.log_softmax(gc.elu(x)) + gc.softmax(gc.tanh(x), 0)
                    + gc.leaky_relu(gc.sigmoid(x)) + gc.softplus(x), (3, 4), "float32"),
}


def _feed(shape, dtype):
    if dtype == "int64":
        return rng.integers(0, 10, shape)
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("name", list(LAYERS))
def test_inference_graphs_round_trip_through_onnx(name: str, tmp_path) -> None:
    build, shape, dtype = LAYERS[name]
    layer = build()
    if isinstance(layer, nn.Layer):
        layer.eval()
    x = gc.placeholder((None,) + shape[1:], dtype, name="x")
    graph = gc.Graph([x], [layer(x)])
    path = gc.onnx.save(graph, tmp_path / f"{name}.onnx")
    onnx.checker.check_model(str(path))
    loaded = gc.onnx.load(path)
    for batch in (shape[0], 1):
        feed = _feed((batch,) + shape[1:], dtype)
        want = gc.compile(graph)(feed)[0]
        np.testing.assert_allclose(gc.compile(loaded)(feed)[0], want, rtol=1e-5, atol=1e-6)
        if importlib.util.find_spec("onnxruntime") is not None:
            import onnxruntime
            session = onnxruntime.InferenceSession(str(path),
                                                   providers=["CPUExecutionProvider"])
            got = session.run(None, {"x": feed})[0]
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_training_graphs_and_foreign_ops_are_refused(tmp_path) -> None:
    w = gc.variable(np.ones((3, 2), np.float32), name="w")
    x = gc.placeholder((4, 3), name="x")
    loss = gc.sum(x @ w)
    with pytest.raises(OnnxError, match="updates"):
        gc.onnx.save(gc.Graph([x], [loss], gc.optim.SGD(0.1).updates(loss, [w])), tmp_path / "a")
    state = gc.random_state(0)
    with pytest.raises(OnnxError, match="random_uniform"):
        gc.onnx.save(gc.Graph([x], [gc.random_uniform((4, 3), state) + x]), tmp_path / "b")


@pytest.mark.parametrize("layer", ["LSTM", "GRU"])
def test_loops_over_a_symbolic_length_export_as_onnx_scan(layer: str, tmp_path) -> None:
    rnn = getattr(nn, layer)(4, 5, return_sequences=True).eval()
    x = gc.placeholder((None, "steps", 4), name="x")
    graph = gc.Graph([x], [rnn(x)])
    path = gc.onnx.save(graph, tmp_path / "rnn.onnx")
    assert "Scan" in {node.op_type for node in onnx.load(path).graph.node}
    loaded = gc.onnx.load(path)
    for shape in ((2, 7, 4), (3, 2, 4)):
        feed = rng.standard_normal(shape).astype("f4")
        np.testing.assert_allclose(gc.compile(loaded)(feed)[0], gc.compile(graph)(feed)[0],
                                   rtol=1e-5, atol=1e-6)
