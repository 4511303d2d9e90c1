"""Native reductions hold to the interpreter's semantics (found by test_llvm_differential.py)."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

EXTREMA = {"max": lambda x: gc.max(x, axis=0), "argmax": lambda x: gc.argmax(x, axis=0),
           "min-all": gc.min, "argmin-all": gc.argmin}


@pytest.mark.parametrize("name", EXTREMA)
@pytest.mark.parametrize("shape", [(0, 3), (0, 0)])
def test_extremum_of_nothing_is_a_shape_error(backend, name: str, shape) -> None:
    """Like NumPy, even when nothing is kept ((0, 0) along axis 0). It used to be a bare
    ValueError in the interpreter, and the native max returned an empty array for (0, 0)."""
    x = gc.placeholder((None, None), "float32")
    f = gc.compile([x], EXTREMA[name](x), backend=backend)
    with pytest.raises(gc.ShapeError, match=name.split("-")[0]):
        f(np.zeros(shape, "float32"))


@pytest.mark.parametrize("name", EXTREMA)
def test_extremum_keeping_nothing_of_something(backend, name: str) -> None:
    x = gc.placeholder((None, None), "float32")
    f = gc.compile([x], EXTREMA[name](x), backend=backend)
    if name.endswith("-all"):
        with pytest.raises(gc.ShapeError):
            f(np.zeros((3, 0), "float32"))
    else:
        assert f(np.zeros((3, 0), "float32")).shape == (0,)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name, fn", [("sum of x - x", lambda x: gc.sum(x - x, axis=1)),
                                      ("prod of x / x", lambda x: gc.prod(x / x, axis=1))])
def test_nan_from_a_fused_operand_reaches_the_sum(dtype: str, name: str, fn) -> None:
    """The accumulation's fast-math flags let LLVM fold sum(x - x) to 0 for float64, NaN and
    infinities in x notwithstanding (reassoc with nsz: acc + (x - x) -> acc); reassoc alone
    still vectorizes the sum."""
    x = gc.placeholder((2, 4), dtype)
    feed = np.array([[1, np.nan, 2, 0], [3, 4, np.inf, 5]], dtype)
    with np.errstate(all="ignore"):
        expected = gc.compile([x], fn(x))(feed)
    np.testing.assert_array_equal(gc.compile([x], fn(x), backend="llvm")(feed), expected)
    assert np.isnan(expected).all()
