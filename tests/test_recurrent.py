"""SimpleRNN, LSTM and GRU: forward against NumPy references, unrolled == scan, gradients."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import graphc as gc
from graphc.testing import numeric_grad

RNG = np.random.default_rng(0)
N, T, F, H = 3, 5, 4, 6


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def rnn_step(layer, state, x):
    (h,) = state
    return (np.tanh(x @ layer.W_ih.value + layer.b.value + h @ layer.W_hh.value),)


def lstm_step(layer, state, x):
    """PyTorch's LSTM equations, gate order (i, f, g, o)."""
    h, c = state
    i, f, g, o = np.split(x @ layer.W_ih.value + layer.b.value + h @ layer.W_hh.value, 4, axis=1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def gru_step(layer, state, x):
    """PyTorch's GRU equations, gate order (r, z, n), b_hn inside the reset product."""
    (h,) = state
    xr, xz, xn = np.split(x @ layer.W_ih.value + layer.b.value, 3, axis=1)
    hr, hz, hn = np.split(h @ layer.W_hh.value + layer.b_hh.value, 3, axis=1)
    r, z = sigmoid(xr + hr), sigmoid(xz + hz)
    n = np.tanh(xn + r * hn)
    return ((1 - z) * n + z * h,)


LAYERS = [(gc.nn.SimpleRNN, rnn_step, 1), (gc.nn.LSTM, lstm_step, 2), (gc.nn.GRU, gru_step, 1)]
IDS = ["SimpleRNN", "LSTM", "GRU"]


def reference(layer, step, xs, state, return_sequences):
    outputs = []
    for t in range(xs.shape[1]):
        state = step(layer, state, xs[:, t])
        outputs.append(state[0])
    return np.stack(outputs, axis=1) if return_sequences else state[0]


def randomize(layer, seed: int = 0):
    """Non-trivial (seeded) biases, so a wrong gate order or a missing bias shows."""
    rng = np.random.default_rng(seed)
    for v in layer.variables:
        if v.ndim == 1:
            v.value = rng.normal(size=v.shape) * 0.5
    return layer


@pytest.mark.parametrize("unroll", [True, False], ids=["unrolled", "scan"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "sequence"])
@pytest.mark.parametrize("cls, step, num_states", LAYERS, ids=IDS)
def test_forward_matches_numpy(backend, cls, step, num_states, return_sequences, unroll) -> None:
    layer = randomize(cls(F, H, return_sequences=return_sequences, unroll=unroll, seed=1,
                          dtype="float64"))
    x = gc.placeholder((None, T, F), "float64", name="x")
    xs = RNG.normal(size=(N, T, F))
    got = gc.compile([x], layer(x), backend=backend)(xs)
    zeros = (np.zeros((N, H)),) * num_states
    np.testing.assert_allclose(got, reference(layer, step, xs, zeros, return_sequences),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("unroll", [True, False], ids=["unrolled", "scan"])
@pytest.mark.parametrize("cls, step, num_states", LAYERS, ids=IDS)
def test_given_initial_state(backend, cls, step, num_states, unroll) -> None:
    layer = randomize(cls(F, H, unroll=unroll, seed=2, dtype="float64"))
    x = gc.placeholder((None, T, F), "float64", name="x")
    states = [gc.placeholder((None, H), "float64", name=f"s{i}") for i in range(num_states)]
    given = tuple(states) if num_states > 1 else states[0]
    xs = RNG.normal(size=(N, T, F))
    values = [RNG.normal(size=(N, H)) for _ in states]
    got = gc.compile([x, *states], layer(x, initial_state=given), backend=backend)(xs, *values)
    np.testing.assert_allclose(got, reference(layer, step, xs, tuple(values), False), rtol=1e-10)


@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "sequence"])
@pytest.mark.parametrize("cls", [c for c, _, _ in LAYERS], ids=IDS)
def test_unrolled_and_scan_agree_in_values_and_gradients(backend, cls, return_sequences) -> None:
    x = gc.placeholder((None, T, F), "float64", name="x")
    xs = RNG.normal(size=(N, T, F))
    results = []
    for unroll in (True, False):
        layer = randomize(cls(F, H, return_sequences=return_sequences, unroll=unroll, seed=3,
                              dtype="float64"))
        y = layer(x)
        grads = gc.grad(gc.sum(gc.sin(y)), layer.variables + [x])
        results.append(gc.compile([x], [y, *grads], backend=backend)(xs))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("unroll", [False, True], ids=["scan", "unrolled"])
def test_gradients_match_finite_differences(backend, unroll) -> None:
    """The LSTM's gradient wrt every weight and the input, against central differences."""
    layer = randomize(gc.nn.LSTM(2, 3, return_sequences=True, unroll=unroll, seed=4,
                                 dtype="float64"))
    head = RNG.normal(size=(3,))
    x = gc.placeholder((2, 4, 2), "float64", name="x")
    loss = gc.sum(gc.tanh(layer(x)) * head)
    wrt = layer.variables + [x]
    f_loss = gc.compile([x], loss, backend=backend)
    f_grads = gc.compile([x], gc.grad(loss, wrt), backend=backend)
    xs = RNG.normal(size=(2, 4, 2))
    symbolic = f_grads(xs)
    for v, g in zip(layer.variables, symbolic):
        def at(value, v=v):
            saved, v.value = v.value, value
            try:
                return float(f_loss(xs))
            finally:
                v.value = saved
        np.testing.assert_allclose(g, numeric_grad(at, [v.value.copy()], 0, 1e-6),
                                   rtol=1e-5, atol=1e-8, err_msg=v.name)
    np.testing.assert_allclose(symbolic[-1], numeric_grad(lambda a: float(f_loss(a)), [xs], 0,
                                                          1e-6), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("cls, gates", [(gc.nn.LSTM, 4), (gc.nn.GRU, 3), (gc.nn.SimpleRNN, 1)])
def test_unrolled_weight_gradients_are_one_product_each(cls, gates) -> None:
    """The input projection is one product over the whole sequence, and after optimizing, each
    weight's gradient is one product: W_ih's over all N * T rows, W_hh's over the steps' states
    concatenated (the simplify pass's sum-of-products rule)."""
    hidden = 16
    layer = cls(12, hidden, unroll=True, seed=0)
    x = gc.placeholder((None, 8, 12), "float32", name="x")
    loss = gc.mean(layer(x) ** 2)
    grads = gc.grad(loss, [layer.W_ih, layer.W_hh])
    graph, _ = gc.optimize(gc.Graph([x], grads))
    shapes = Counter(n.shape for n in graph.nodes if n.op == "matmul")
    assert shapes[(12, gates * hidden)] == 1 and shapes[(hidden, gates * hidden)] == 1
    assert sum(n.op == "matmul" and n.inputs[0].ndim == 3 for n in graph.nodes) == 1


def test_scan_version_takes_a_symbolic_sequence_length(backend) -> None:
    layer = gc.nn.GRU(F, H, return_sequences=True, seed=5, dtype="float64")
    x = gc.placeholder((None, None, F), "float64", name="x")
    f = gc.compile([x], layer(x), backend=backend)
    for steps in (2, 7):
        xs = RNG.normal(size=(N, steps, F))
        np.testing.assert_allclose(f(xs), reference(layer, gru_step, xs, (np.zeros((N, H)),),
                                                     True), rtol=1e-10)


def test_layer_owns_its_variables_and_is_seeded() -> None:
    a, b = gc.nn.LSTM(F, H, seed=7), gc.nn.LSTM(F, H, seed=7)
    assert [v.shape for v in a.variables] == [(F, 4 * H), (H, 4 * H), (4 * H,)]
    for u, v in zip(a.variables, b.variables):
        np.testing.assert_array_equal(u.value, v.value)
    block = a.W_hh.value[:, :H]
    np.testing.assert_allclose(block.T @ block, np.eye(H), atol=1e-5)   # orthogonal per gate
    np.testing.assert_array_equal(a.b.value[H:2 * H], 1.0)              # forget-gate bias


def test_errors() -> None:
    with pytest.raises(gc.ShapeError, match=r"expects input \(batch, time, 4\)"):
        gc.nn.SimpleRNN(F, H)(gc.placeholder((2, 5, 3), "float32"))
    with pytest.raises(gc.ShapeError, match="unroll=True needs a static sequence length"):
        gc.nn.LSTM(F, H, unroll=True)(gc.placeholder((2, None, F), "float32"))
    with pytest.raises(gc.ShapeError, match="initial_state needs 2"):
        gc.nn.LSTM(F, H)(gc.placeholder((2, 5, F), "float32"),
                         initial_state=gc.placeholder((2, H), "float32"))
