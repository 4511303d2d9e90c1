"""The entry-function runner: pointer tables, status codes, and the GIL released during a call."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from backends.llvm import call, jit
from tests.llvm_modules import GATHER_ERROR, add_module, gather_module, spin_module


def entry(module, **counts) -> call.EntryFunction:
    library = jit.load_object(jit.compile_object(module), ["entry"])
    return call.EntryFunction(library["entry"], keepalive=library, **counts)


@pytest.fixture(scope="module")
def add_entry() -> call.EntryFunction:
    return entry(add_module(), inputs=2, variables=1, outputs=2, dims=1)


@pytest.fixture(scope="module")
def gather_entry() -> call.EntryFunction:
    return entry(gather_module(), inputs=2, variables=0, outputs=1, dims=2)


def test_repeated_calls_with_new_and_reused_buffers(add_entry) -> None:
    rng = np.random.default_rng(0)
    v = np.zeros(64, np.float32)
    expected_v = v.copy()
    arena = np.empty(64, np.float32)
    out0, out1 = np.empty(64, np.float32), np.empty(64, np.float32)
    for step in range(4):
        n = 64 if step % 2 == 0 else 33  # a smaller last batch runs the same code
        x, y = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
        if step == 3:
            out0, out1 = np.empty(64, np.float32), np.empty(64, np.float32)  # new outputs
        assert add_entry([x, y], [v], [out0, out1], arena, [n]) == 0
        expected_v[:n] += x * y
        np.testing.assert_array_equal(v, expected_v)
        np.testing.assert_allclose(out0[:n], x + np.exp(y), rtol=1e-6)
        np.testing.assert_array_equal(out1[:n], expected_v[:n])


def test_status_code_of_a_failing_call(gather_entry) -> None:
    table = np.arange(10, dtype=np.float32) * 10
    out = np.full(4, -1, np.float32)
    assert gather_entry([table, np.array([3, 0, 9, 2])], [], [out], None, [4, 10]) == 0
    np.testing.assert_array_equal(out, [30, 0, 90, 20])
    out[:] = -1
    bad = np.array([1, 2, 10, 4])  # index 10 is out of range: the code stops there
    assert gather_entry([table, bad], [], [out], None, [4, 10]) == GATHER_ERROR
    np.testing.assert_array_equal(out, [10, 20, -1, -1])
    assert gather_entry([table, np.array([-1])], [], [out], None, [1, 10]) == GATHER_ERROR


def test_wrong_counts_raise(gather_entry) -> None:
    table, indices, out = np.zeros(2, np.float32), np.zeros(1, np.int64), np.zeros(1, np.float32)
    with pytest.raises(ValueError, match=r"expected .* = \(2, 0, 1, 2\), got \(1, 0, 1, 2\)"):
        gather_entry([table], [], [out], None, [1, 2])
    with pytest.raises(ValueError, match=r"got \(2, 0, 1, 1\)"):
        gather_entry([table, indices], [], [out], None, [1])


@pytest.mark.parametrize("array", [
    np.arange(6, dtype=np.float32),
    np.arange(6, dtype=np.float64).reshape(2, 3),
    np.zeros(0, np.float32),
    np.arange(6, dtype=np.int64)[2:],
], ids=["float32", "2-d", "empty", "offset-view"])
def test_data_address(array: np.ndarray) -> None:
    assert call.data_address(array) == array.ctypes.data
    frozen = array.copy()
    frozen.flags.writeable = False
    assert call.data_address(frozen) == frozen.ctypes.data


def test_the_gil_is_released_during_a_native_call() -> None:
    spin = entry(spin_module(), inputs=0, variables=0, outputs=1, dims=1)
    out = np.zeros(1)
    stop, seen = threading.Event(), []

    def count() -> None:
        while not stop.is_set():
            seen.append(time.perf_counter())

    counter = threading.Thread(target=count)
    counter.start()
    try:
        time.sleep(0.01)
        started = time.perf_counter()
        assert spin([], [], [out], None, [60_000_000]) == 0
        finished = time.perf_counter()
    finally:
        stop.set()
        counter.join()
    assert out[0] == pytest.approx(1000.0)  # the fixed point of x = 0.999·x + 1
    # NOTE: only the middle of the call counts: around its start and end the interpreter may
    # switch threads (every 5 ms) whether or not the call releases the GIL.
    margin = (finished - started) / 4
    assert margin > 0.02, "the native loop was too short to tell"
    during = sum(started + margin < t < finished - margin for t in seen)
    assert during > 1000, f"only {during} Python steps ran in the middle of the native call"
