"""Compiled functions called from several threads, and graphs parsed concurrently."""
from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

import graphc as gc


@pytest.fixture(autouse=True)
def frequent_switches():
    """Switch threads every microsecond, so that races show within a few hundred calls."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def run_threads(work, args) -> list:
    """work(arg) in one thread per arg; the exceptions they raised."""
    errors: list = []

    def guarded(arg):
        try:
            work(arg)
        except Exception as exc:   # NOTE: reported by the test, not lost in the thread
            errors.append(exc)
    threads = [threading.Thread(target=guarded, args=(arg,)) for arg in args]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def conv_reference(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """A 'valid' 2-D cross-correlation, one output position at a time."""
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    out = np.zeros((n, o, h - kh + 1, wd - kw + 1), x.dtype)
    for i in range(h - kh + 1):
        for j in range(wd - kw + 1):
            out[:, :, i, j] = np.einsum("nchw,ochw->no", x[:, :, i:i + kh, j:j + kw], w)
    return out


def test_four_threads_with_different_batch_sizes_get_every_result_right(backend) -> None:
    x = gc.placeholder((None, 1, 5, 5), "float64", name="x")
    W = gc.variable(np.random.default_rng(0).standard_normal((2, 1, 3, 3)), name="W")
    features = gc.conv2d(x, W)                                  # (n, 2, 3, 3)
    flat = gc.reshape(features, (x.shape[0], 18))               # a shape bound per call
    out = gc.tanh(flat) * 2.0 + gc.broadcast_to(gc.sum(flat, axis=1, keepdims=True),
                                                (x.shape[0], 18))
    f = gc.compile([x], [out, gc.sum(out)], backend=backend)
    calls, wrong = {}, []

    def work(n: int) -> None:
        rng = np.random.default_rng(n)
        for _ in range(250):
            data = rng.standard_normal((n, 1, 5, 5))
            got, total = f(data)
            ref = conv_reference(data, W.value).reshape(n, 18)
            want = np.tanh(ref) * 2.0 + ref.sum(axis=1, keepdims=True)
            if got.shape != want.shape or not np.allclose(got, want, rtol=1e-10, atol=1e-10) \
                    or not np.isclose(total, want.sum(), rtol=1e-10, atol=1e-9):
                wrong.append((n, got.shape))
            calls[n] = calls.get(n, 0) + 1
    assert run_threads(work, [1, 2, 3, 6]) == []
    assert wrong == [] and sum(calls.values()) == 1000


def test_concurrent_steps_lose_no_update(backend) -> None:
    counter = gc.variable(np.zeros(2, np.int64), name="counter")
    total = gc.variable(np.zeros((), np.float64), name="total")
    x = gc.placeholder((None,), "float64", name="x")
    step = gc.compile([x], gc.sum(x), backend=backend,
                      updates=[(counter, counter + 1), (total, total + gc.sum(x))])
    read = gc.compile([], [counter * 1, total * 1], backend=backend)
    torn = []

    def work(n: int) -> None:
        for _ in range(200):
            step(np.ones(n))
            seen_counter, _ = read()
            if seen_counter[0] != seen_counter[1]:
                torn.append(seen_counter)
    assert run_threads(work, [1, 2, 3, 4]) == []
    np.testing.assert_array_equal(counter.value, [800, 800])
    assert float(total.value) == 200 * (1 + 2 + 3 + 4)
    assert torn == []


def test_concurrent_parses_give_the_same_graph() -> None:
    x = gc.placeholder((None, 4), "float32", name="x")
    W = gc.variable(np.ones((4, 3), np.float32), name="W")
    y = gc.tanh(x @ W * 2.0 + 1.0) * 3.0 - 0.5
    text = str(gc.Graph([x], [gc.mean(y * 2.0 + 1.0)]))
    want = str(gc.parse(text))
    got: list[str] = []

    def work(_) -> None:
        for _ in range(10):
            got.append(str(gc.parse(text)))
    assert run_threads(work, range(8)) == []
    assert got == [want] * 80
    assert gc.constant(np.float32(7.5)) is gc.constant(np.float32(7.5)), "hash-consing works"
