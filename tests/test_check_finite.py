"""check_finite: the first node producing NaN or infinity is named, with its line and inputs.

The interpreter checks every node; native code checks a call's results and lets the
interpreter name the node (backends/llvm/finite.py), so the messages are the same.
"""
from __future__ import annotations

import inspect
import os

import numpy as np
import pytest

import graphc as gc

HERE = os.path.basename(__file__)


def line_of(marker: str) -> str:
    """'test_check_finite.py:N' of the line of this file holding `marker` in a comment."""
    lines = inspect.getsource(inspect.getmodule(line_of)).splitlines()
    return f"{HERE}:{next(i for i, text in enumerate(lines, 1) if f'# {marker}' in text)}"


def model():
    x = gc.placeholder((None, 3), "float32", name="x")
    W = gc.variable(np.ones((3, 2), np.float32), name="W")
    h = gc.log(x @ W)                                    # the log
    loss = gc.mean(gc.sqrt(h))                           # the sqrt
    return x, W, loss


@pytest.mark.filterwarnings("ignore:invalid value")
def test_a_nan_names_the_node_its_line_and_its_inputs(backend) -> None:
    x, W, loss = model()
    step = gc.compile([x], loss, updates=[(W, W - 0.1 * gc.grad(loss, W))],
                      check_finite=True, backend=backend)
    good = np.ones((2, 3), np.float32)
    assert np.isfinite(step(good))
    before = W.value.copy()
    bad = np.array([[1, 1, 1], [0.1, 0.1, 0.1]], np.float32)     # log(0.3 w) < 0: sqrt is nan
    with pytest.raises(gc.NonFiniteError) as info:
        step(bad)
    message = str(info.value)
    assert "sqrt(" in message and "2 nan among its 4 values" in message, message
    assert line_of("the sqrt") in message
    h = np.log(bad @ before)
    assert f"f32[2,2]: min {h.min():.6g}, max {h.max():.6g}, 2 negative" in message  # its input
    np.testing.assert_array_equal(W.value, before)       # the failed step updated nothing
    assert isinstance(info.value, gc.GraphcError)


def test_a_gradient_node_names_the_forward_op(backend) -> None:
    x = gc.placeholder((3,), "float64", name="x")
    root = gc.sqrt(x)                                    # the forward sqrt
    g = gc.grad(gc.sum(root), x)                         # the gradient
    f = gc.compile([x], [root, g], check_finite=True, backend=backend)
    with pytest.raises(gc.NonFiniteError) as info, np.errstate(divide="ignore"):
        f(np.array([4.0, 0.0, 1.0]))
    message = str(info.value)
    assert "1 inf among its 3 values" in message, message
    assert line_of("the gradient") in message
    assert "in the gradient of" in message and "sqrt" in message
    assert line_of("the forward sqrt") in message
    assert "1 zero" in message


def test_infinite_inputs_are_summarized(backend) -> None:
    x = gc.placeholder((4,), "float32", name="x")
    f = gc.compile([x], x * 2.0, check_finite=True, backend=backend)
    with pytest.raises(gc.NonFiniteError) as info:
        f(np.array([1.0, np.inf, -np.inf, np.nan], np.float32))
    message = str(info.value)
    assert "1 nan and 1 inf and 1 -inf among its 4 values" in message
    assert "%x f32[4]: min 1, max 1, 1 nan and 1 inf and 1 -inf" in message


@pytest.mark.filterwarnings("ignore:invalid value")
def test_the_environment_turns_it_on(monkeypatch) -> None:
    x = gc.placeholder((2,), "float64", name="x")
    monkeypatch.setenv("GRAPHC_CHECK_FINITE", "1")
    with pytest.raises(gc.NonFiniteError):
        gc.compile([x], gc.log(x), backend="numpy")(np.array([1.0, -1.0]))
    assert gc.compile([x], gc.log(x), check_finite=False, backend="numpy").source.count(
        "all_finite") == 0


@pytest.mark.filterwarnings("ignore:invalid value")
def test_off_it_is_absent_from_the_code(monkeypatch) -> None:
    monkeypatch.delenv("GRAPHC_CHECK_FINITE", raising=False)
    x, _, loss = model()
    f = gc.compile([x], loss, backend="numpy")
    assert "all_finite" not in f.source and "nonfinite" not in f.source
    assert np.isnan(f(np.array([[1, 1, 1], [0.1, 0.1, 0.1]], np.float32)))
    assert "all_finite" in gc.compile([x], loss, check_finite=True, backend="numpy").source


@pytest.mark.filterwarnings("ignore:overflow")
def test_the_trainer_says_which_step_and_batch(backend) -> None:
    x = gc.placeholder((None, 1), "float32", name="x")
    y = gc.placeholder((None, 1), "float32", name="y")
    layer = gc.nn.Dense(1, 1, seed=0)
    loss = gc.losses.mse(gc.exp(layer(x)), y)
    trainer = gc.train.Trainer([x, y], loss, layer, gc.optim.SGD(1e-3), check_finite=True,
                               backend=backend)
    data = np.zeros((12, 1), np.float32)
    data[9] = 1e6                                        # exp overflows in the third batch
    with pytest.raises(gc.NonFiniteError) as info:
        trainer.fit(data, data, epochs=2, batch_size=4, shuffle=False, verbose=0)
    message = str(info.value)
    assert "at training step 3 (epoch 1, batch 3 of 3)" in message, message
    assert "exp(" in message
