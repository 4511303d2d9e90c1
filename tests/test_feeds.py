"""Feeds: lists and scalars converted without wrap-around, ragged lists refused, never written."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

# (input dtype, input shape, what is fed, words the FeedError message holds)
REFUSED = {
    "int32-wraps": ("int32", (None,), [2**32 + 1, 5], ["4294967297", "int32"]),
    "int32-negative-wraps": ("int32", (2,), [0, -2**31 - 1], ["-2147483649", "position (1,)"]),
    "int64-huge": ("int64", (None,), [2**70], ["'q'", "very large integers"]),
    "int64-from-uint64": ("int64", (None,), [2**63], ["9223372036854775808", "int64"]),
    "int32-scalar": ("int32", (), 2**40, ["1099511627776", "int32"]),
    "float32-overflow": ("float32", (None,), [1.0, 1e39], ["1e+39", "float32"]),
    "ragged": ("int32", (None, None), [[1, 2], [3]], ["'q'", "rectangular"]),
    "ragged-arrays": ("float32", (2, None), [np.ones(2), np.ones(3)], ["rectangular"]),
    "none": ("float32", (None,), [1.0, None], ["'q'", "None"]),
    "strings": ("float32", (None,), ["1.0"], ["'q'", "<U3"]),
    "float-into-int": ("int64", (None,), [1.5], ["float64", "int64"]),
    "complex": ("float64", (), 1j, ["complex128"]),
    "tensor": ("float32", (3,), gc.constant(np.ones(3, np.float32)), ["graph Tensor"]),
}


@pytest.mark.parametrize("name", REFUSED)
def test_a_feed_that_would_change_or_cannot_be_an_array_raises(name, backend) -> None:
    dtype, shape, fed, words = REFUSED[name]
    q = gc.placeholder(shape, dtype, name="q")
    calls = gc.variable(np.zeros((), np.int64), name="calls")
    f = gc.compile([q], q * 1, updates=[(calls, calls + 1)], backend=backend)
    with pytest.raises(gc.FeedError) as info:
        f(fed)
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)
    assert int(calls.value) == 0


@pytest.mark.parametrize("dtype, fed, want", [
    ("int32", [2**31 - 1, -2**31], np.array([2**31 - 1, -2**31], np.int32)),
    ("int32", [True, 2], np.array([1, 2], np.int32)),
    ("float32", [1, 2.5, float("inf"), float("nan")], np.array([1, 2.5, np.inf, np.nan], "f4")),
    ("float32", [3.4e38, -1e-50], np.array([3.4e38, -0.0], np.float32)),
    ("float64", [[1, 2], [3, 4]], np.array([[1.0, 2.0], [3.0, 4.0]])),
    ("int64", np.int64(7), np.array(7)),
    ("bool", [True, False], np.array([True, False])),
])
def test_lists_and_scalars_that_fit_are_converted(dtype, fed, want, backend) -> None:
    q = gc.placeholder((None,) * np.ndim(want), dtype, name="q")
    got = gc.compile([q], [q], backend=backend)(fed)[0]
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
