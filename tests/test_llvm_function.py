"""The native calling convention: one compilation per graph, checked feeds, safe buffers."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import graphc as gc
from backends.llvm import jit

RNG = np.random.default_rng(7)


def _mlp():
    x = gc.placeholder((None, 4), name="x")
    y = gc.placeholder((None, 2), name="y")
    w = gc.variable(RNG.standard_normal((4, 2)).astype(np.float32), name="w")
    b = gc.variable(np.zeros(2, np.float32), name="b")
    loss = gc.mean(gc.square(gc.tanh(x * 1.0 + 0.5)[:, :2] * w[0] + b - y))
    gw, gb = gc.grad(loss, [w, b])
    return x, y, w, b, loss, [(w, w - 0.1 * gw), (b, b - 0.1 * gb)]


def test_a_new_batch_size_does_not_recompile() -> None:
    x, y, w, b, loss, updates = _mlp()
    step = gc.compile([x, y], loss, updates=updates, backend="llvm")
    compiled = jit.compile_count()
    for batch in (32, 32, 7, 1, 0, 129):
        xs, ys = RNG.standard_normal((batch, 4), np.float32), np.zeros((batch, 2), np.float32)
        step(xs, ys)
    assert jit.compile_count() == compiled


def test_results_match_the_interpreter_step_after_step() -> None:
    x, y, w, b, loss, updates = _mlp()
    start = (w.value.copy(), b.value.copy())
    feeds = [(RNG.standard_normal((n, 4), np.float32), RNG.standard_normal((n, 2), np.float32))
             for n in (5, 3, 8)]
    results = {}
    for backend in ("numpy", "llvm"):
        w.value, b.value = start
        step = gc.compile([x, y], loss, updates=updates, backend=backend)
        results[backend] = [float(step(*f)) for f in feeds] + [w.value.copy(), b.value.copy()]
    for got, want in zip(results["llvm"], results["numpy"]):
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("feed, message", [
    (lambda: np.zeros((3, 4), np.float64), "dtype float64"),
    (lambda: np.zeros((3, 4, 1), np.float32), "expects f32"),
    (lambda: np.zeros((3, 5), np.float32), "axis 1 must be 4"),
    (lambda: "text", "dtype"),
])
def test_bad_feeds_raise_before_native_code(feed, message: str) -> None:
    x, y, w, b, loss, updates = _mlp()
    step = gc.compile([x, y], loss, updates=updates, backend="llvm")
    before = w.value.copy()
    with pytest.raises(gc.FeedError, match=message):
        step(feed(), np.zeros((3, 2), np.float32))
    with pytest.raises(gc.FeedError, match=r"input .y.*assuming"):
        step(np.zeros((3, 4), np.float32), np.zeros((4, 2), np.float32))
    np.testing.assert_array_equal(w.value, before)


def test_strided_read_only_and_misaligned_feeds_are_copied() -> None:
    x = gc.placeholder((None, 4), name="x")
    f = gc.compile([x], gc.exp(x) * 2, backend="llvm")
    base = RNG.standard_normal((6, 8)).astype(np.float32)
    strided = base[::2, ::2]
    frozen = base[:2, :4].copy()
    frozen.flags.writeable = False
    raw = np.zeros(4 * 3 * 4 + 1, np.uint8)[1:].view(np.float32).reshape(3, 4)   # misaligned
    raw[:] = base[:3, :4]
    for array in (strided, frozen, raw, np.zeros((0, 4), np.float32)):
        np.testing.assert_allclose(f(array), np.exp(array) * 2, rtol=1e-6)


def test_non_finite_values_flow_through() -> None:
    x = gc.placeholder((4,), name="x")
    f = gc.compile([x], [gc.maximum(x, 0.0), gc.sum(x)], backend="llvm")
    got = f(np.array([np.nan, np.inf, -np.inf, 1], np.float32))
    np.testing.assert_array_equal(got[0], [np.nan, np.inf, 0, 1])
    assert np.isnan(got[1])


def test_outputs_never_alias_variables_or_each_other() -> None:
    v = gc.variable(np.ones((2, 2), np.float32), name="v")
    half = v * 0.5
    step = gc.compile([], [half, half, v], updates=[(v, half)], backend="llvm")
    a, b, old = step()
    a[0, 0] = 777
    assert b[0, 0] == 0.5 and v.value[0, 0] == 0.5 and old[0, 0] == 1
    c, _, _ = step()
    assert a[0, 0] == 777 and c[0, 0] == 0.25


def test_swapped_updates_read_the_old_values() -> None:
    p = gc.variable(np.float32(1), name="p")
    q = gc.variable(np.float32(2), name="q")
    gc.compile([], [], updates=[(p, q), (q, p)], backend="llvm")()
    assert (p.value, q.value) == (2, 1)


def test_calls_from_several_threads_get_their_own_results() -> None:
    x = gc.placeholder((None, 3), name="x")
    f = gc.compile([x], gc.sum(x * x, axis=1), backend="llvm")
    errors = []

    def work(n: int) -> None:
        for _ in range(200):
            a = np.full((n, 3), n, np.float32)
            got = f(a)
            if got.shape != (n,) or not np.all(got == 3 * n * n):
                errors.append((n, got))
    threads = [threading.Thread(target=work, args=(n,)) for n in (1, 2, 5, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_an_output_the_caller_dropped_is_reused_and_one_it_holds_never_is() -> None:
    """Static-shaped outputs: the previous call's array, once nothing but the function holds
    it, takes the next result (no fresh pages to fault in); one the caller keeps, or a view
    of, is never written again."""
    x = gc.placeholder((1000,), "float32", name="x")
    f = gc.compile([x], [gc.exp(x), x * 2], backend="llvm")
    a = np.linspace(0, 1, 1000, dtype=np.float32)
    first, _ = f(a)
    kept = first.copy()
    second, _ = f(a + 1)
    assert not np.shares_memory(first, second)
    np.testing.assert_array_equal(first, kept)
    address = second.ctypes.data
    del first, second
    third, doubled = f(a + 2)
    assert third.ctypes.data == address and not np.shares_memory(third, doubled)
    np.testing.assert_allclose(third, np.exp(a + 2), rtol=1e-6)
    view = third[:10]
    del third
    fourth, _ = f(a)
    assert not np.shares_memory(fourth, view)
    np.testing.assert_allclose(view, np.exp(a + 2)[:10], rtol=1e-6)


def test_outputs_kept_by_calls_from_several_threads_stay_their_own() -> None:
    x = gc.placeholder((64,), "float32", name="x")
    f = gc.compile([x], gc.sqrt(x), backend="llvm")
    errors = []

    def work(n: int) -> None:
        held = []
        for i in range(300):
            value = np.float32(n * 1000 + i)
            held.append((value, f(np.full(64, value * value, np.float32))))
            if len(held) > 3:
                held.pop(0)
            if any(not np.all(out == v) for v, out in held):
                errors.append(n)
    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_generated_code_can_be_inspected() -> None:
    x = gc.placeholder((None,), name="x")
    f = gc.compile([x], gc.exp(x), backend="llvm")
    assert "define i32 @\"entry\"" in f.llvm_ir(optimized=False)
    assert "graphc.vmath.exp" in f.llvm_ir(optimized=False)
    assert "entry" in f.asm()


def test_a_new_process_loads_cached_code_without_llvm(tmp_path) -> None:
    script = textwrap.dedent("""
        import numpy as np, graphc as gc
        from backends.llvm import jit
        x = gc.placeholder((None, 3), name="x")
        f = gc.compile([x], gc.sum(gc.tanh(x), axis=1), backend="llvm")
        print(jit.compile_count(), float(f(np.ones((2, 3), np.float32)).sum()))
    """)
    env = {**os.environ, "GRAPHC_CACHE_DIR": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           env=env, cwd=os.path.dirname(os.path.dirname(__file__)))
            for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    (cold, cold_value), (warm, warm_value) = [r.stdout.split() for r in runs]
    assert int(cold) >= 1 and int(warm) == 0 and cold_value == warm_value


def test_the_cli_and_graphc_dump_show_the_generated_code(tmp_path, monkeypatch) -> None:
    x = gc.placeholder((None, 3), name="x")
    path = tmp_path / "g.gcir"
    gc.save(gc.Graph([x], [gc.tanh(x) * 2]), path)
    for emit, marker in (("ir", "define i32 @\"entry\""), ("asm", "retq")):
        out = subprocess.run([sys.executable, "-m", "frontends.cli", "compile", str(path),
                              "--emit", emit], capture_output=True, text=True,
                             cwd=os.path.dirname(os.path.dirname(__file__)))
        assert out.returncode == 0 and marker in out.stdout, out.stderr
    monkeypatch.setenv("GRAPHC_DUMP", str(tmp_path / "dump"))
    gc.compile([x], gc.exp(x), backend="llvm")
    written = sorted(p.name.split(".", 1)[1] for p in (tmp_path / "dump").glob("native-*"))
    assert written == ["ll", "opt.ll", "s"]
