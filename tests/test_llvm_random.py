"""Native random draws are the interpreter's, bit for bit (the splitmix64 spec)."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("draw", ["uniform", "normal"])
def test_native_draws_equal_the_interpreters_bit_for_bit(draw: str, dtype: str) -> None:
    state = gc.random_state(20261201)
    x = gc.placeholder((None, 37), dtype, name="x")
    fn = {"uniform": gc.random_uniform_like, "normal": gc.random_normal_like}[draw]
    shaped = {"uniform": gc.random_uniform, "normal": gc.random_normal}[draw]
    outputs = [fn(x, state, stream=3), shaped((5, 7), state, dtype=dtype, stream=1)]
    updates = [(state, gc.next_random_state(state))]
    feeds = np.zeros((1001, 37), dtype)
    native = gc.compile([x], outputs, updates=updates, backend="llvm")
    before = state.value.copy()
    first = native(feeds)
    state.value = before
    reference = gc.compile([x], outputs, updates=updates)(feeds)
    for got, want in zip(first, reference):
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    assert state.value[1] == before[1] + 1


def test_the_spec_log_and_cos_are_accurate() -> None:
    from graphc.ops.random_bits import cos_turn, log_unit
    u = np.arange(1, 1 << 18, dtype=np.float64) / (1 << 18)
    np.testing.assert_allclose(log_unit(u), np.log(u), rtol=6e-16, atol=0)   # about 3 ulp
    np.testing.assert_allclose(cos_turn(u), np.cos(2 * np.pi * u), rtol=0, atol=2e-15)
