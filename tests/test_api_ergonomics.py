"""Everyday API corners (issue 11, item 13): keyword inputs, updates=None, NumPy and Python
asking a graph Tensor for a value, dir(gc), graphc --version."""
from __future__ import annotations

import math
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

import graphc as gc

ROOT = Path(__file__).resolve().parents[1]


def two_inputs(backend: str = "numpy"):
    x = gc.placeholder((None, 2), "float64", name="x")
    y = gc.placeholder((None, 2), "float64", name="y")
    return x, y, gc.compile([x, y], x - 2 * y, backend=backend)


def test_inputs_by_keyword(backend: str) -> None:
    x, y, f = two_inputs(backend)
    a, b = np.arange(4.0).reshape(2, 2), np.ones((2, 2))
    np.testing.assert_array_equal(f(x=a, y=b), a - 2 * b)
    np.testing.assert_array_equal(f(y=b, x=a), a - 2 * b)
    np.testing.assert_array_equal(f(a, y=b), a - 2 * b)


@pytest.mark.parametrize("call, message", [
    (lambda f, a: f(x=a, z=a), "no input named 'z'; the inputs are x, y"),
    (lambda f, a: f(a, x=a), "input 'x' is given twice"),
    (lambda f, a: f(x=a), "missing 'y'"),
    (lambda f, a: f(a, a, y=a), "given twice"),
])
def test_keyword_mistakes_raise_feed_errors(call, message: str) -> None:
    _, _, f = two_inputs()
    with pytest.raises(gc.FeedError, match=message):
        call(f, np.ones((2, 2)))


def test_unnamed_inputs_are_positional_only() -> None:
    x = gc.placeholder((2,), "float64")
    y = gc.placeholder((2,), "float64", name="y")
    f = gc.compile([x, y], x * y)
    np.testing.assert_array_equal(f(np.ones(2), y=np.full(2, 3.0)), [3.0, 3.0])
    with pytest.raises(gc.FeedError, match=r"missing 'input 0'.*input 0 \(unnamed\), y"):
        f(y=np.ones(2))


def test_updates_none_means_no_updates() -> None:
    v = gc.variable(np.ones(2), name="v")
    f = gc.compile([], v * 2, updates=None)
    np.testing.assert_array_equal(f(), [2.0, 2.0])
    np.testing.assert_array_equal(v.value, [1.0, 1.0])


@pytest.mark.parametrize("use, suggestion", [
    (lambda t: np.mean(t), "use gc.mean(...)"),
    (lambda t: np.sum(t, axis=0), "use gc.sum(...)"),
    (lambda t: np.concatenate([t, t]), "use gc.concatenate(...)"),
    (lambda t: np.exp(t), "use gc.exp(...)"),
    (lambda t: np.asarray(t), "numpy.asarray of"),
    (lambda t: np.array([t, t]), "numpy.asarray of"),
    (lambda t: float(gc.sum(t)), "float() of"),
    (lambda t: int(gc.sum(t)), "int() of"),
    (lambda t: math.exp(gc.sum(t)), "float() of"),
    (lambda t: range(gc.sum(t)), "an index value of"),
    (lambda t: np.add(np.ones((2, 2)), t, out=np.ones((2, 2))), "cannot write into an array"),
], ids=["mean", "sum", "concatenate", "exp", "asarray", "array", "float", "int", "math",
        "range", "out"])
def test_asking_a_tensor_for_a_value_says_what_to_do(use, suggestion: str) -> None:
    t = gc.placeholder((2, 2), "float64", name="t")
    with pytest.raises(gc.GraphError, match="no value until a compiled function computes it"
                       ) as info:
        use(t)
    assert suggestion in str(info.value) and "gc.compile(inputs, outputs)" in str(info.value)


@pytest.mark.parametrize("expression, expected", [
    (lambda a, t: a * t, lambda a, v: a * v), (lambda a, t: a - t, lambda a, v: a - v),
    (lambda a, t: a / t, lambda a, v: a / v), (lambda a, t: a @ t, lambda a, v: a @ v),
    (lambda a, t: a ** t, lambda a, v: a ** v), (lambda a, t: a < t, lambda a, v: a < v),
    (lambda a, t: a == t, lambda a, v: a == v), (lambda a, t: np.float64(2) * t,
                                                 lambda a, v: 2 * v),
], ids=["mul", "sub", "div", "matmul", "pow", "less", "equal", "scalar"])
def test_numpy_operators_with_a_tensor_build_nodes(expression, expected) -> None:
    t = gc.placeholder((2, 2), "float64", name="t")
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    out = expression(a, t)
    assert isinstance(out, gc.Tensor)
    value = np.array([[0.5, 1.0], [2.0, 4.0]])
    np.testing.assert_array_equal(gc.compile([t], out)(value), expected(a, value))


def test_dir_lists_the_public_api_with_lazy_modules() -> None:
    names = dir(gc)
    for public in ("nn", "optim", "train", "losses", "data", "testing", "passes", "save", "load",
                   "parse", "render", "compile", "grad", "placeholder", "mean", "GraphcError"):
        assert public in names, public
    for private in ("importlib", "annotations", "tensor", "ops", "registry", "interop"):
        assert private not in names, private
    assert all(hasattr(gc, name) for name in names)


def test_version_on_the_command_line_and_in_python() -> None:
    result = subprocess.run([sys.executable, "-m", "frontends.cli", "--version"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout == f"graphc {version('graphc')}\n"
    assert gc.__version__ == version("graphc")
