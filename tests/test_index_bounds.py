"""Indices out of range raise gc.IndexRangeError naming the op, the index, the range and the line.

gc.take and gc.take_along_axis follow NumPy (an index -k counts from the end); class labels,
one_hot and embedding ids must lie in [0, n).
"""
from __future__ import annotations

import inspect
import os

import numpy as np
import pytest

import graphc as gc

HERE = os.path.basename(__file__)


def logits_and_labels(dtype="int64"):
    return gc.placeholder((None, 3), "float32", name="logits"), gc.placeholder((None,), dtype)


def ce(labels_dtype="int64"):
    logits, y = logits_and_labels(labels_dtype)
    return [logits, y], gc.losses.cross_entropy(logits, y)


def nll():
    logits, y = logits_and_labels()
    return [logits, y], gc.losses.nll(gc.log_softmax(logits), y)


def hinge():
    logits, y = logits_and_labels()
    return [logits, y], gc.losses.multiclass_hinge(logits, y)


def take(axis=0):
    x, i = gc.placeholder((5, 2), "float32", name="x"), gc.placeholder((None,), "int64")
    return [x, i], gc.take(x, i, axis=axis)


def take_grad():
    x, i = gc.placeholder((5, 2), "float32", name="x"), gc.placeholder((None,), "int64")
    return [x, i], gc.grad(gc.sum(gc.take(x, i) ** 2), x)


def along():
    x, i = gc.placeholder((2, 4), "float32", name="x"), gc.placeholder((2, 1), "int32")
    return [x, i], gc.take_along_axis(x, i, axis=1)


def one_hot():
    i = gc.placeholder((None,), "int64", name="i")
    return [i], gc.one_hot(i, 3)


def embedding():
    i = gc.placeholder((None,), "int64", name="ids")
    return [i], gc.nn.Embedding(7, 2, seed=0)(i)


LOGITS = np.zeros((2, 3), np.float32)
X5, X24 = np.ones((5, 2), np.float32), np.ones((2, 4), np.float32)
# (graph builder, feeds, words the message holds, the op first[, builder's keywords]); every
# builder builds its nodes on its last line.
CASES = {
    "cross_entropy-label-3-of-3": (ce, [LOGITS, np.array([0, 3])],
                                   ["take_along_axis", "3", "[0, 3)"]),
    "cross_entropy-label--1": (ce, [LOGITS, np.array([-1, 0])],
                               ["take_along_axis", "-1", "[0, 3)"]),
    "cross_entropy-int32-label": (ce, [LOGITS, np.array([1, 9], "int32")],
                                  ["take_along_axis", "9", "[0, 3)"],
                                  {"labels_dtype": "int32"}),
    "nll-label-3": (nll, [LOGITS, np.array([3, 0])], ["take_along_axis", "3", "[0, 3)"]),
    "multiclass_hinge-label--1": (hinge, [LOGITS, np.array([0, -1])],
                                  ["take_along_axis", "-1", "[0, 3)"]),
    "take-5-of-5": (take, [X5, np.array([0, 5])], ["take", "5", "[-5, 5)"]),
    "take--6-of-5": (take, [X5, np.array([-6])], ["take", "-6", "[-5, 5)"]),
    "take-axis-1": (take, [X5, np.array([2])], ["take", "2", "[-2, 2)"], {"axis": 1}),
    "take-gradient": (take_grad, [X5, np.array([7])], ["take", "7"]),
    "take_along_axis-4": (along, [X24, np.array([[0], [4]], "int32")],
                          ["take_along_axis", "4", "[-4, 4)"]),
    "take_along_axis--5": (along, [X24, np.array([[-5], [0]], "int32")],
                           ["take_along_axis", "-5"]),
    "one_hot-3-of-3": (one_hot, [np.array([3])], ["one_hot", "3", "[0, 3)"]),
    "one_hot--1": (one_hot, [np.array([0, -1])], ["one_hot", "-1", "[0, 3)"]),
    "embedding-7-of-7": (embedding, [np.array([7])], ["take", "7", "[0, 7)"]),
    "embedding--1": (embedding, [np.array([-1])], ["take", "-1", "[0, 7)"]),
}


@pytest.mark.parametrize("name", CASES)
def test_an_index_out_of_range_names_the_op_the_index_and_the_line(name, backend) -> None:
    build, feeds, words, *keywords = CASES[name]
    inputs, out = build(**(keywords[0] if keywords else {}))
    f = gc.compile(inputs, out, backend=backend)
    with pytest.raises(gc.GraphcError) as info:
        f(*feeds)
    message = str(info.value)
    assert type(info.value) is gc.IndexRangeError and words[0] in message, message
    lines, first = inspect.getsourcelines(build)
    assert f"{HERE}:{first + len(lines) - 1}" in message, message
    for word in words:
        assert word in message, (word, message)


@pytest.mark.parametrize("path", ["native", "python"])
def test_native_code_raises_the_interpreters_index_error(path, monkeypatch) -> None:
    """On either native call path (the builtin, or the Python one where the C API is not
    found) an index out of range raises the interpreter's very error, inside a scan's body
    too, and assigns no variable."""
    if path == "python":
        monkeypatch.setattr("backends.llvm.native_call.available", lambda: False)
    tokens = gc.placeholder((None, 3), "int64", name="tokens")
    table = gc.variable(np.arange(40, dtype=np.float32).reshape(10, 4), name="table")
    h0 = gc.placeholder((tokens.shape[0], 4), "float32", name="h0")

    def step(h, token):
        return gc.tanh(h + gc.take(table, token, axis=0)), None
    final, _ = gc.scan(step, h0, gc.transpose(tokens, (1, 0)))
    loss = gc.sum(final)
    updates = [(table, table - 0.1 * gc.grad(loss, table))]
    feeds = [np.zeros((2, 4), np.float32), np.array([[1, 2, 3], [4, 50, 6]])]
    messages = []
    for backend in ("numpy", "llvm"):
        f = gc.compile([h0, tokens], [loss], updates, backend=backend)
        before = table.value.copy()
        with pytest.raises(gc.IndexRangeError) as info:
            f(*feeds)
        np.testing.assert_array_equal(table.value, before)
        messages.append(str(info.value))
    assert messages[0] == messages[1] and "index 50" in messages[1]


def test_labels_in_range_still_score() -> None:
    inputs, out = ce()
    logits = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 5.0]], np.float32)
    got = gc.compile(inputs, out)(logits, np.array([2, 0]))
    want = np.log(np.exp(logits).sum(1)) - logits[[0, 1], [2, 0]]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_numpy_style_negative_indices_still_count_from_the_end() -> None:
    inputs, out = take()
    x = np.arange(10, dtype=np.float32).reshape(5, 2)
    np.testing.assert_array_equal(gc.compile(inputs, out)(x, np.array([-1, -5, 4])),
                                  x[[-1, -5, 4]])
    inputs, out = along()
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    idx = np.array([[-1], [-4]], "int32")
    np.testing.assert_array_equal(gc.compile(inputs, out)(x, idx),
                                  np.take_along_axis(x, idx, axis=1))


def test_empty_indices_are_in_range() -> None:
    inputs, out = embedding()
    assert gc.compile(inputs, out)(np.zeros(0, np.int64)).shape == (0, 2)
