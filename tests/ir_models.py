"""Graphs the text-IR, rendering and CLI tests share: the example models and a grouped node."""
from __future__ import annotations

import numpy as np

import graphc as gc
from graphc.attrs import GRAPH
from graphc.registry import OPS, Kind, defop
from graphc.tensor import Tensor, make
from tests.test_examples import load_example

GROUP_OP = "test_group"      # stands for the fused groups the optimizer will create


def mlp_graphs() -> dict[str, gc.Graph]:
    """examples/visualize.py's digits MLP: forward, training step, optimized training step."""
    return load_example("visualize").build(seed=0)


def xor_graph() -> gc.Graph:
    """The XOR example's 2-4-1 tanh/sigmoid MLP with an MSE loss and its SGD step."""
    rng = np.random.default_rng(1)
    x = gc.placeholder((4, 2), "float64", name="x")
    t = gc.placeholder((4, 1), "float64", name="t")
    W1 = gc.variable(rng.standard_normal((2, 4)), name="W1")
    W2 = gc.variable(rng.standard_normal((4, 1)), name="W2")
    out = gc.sigmoid(gc.tanh(x @ W1) @ W2)
    loss = gc.mean(gc.losses.mse(out, t))
    g1, g2 = gc.grad(loss, [W1, W2])
    return gc.Graph([x, t], [loss, out], [(W1, W1 - 0.5 * g1), (W2, W2 - 0.5 * g2)])


def cnn_graph() -> gc.Graph:
    """A small convnet training step: conv, batch norm, pooling, dropout, dense, cross-entropy."""
    rng = np.random.default_rng(2)
    x = gc.placeholder((None, 1, 8, 8), "float32", name="images")
    y = gc.placeholder((None,), "int64", name="labels")
    with gc.scope("conv"):
        k = gc.variable(rng.standard_normal((4, 1, 3, 3)).astype("float32") * 0.3, name="k")
        h = gc.conv2d(x, k, padding="same")
        gamma = gc.variable(np.ones(4, "float32"), name="gamma")
        h = gc.relu(gc.batch_norm(h, gamma, None, None, None, training=True))
        h = gc.max_pool(h, 2)
    with gc.scope("head"):
        state = gc.random_state(7, name="rng")
        h = gc.dropout(gc.flatten(h), 0.25, state, training=True)
        W = gc.variable(rng.standard_normal((64, 10)).astype("float32") * 0.1, name="W")
        logits = h @ W
    loss = gc.mean(gc.losses.cross_entropy(logits, y))
    grads = gc.grad(loss, [k, gamma, W])
    updates = [(p, p - 0.05 * g) for p, g in zip([k, gamma, W], grads)]
    updates.append((state, gc.next_random_state(state)))
    return gc.Graph([x, y], [loss, logits[:, 2:7:2]], updates)


def rnn_graph() -> gc.Graph:
    """A tanh RNN over a sequence (gc.scan holds the loop body as a graph) and its gradient."""
    rng = np.random.default_rng(3)
    xs = gc.placeholder((5, None, 3), "float32", name="xs")
    h0 = gc.placeholder((None, 4), "float32", name="h0")
    W = gc.variable(rng.standard_normal((3, 4)).astype("float32"), name="W")
    U = gc.variable(rng.standard_normal((4, 4)).astype("float32") * 0.5, name="U")
    with gc.scope("rnn"):
        h_last, hs = gc.scan(lambda h, x: (gc.tanh(x @ W + h @ U), h), h0, xs)
    loss = gc.mean(h_last) + gc.mean(hs)
    return gc.Graph([xs, h0], [loss, *gc.grad(loss, [W, U])])


def lstm_training_graph() -> gc.Graph:
    """W7 in small: an SGD step of gc.nn.LSTM as one gc.scan, its gradient a backward scan.

    Graphviz's dot (2.43) failed on its drawing ("trouble in init_rank") until labelled edges
    leaving a cluster were drawn with an xlabel (backends/graphviz/draw.py: Canvas.write).
    """
    x = gc.placeholder((None, 3, 4), "float32", name="x")
    lstm = gc.nn.LSTM(4, 5, unroll=False, seed=0)
    loss = gc.mean(lstm(x))
    params = [lstm.W_ih, lstm.W_hh, lstm.b]
    grads = gc.grad(loss, params)
    return gc.Graph([x], [loss], [(p, p - 0.1 * g) for p, g in zip(params, grads)])


def example_graphs() -> dict[str, gc.Graph]:
    graphs = {f"mlp_{name}": g for name, g in mlp_graphs().items()}
    graphs.update(xor=xor_graph(), cnn=cnn_graph(), rnn=rnn_graph())
    return graphs


def example_feeds(graph: gc.Graph, seed: int = 0) -> list[np.ndarray]:
    """Random inputs for a graph, every symbolic dim bound to 3; int inputs are class labels."""
    rng = np.random.default_rng(seed)
    feeds = []
    for t in graph.inputs:
        shape = tuple(d if isinstance(d, int) else 3 for d in t.shape)
        if t.dtype.startswith("int"):
            feeds.append(rng.integers(0, 10, shape).astype(t.dtype))
        else:
            feeds.append(rng.standard_normal(shape).astype(t.dtype))
    return feeds


# ---- a node holding a subgraph -------------------------------------------------------------------

def _group_rule(types, attrs):
    body = attrs["body"]
    if [t.dtype for t in types] != [t.dtype for t in body.inputs]:
        raise gc.DTypeError("operands do not match the group's inputs")
    return body.outputs[0].type


if GROUP_OP not in OPS:
    defop(GROUP_OP, Kind.COMPOSITE, _group_rule, arity=(1, None), attrs={"body": GRAPH})


def grouped(inputs: list[Tensor], fn) -> Tensor:
    """fn applied to `inputs` as one node that holds fn's graph (as a fusion pass would)."""
    params = [gc.placeholder(t.shape, t.dtype, name=f"in{i}") for i, t in enumerate(inputs)]
    body = gc.Graph(params, [fn(*params)])
    return make(GROUP_OP, inputs, {"body": body})
