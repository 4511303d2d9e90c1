"""Mixing float32 and float64 warns once per line, naming it (issue 11, item 14)."""
from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

import graphc as gc


def caught(build) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        build()
    return [w for w in seen if issubclass(w.category, gc.PrecisionWarning)]


def test_a_float64_variable_in_a_float32_model_warns_once_at_the_users_line() -> None:
    x = gc.placeholder((None, 4), "float32", name="x")
    W = gc.variable(np.zeros((4, 2)), name="W")          # np.zeros is float64

    def build():
        for _ in range(3):
            y = x @ W                                     # the line the warning names
        assert y.dtype == "float64"                       # promoted as NumPy does
    seen = caught(build)
    line = inspect.getsourcelines(build)[1] + 2
    assert len(seen) == 1
    assert seen[0].filename == __file__ and seen[0].lineno == line
    message = str(seen[0].message)
    assert "input 'x' f32[?,4] and variable 'W' f64[4,2]" in message
    assert "the result is float64" in message and "dtype='float32'" in message


def test_each_line_warns_once() -> None:
    x = gc.placeholder((3,), "float32", name="x")
    v = gc.placeholder((3,), "float64", name="v")

    def build():
        for _ in range(2):
            x + v
            x * np.float64(2.0)          # a NumPy float64 scalar is not weak (NumPy 2)
    assert len(caught(build)) == 2


@pytest.mark.parametrize("expression", [
    lambda x32, x64, i: x32 * 0.5,                   # Python scalars are weak
    lambda x32, x64, i: x32 + x32,
    lambda x32, x64, i: x64 @ x64,
    lambda x32, x64, i: x32 + i,                     # int64 with float32 gives float64, as in
    lambda x32, x64, i: gc.where(x32 > 0, x32, 1.0),  # NumPy, but that is not float mixing
    lambda x32, x64, i: gc.cast(x64, "float32") * x32,
], ids=["python_scalar", "f32", "f64", "int", "where", "cast"])
def test_no_warning_without_mixing(expression) -> None:
    x32 = gc.placeholder((3, 3), "float32")
    x64 = gc.placeholder((3, 3), "float64")
    i = gc.placeholder((3, 3), "int64")
    assert caught(lambda: expression(x32, x64, i)) == []


def test_a_model_built_with_gc_nn_and_gc_optim_is_float32_throughout() -> None:
    def build():
        model = gc.nn.Sequential([gc.nn.Dense(8, activation="relu", seed=0),
                                  gc.nn.BatchNorm(8), gc.nn.Dense(3, seed=1)])
        x = gc.placeholder((None, 4), name="x")
        y = gc.placeholder((None,), "int64", name="y")
        loss = gc.mean(gc.losses.cross_entropy(model(x), y))
        for optimizer in (gc.optim.Adam(1e-3, clip_norm=1.0), gc.optim.SGD(
                gc.optim.CosineDecay(0.1, 10), momentum=0.9, weight_decay=1e-4)):
            optimizer.updates(loss, model)
    assert caught(build) == []
