"""Models defined in PyTorch, exported with torch.onnx.export: graphc reproduces PyTorch's
outputs and fine-tunes them with its own gradients. Skipped where torch is not installed."""
from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (it is not a graphc "
                                            "dependency); these tests need it to export models")
pytest.importorskip("onnx", reason="the ONNX importer needs the optional onnx package")

import graphc as gc  # noqa: E402

nn = torch.nn


class LastStep(nn.Module):
    """An LSTM over (N, T, F) whose last hidden state feeds a linear head."""

    def __init__(self):
        super().__init__()
        self.lstm, self.head = nn.LSTM(5, 6, batch_first=True), nn.Linear(6, 3)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


class Block(nn.Module):
    """A pre-norm transformer block (self-attention and a GELU MLP), then mean-pooled logits."""

    def __init__(self, dim: int = 16, heads: int = 2):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.head = nn.Linear(dim, 3)

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attention(h, h, h, need_weights=False)[0]
        x = x + self.mlp(self.norm2(x))
        return self.head(x.mean(dim=1))


# name: (module, input shape); the batch dim is exported dynamic (a symbolic dim in graphc:
# the transformer's head split reshapes to the dim expression batch * heads)
MODELS = {
    "mlp": (lambda: nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 3)), (8, 10)),
    "cnn": (lambda: nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                  nn.MaxPool2d(2), nn.Conv2d(4, 8, 3), nn.Tanh(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3)),
            (8, 1, 8, 8)),
    "lstm": (LastStep, (8, 7, 5)),
    "transformer_block": (Block, (8, 5, 16)),
}


def export(name: str):
    torch.manual_seed(0)
    build, shape = MODELS[name]
    module = build().eval()
    x = torch.randn(*shape)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), buffer, dynamo=False, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "batch"}})
    return module, x, buffer.getvalue()


@pytest.mark.parametrize("name", list(MODELS))
def test_pytorch_exports_reproduce_pytorch(name: str) -> None:
    module, x, data = export(name)
    graph = gc.onnx.load(data)
    fn = gc.compile(graph)
    assert graph.inputs[0].shape[0] == "batch"
    for batch in (x, x[:3]):
        with torch.no_grad():
            want = module(batch).numpy()
        np.testing.assert_allclose(fn(batch.numpy())[0], want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(MODELS))
def test_pytorch_exports_fine_tune_with_graphc_gradients(name: str) -> None:
    _, x, data = export(name)
    graph = gc.onnx.load(data, trainable=True)
    params = [v for v in graph.variables if v.dtype == "float32"]
    labels = gc.placeholder(graph.outputs[0].shape[:1], "int64", name="labels")
    loss = gc.mean(gc.losses.cross_entropy(graph.outputs[0], labels))
    step = gc.compile([graph.inputs[0], labels], loss,
                      updates=gc.optim.Adam(lr=0.01).updates(loss, params))
    ys = np.arange(len(x)) % 3
    losses = [float(step(x.numpy(), ys)) for _ in range(15)]
    assert losses[-1] < 0.8 * losses[0], losses
