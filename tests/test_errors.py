"""User mistakes raise gc.GraphcError subclasses naming the op, the shapes and the user's line."""
from __future__ import annotations

import inspect
import os

import numpy as np
import pytest

import graphc as gc

HERE = os.path.basename(__file__)


def here() -> str:
    """'test_errors.py:<line>' of the caller's next line, as error messages show it."""
    return f"{HERE}:{inspect.currentframe().f_back.f_lineno + 1}"


def test_matmul_shape_error_names_both_shapes_and_the_line() -> None:
    x = gc.placeholder((2, 3), "float32", name="x")
    W = gc.placeholder((4, 5), "float32", name="W")
    with pytest.raises(gc.ShapeError) as info:
        where = here()
        x @ W
    message = str(info.value)
    assert "matmul" in message and "(2, 3)" in message and "(4, 5)" in message
    assert where in message


X = gc.placeholder((2, 3), "float32", name="X")
I = gc.placeholder((2,), "int64", name="I")  # noqa: E741
# (mistake, error class, words the message must hold); each is built on its own line here.
MISTAKES = {
    "add": (lambda: X + gc.placeholder((4,)), gc.ShapeError, ["add", "(2, 3)", "(4,)"]),
    "where": (lambda: gc.where(X > 0, X, gc.placeholder((3, 1))), gc.ShapeError, ["where"]),
    "reshape": (lambda: gc.reshape(X, (4, 2)), gc.ShapeError, ["reshape", "(2, 3)", "(4, 2)"]),
    "reshape-method": (lambda: X.reshape(5), gc.ShapeError, ["reshape", "(2, 3)", "(5,)"]),
    "transpose": (lambda: gc.transpose(X, (0, 0)), gc.ShapeError, ["transpose", "(0, 0)"]),
    "sum-axis": (lambda: gc.sum(X, axis=2), gc.ShapeError, ["sum", "axis 2", "rank 2"]),
    "mean-repeated-axis": (lambda: gc.mean(X, axis=(0, -2)), gc.ShapeError, ["mean", "repeated"]),
    "argmax-axis": (lambda: gc.argmax(X, axis=-3), gc.ShapeError, ["argmax", "axis -3"]),
    "softmax-axis": (lambda: gc.softmax(X, axis=2), gc.ShapeError, ["softmax", "axis 2"]),
    "scalar-axis": (lambda: gc.sum(gc.placeholder(()), axis=0), gc.ShapeError, ["sum", "rank 0"]),
    "squeeze": (lambda: gc.squeeze(X, 0), gc.ShapeError, ["squeeze", "(2, 3)"]),
    "concatenate": (lambda: gc.concatenate([X, gc.placeholder((3, 3))], axis=1), gc.ShapeError,
                    ["concatenate", "(2, 3)", "(3, 3)"]),
    "stack": (lambda: gc.stack([X, gc.placeholder((3, 2))]), gc.ShapeError,
              ["stack", "(2, 3)", "(3, 2)"]),
    "split": (lambda: gc.split(X, 2, axis=1), gc.ShapeError, ["split", "3", "2"]),
    "index-out-of-bounds": (lambda: X[2], gc.ShapeError, ["index 2", "size 2"]),
    "too-many-indices": (lambda: X[0, 0, 0], gc.ShapeError, ["too many indices", "(2, 3)"]),
    "pad": (lambda: gc.pad(X, ((1, 1),)), gc.ShapeError, ["pad", "(2, 3)"]),
    "broadcast_to": (lambda: gc.broadcast_to(X, (3, 3)), gc.ShapeError, ["broadcast_to"]),
    "take_along_axis": (lambda: gc.take_along_axis(X, I, axis=1), gc.ShapeError,
                        ["take_along_axis", "(2,)", "(2, 3)"]),
    "matmul-scalar": (lambda: gc.matmul(X, 2.0), gc.ShapeError, ["matmul", "(2, 3)"]),
    "dot-rank": (lambda: gc.dot(gc.placeholder((2, 2, 2)), X), gc.ShapeError, ["dot", "(2, 2, 2)"]),
    "logical-float": (lambda: gc.logical_and(X, X), gc.DTypeError, ["logical_and", "float32"]),
    "take-float-indices": (lambda: gc.take(X, X), gc.DTypeError, ["take", "float32"]),
    "one_hot-float": (lambda: gc.one_hot(X, 3), gc.DTypeError, ["one_hot", "float32"]),
    "cast-unsupported": (lambda: gc.cast(X, "complex64"), gc.DTypeError, ["cast", "complex64"]),
    "placeholder-dtype": (lambda: gc.placeholder((2,), "float16"), gc.DTypeError, ["float16"]),
    "matmul-bool": (lambda: gc.matmul(X > 0, X > 0), gc.DTypeError, ["matmul", "bool"]),
    "logsumexp-int": (lambda: gc.logsumexp(I), gc.DTypeError, ["logsumexp", "int64"]),
}
MISTAKE_LINES = {name: inspect.getsourcelines(fn)[1] for name, (fn, _, _) in MISTAKES.items()}


@pytest.mark.parametrize("name", MISTAKES)
def test_build_errors_name_the_op_the_shapes_and_the_line(name) -> None:
    build, error, words = MISTAKES[name]
    with pytest.raises(error) as info:
        build()
    message = str(info.value)
    for word in words:
        assert word in message
    assert f"{HERE}:{MISTAKE_LINES[name]}" in message
    assert isinstance(info.value, gc.GraphcError)


def test_a_tensor_has_no_truth_value() -> None:
    with pytest.raises(gc.GraphError, match="gc.where"):
        if X > 0:
            pass


def fed(name="x", shape=(None, 3), dtype="float32"):
    """A compiled x * 2 that also bumps a counter variable, to see whether anything ran."""
    x = gc.placeholder(shape, dtype, name=name)
    calls = gc.variable(np.zeros((), "int64"), name="calls")
    return gc.compile([x], x * 2, updates=[(calls, calls + 1)]), x, calls


@pytest.mark.parametrize("feed, words", [
    (np.ones((4, 2), "float32"), ["got shape (4, 2)", "axis 1 must be 3"]),
    (np.ones((4,), "float32"), ["got shape (4,)"]),
    (np.ones((4, 3), "float64"), ["float64", "astype('float32')"]),
    (np.ones((4, 3), "int64"), ["int64"]),
    (np.ones((4, 3, 1), "float32"), ["got shape (4, 3, 1)"]),
])
def test_a_wrong_feed_raises_before_anything_runs(feed, words) -> None:
    f, x, calls = fed()
    with pytest.raises(gc.FeedError) as info:
        f(feed)
    message = str(info.value)
    assert "'x'" in message and str(x.type) in message
    for word in words:
        assert word in message
    assert int(calls.value) == 0
    f(np.ones((4, 3), "float32"))
    assert int(calls.value) == 1


def test_inputs_sharing_a_named_dim_must_agree() -> None:
    a = gc.placeholder(("Nerr", 3), "float32", name="a")
    b = gc.placeholder(("Nerr",), "float32", name="b")
    counter = gc.variable(np.zeros(()), name="counter")
    f = gc.compile([a, b], gc.sum(a, axis=1) + b, updates=[(counter, counter + 1)])
    f(np.ones((5, 3), "float32"), np.ones(5, "float32"))
    with pytest.raises(gc.FeedError) as info:
        f(np.ones((5, 3), "float32"), np.ones(4, "float32"))
    message = str(info.value)
    assert "'a'" in message and "'b'" in message and "Nerr=5" in message and "Nerr=4" in message
    assert float(counter.value) == 1.0


def test_the_number_of_feeds_must_match() -> None:
    f, _, calls = fed()
    with pytest.raises(gc.FeedError, match="expected 1 inputs"):
        f(np.ones((2, 3), "float32"), np.ones(3))
    assert int(calls.value) == 0


def test_compile_errors() -> None:
    x = gc.placeholder((3,), "float32", name="x")
    with pytest.raises(gc.CompileError, match="nope"):
        gc.compile([x], x * 2, backend="nope")
    other = gc.placeholder((3,), "float32", name="other")
    with pytest.raises(gc.GraphError, match="other"):
        gc.compile([x], x * other)
    with pytest.raises(gc.GraphError, match="placeholders"):
        gc.compile([x * 2], x)
    W = gc.variable(np.zeros(3, "float32"), name="W")
    with pytest.raises(gc.GraphError, match="W"):
        gc.compile([x], [], updates=[(W, gc.cast(x, "float64"))])
    with pytest.raises(gc.GraphError, match="twice"):
        gc.compile([x], [], updates=[(W, x), (W, x * 2)])
    with pytest.raises(gc.GraphError, match="variable"):
        gc.compile([x], [], updates=[(x, x * 2)])


def test_assigning_a_variable_the_wrong_shape_raises() -> None:
    W = gc.variable(np.zeros((2, 3), "float32"), name="W")
    with pytest.raises(gc.ShapeError, match="W"):
        W.value = np.zeros((3, 2))
    W.value = np.ones((2, 3))
    assert W.value.dtype == np.float32
