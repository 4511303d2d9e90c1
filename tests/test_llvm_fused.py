"""Native fused groups hold to the interpreter's semantics (found by test_llvm_differential.py)."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

X = np.array([[0.5, -1.0, 2.0], [1.5, -3.0, np.nan], [1.5, 0.0, -2.0]], "float32")


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@pytest.mark.parametrize("axis", [0, 1, None])
def test_argmax_prologue(op: str, axis) -> None:
    """An elementwise producer fused into an argmax (a prologue) used to crash the lowering,
    which read the attributes of a sum (KeyError: 'axes')."""
    x = gc.placeholder((None, 3), "float32")
    y = gc.exp(x) * 2 - 1
    fn = getattr(gc, op)
    f = gc.compile([x], [fn(y, axis=axis), y], backend="llvm")
    assert any(s.name.endswith("fused_prologue") for s in f.plan.steps)
    index, stored = f(X)
    expected = np.exp(X) * np.float32(2) - np.float32(1)
    np.testing.assert_array_equal(index, getattr(np, op)(expected, axis=axis))
    np.testing.assert_allclose(stored, expected, rtol=1e-6)     # exp: within an ulp or two


@pytest.mark.parametrize("op", ["argmax", "max"])
def test_prologue_failure_names_its_reduction(op: str) -> None:
    x = gc.placeholder((None, 3), "float32")
    f = gc.compile([x], getattr(gc, op)(gc.sin(x) + 1, axis=0), backend="llvm")
    with pytest.raises(gc.ShapeError, match=f"^{op} "):
        f(np.zeros((0, 3), "float32"))


def test_group_mixing_dtypes_around_a_shared_constant() -> None:
    """rsqrt (1 / sqrt(x), float32) and sign (selecting 1, float64) fused in one loop share
    the weak constant 1: the group used to fail to build (select of float and double)."""
    a, b = gc.placeholder((3,), "float32"), gc.placeholder((3,), "float64")
    y = gc.cast(gc.rsqrt(a), "float64") + gc.sign(b)
    feeds = np.array([1, 4, 9], "float32"), np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(gc.compile([a, b], y, backend="llvm")(*feeds),
                                  gc.compile([a, b], y)(*feeds))
