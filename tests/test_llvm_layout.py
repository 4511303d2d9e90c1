"""Native layout kernels hold to the interpreter's semantics (found by the differential test)."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc


@pytest.mark.parametrize("value", [-1.0, 2.5, 0.0, 1.0])
def test_bool_padded_with_any_true_value_holds_true(backend, value: float) -> None:
    """Native code stored the pad value -1.0 of a bool tensor as the byte 255, which
    logical_not turned into 254 (true) and a cast into 255.0."""
    x = gc.placeholder((2,), "bool")
    padded = gc.pad(x, 1, value)
    f = gc.compile([x], [padded, gc.logical_not(padded), gc.cast(padded, "float32")],
                   backend=backend)
    expected = np.pad(np.array([True, False]), 1, constant_values=value)
    got = f(np.array([True, False]))
    np.testing.assert_array_equal(got[0], expected)
    np.testing.assert_array_equal(got[1], ~expected)
    np.testing.assert_array_equal(got[2], expected.astype("float32"))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 2.0 ** 31])
def test_an_int_pad_value_must_fit_the_dtype(value: float) -> None:
    """It was NumPy's bare ValueError or OverflowError in the interpreter, a wrapped value
    (or a ValueError while compiling) in native code."""
    x = gc.placeholder((2,), "int32")
    with pytest.raises(gc.DTypeError, match="pad value"):
        gc.pad(x, 1, value)


def test_int_pad_values_truncate_as_numpy_does(backend) -> None:
    x = gc.placeholder((2,), "int32")
    f = gc.compile([x], [gc.pad(x, 1, 2.5), gc.pad(x, 1, -2.5)], backend=backend)
    got = f(np.array([7, 8], "int32"))
    np.testing.assert_array_equal(got[0], [2, 7, 8, 2])
    np.testing.assert_array_equal(got[1], [-2, 7, 8, -2])
