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
