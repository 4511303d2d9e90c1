"""Big native kernels on the thread team: the same bits for any team size, run after run, at any
size around the thresholds, from several Python threads at once, and without libgomp at all.

`parallel.settings(threads=n, min_work=0)` makes every kernel with an axis of symbolic size use
a team of n (libgomp grows its pool for n above the CPU count), so small arrays exercise the
team.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from backends.llvm import jit, parallel
from backends.llvm.kernels.reduce import BLOCK_WORK, MAX_BLOCKS
from graphc import scalar

ROOT = Path(__file__).resolve().parents[1]
TEAMS = (1, 2, 3, 4)
RNG = np.random.default_rng(11)

needs_team = pytest.mark.skipif(not parallel.available(),
                                reason=f"{parallel.LIBGOMP} cannot be loaded here: no team")


def by_team(function, *feeds, min_work: int | None = 0) -> list:
    """function(*feeds) run with each team size of TEAMS (every kernel shared when
    min_work is 0)."""
    results = []
    for threads in TEAMS:
        with parallel.settings(threads=threads, min_work=min_work):
            results.append(function(*feeds))
    return results


def assert_same_bits(results: list) -> None:
    first = results[0]
    for other in results[1:]:
        assert other.dtype == first.dtype and other.shape == first.shape
        assert first.tobytes() == other.tobytes()


def assert_sum_close(got: np.ndarray, data: np.ndarray, axis) -> None:
    """Within a few float32 roundings of the sum of magnitudes (what float32 sums promise)."""
    want = data.sum(axis=axis, dtype=np.float64)
    magnitude = np.abs(data).sum(axis=axis, dtype=np.float64)
    assert np.all(np.abs(got - want) <= 4e-7 * magnitude + 1e-30)


def w4(x):
    return gc.sigmoid(x) * gc.tanh(0.5 * x + 1) + gc.softplus(x)


def w4_reference(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return 1 / (1 + np.exp(-x)) * np.tanh(0.5 * x + 1) + np.logaddexp(x, 0)


@pytest.fixture(scope="module")
def w4_native():
    x = gc.placeholder((None,), "float32", name="x")
    return gc.compile(inputs=[x], outputs=w4(x), backend="llvm")


@needs_team
def test_the_runtime_knows_its_team() -> None:
    assert parallel.threads() >= 1
    with parallel.settings(threads=3, min_work=5):
        assert parallel.threads() == 3
    with pytest.raises(ValueError, match="at least one thread"):
        parallel.set_threads(0)


@pytest.mark.parametrize("n", [0, 1, 7, 100, 4099, 50_000])
def test_elementwise_bits_do_not_depend_on_the_team(w4_native, n: int) -> None:
    assert sum(node.op == "fused" for node in w4_native.graph.nodes) == 1     # one loop
    x = (RNG.standard_normal(n) * 6).astype(np.float32)
    results = by_team(w4_native, x)
    assert_same_bits(results)
    np.testing.assert_allclose(results[0], w4_reference(x), rtol=5e-6, atol=1e-6)


def test_sizes_around_the_threshold_share_one_compilation(w4_native) -> None:
    """Sizes on both sides of the default threshold (decided at run time from the actual
    size) run the same code, whose results never depend on the side."""
    cost = 3                        # x + 1: a load, an add, a store
    x = gc.placeholder((None,), "float32", name="x")
    plus = gc.compile(inputs=[x], outputs=x + 1, backend="llvm")
    compiled = jit.compile_count()
    edge = parallel.MIN_WORK // cost
    for n in (edge - 1, edge, edge + 1, 2 * edge + 3):
        data = RNG.standard_normal(n).astype(np.float32)
        results = by_team(plus, data, min_work=None)
        assert_same_bits(results)
        np.testing.assert_array_equal(results[0], data + np.float32(1))
    assert jit.compile_count() == compiled


def test_broadcasts_and_strided_operands_split_by_rows() -> None:
    a = gc.placeholder((None, 37), "float32", name="a")
    b = gc.placeholder((37,), "float32", name="b")
    f = gc.compile(inputs=[a, b], outputs=[gc.exp(a * b), gc.transpose(a) - 1.0],
                   backend="llvm")
    rows = RNG.standard_normal((3001, 37)).astype(np.float32)
    col = RNG.standard_normal(37).astype(np.float32)
    results = by_team(f, rows, col)
    for k in range(2):
        assert_same_bits([r[k] for r in results])
    np.testing.assert_allclose(results[0][0], np.exp(rows * col), rtol=3e-6)
    np.testing.assert_array_equal(results[0][1], rows.T - np.float32(1))


REDUCTIONS = [  # shape, axis, keepdims
    ((100_003,), None, False),
    ((1, 262_147), None, False),        # a leading 1 does not hide the long axis
    ((3001, 67), 0, False),             # reduced outermost axis: blocks of rows
    ((3001, 67), 1, True),              # kept outermost axis: rows of the output
    ((67, 3001), (0, 1), False),
    ((40, 50, 60), (0, 2), False),      # reduced, kept, reduced
    ((40, 50, 60), 1, False),
    ((120_000, 3), 0, False),
    ((0, 5), 0, False),
    ((5, 0), 1, False),
    ((0,), None, False),
]


@pytest.mark.parametrize("op", ["sum", "prod", "max", "min", "mean"])
@pytest.mark.parametrize("shape, axis, keepdims", REDUCTIONS)
def test_reductions_give_the_same_bits_for_any_team(op: str, shape, axis, keepdims) -> None:
    if op in ("max", "min") and 0 in shape:
        pytest.skip("max or min of nothing is an error (tested with the reduce kernels)")
    x = gc.placeholder((None,) * len(shape), "float32", name="x")
    f = gc.compile(inputs=[x], outputs=getattr(gc, op)(x, axis=axis, keepdims=keepdims),
                   backend="llvm")
    scale = 1.0 if op != "prod" else 0.02
    data = (1 + scale * RNG.standard_normal(shape)).astype(np.float32) if op == "prod" else \
        RNG.standard_normal(shape).astype(np.float32)
    results = by_team(f, data) + by_team(f, data)       # and run to run
    assert_same_bits(results)
    want = getattr(np, op)(data.astype(np.float64), axis=axis, keepdims=keepdims)
    magnitude = getattr(np, op if op != "mean" else "sum")(
        np.abs(data.astype(np.float64)), axis=axis, keepdims=keepdims)
    if op == "mean":
        magnitude = magnitude / max(1, data.size // max(1, want.size))
    # NOTE: partial sums in float64 per run, float32 per block, float64 across blocks: the
    # error stays within a few float32 roundings of the sum of magnitudes
    np.testing.assert_allclose(results[0], want, rtol=2e-6 if op != "prod" else 4e-5,
                               atol=0 if op in ("max", "min") else 1e-6 * magnitude.max(initial=1))


@pytest.mark.parametrize("blocks", [1, 2, 3, MAX_BLOCKS, MAX_BLOCKS + 1])
def test_a_sum_around_the_block_sizes_is_deterministic(blocks: int) -> None:
    """A reduced outermost axis is cut into blocks by its size alone: one block, two, the
    most there may be, one more; every team gives the same bits."""
    x = gc.placeholder((None,), "float32", name="x")
    f = gc.compile(inputs=[x], outputs=gc.sum(x), backend="llvm")
    per_element = parallel.expression_cost([scalar.cast(scalar.arg(0), "float32")]) + 1
    n = blocks * -(-BLOCK_WORK // per_element) - (1 if blocks == 2 else 0)
    data = RNG.standard_normal(n).astype(np.float32)
    results = by_team(f, data) + by_team(f, data, min_work=None)
    assert_same_bits(results)
    np.testing.assert_allclose(results[0], data.astype(np.float64).sum(), rtol=1e-6,
                               atol=1e-6 * np.abs(data).sum())


def test_an_integer_sum_is_exact_on_any_team() -> None:
    x = gc.placeholder((None, 5), "int64", name="x")
    f = gc.compile(inputs=[x], outputs=[gc.sum(x), gc.max(x, axis=0)], backend="llvm")
    data = RNG.integers(-10**12, 10**12, (60_001, 5))
    for total, top in by_team(f, data):
        assert total == data.sum()
        np.testing.assert_array_equal(top, data.max(axis=0))


def test_symbolic_sizes_run_without_recompiling(w4_native) -> None:
    y = gc.placeholder((None, None), "float32", name="y")
    f = gc.compile(inputs=[y], outputs=[gc.sum(y, axis=0), gc.sum(y * 2.0, axis=1)],
                   backend="llvm")
    compiled = jit.compile_count()
    for shape in [(0, 3), (3, 0), (1, 1), (9000, 13), (13, 9000), (257, 257)]:
        data = RNG.standard_normal(shape).astype(np.float32)
        for k, result in enumerate(zip(*by_team(f, data))):
            assert_same_bits(list(result))
        columns, rows = f(data)
        assert_sum_close(columns, data, axis=0)
        assert_sum_close(rows / 2, data, axis=1)
    assert jit.compile_count() == compiled


@needs_team
def test_calls_from_several_python_threads_at_once(w4_native) -> None:
    """Threads calling big kernels together: one of them has the team at a time, the others
    run alone; every result is the one a lone call gives."""
    x = gc.placeholder((None,), "float32", name="x")
    total = gc.compile(inputs=[x], outputs=gc.sum(w4(x)), backend="llvm")
    feeds = [(RNG.standard_normal(40_000 + 977 * i) * 5).astype(np.float32) for i in range(6)]
    with parallel.settings(threads=1):
        want = [(w4_native(f), total(f)) for f in feeds]
    got: dict[int, list] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            got[i] = [(w4_native(feeds[i]), total(feeds[i])) for _ in range(5)]
        except BaseException as exc:          # reported below, with the others
            errors.append(exc)
    with parallel.settings(threads=2, min_work=0):
        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(feeds))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert not errors and len(got) == len(feeds)
    for i, runs in got.items():
        for values, total_value in runs:
            assert values.tobytes() == want[i][0].tobytes()
            assert total_value.tobytes() == want[i][1].tobytes()


@pytest.mark.parametrize("axis", [0, 1])
def test_a_fused_reduction_stores_its_elementwise_values_once(axis: int) -> None:
    """A prologue group (the sum reads exp(x)·2, which the graph also returns) stores the
    elementwise values once per element, from whichever chunk folds it."""
    x = gc.placeholder((None, 33), "float32", name="x")
    y = gc.exp(x) * 2.0
    f = gc.compile(inputs=[x], outputs=[gc.sum(y, axis=axis), y], backend="llvm")
    assert any(n.op == "fused" and n.attrs["kind"] == "prologue" for n in f.graph.nodes)
    data = RNG.standard_normal((4001, 33)).astype(np.float32)
    results = by_team(f, data)
    for k in range(2):
        assert_same_bits([r[k] for r in results])
    total, values = results[0]
    np.testing.assert_allclose(values, np.exp(data.astype(np.float64)) * 2, rtol=3e-7)
    assert_sum_close(total, values, axis)


# A process where libgomp cannot be loaded: the same code (from the disk cache or compiled
# afresh) runs on the calling thread and gives the same bits.
WITHOUT_LIBGOMP = """
import sys
import numpy as np
import graphc as gc
from backends.llvm import parallel
parallel.LIBGOMP = "libgomp-that-does-not-exist.so.1"
assert not parallel.available() and parallel.threads() == 1
x = gc.placeholder((None,), "float32", name="x")
f = gc.compile(inputs=[x], outputs=[gc.sigmoid(x) * gc.tanh(0.5 * x + 1) + gc.softplus(x),
                                    gc.sum(x)], backend="llvm")
data = np.load(sys.argv[1])
with parallel.settings(min_work=0):
    values, total = f(data)
np.save(sys.argv[2], values)
np.save(sys.argv[3], total)
"""


def test_without_libgomp_kernels_run_on_the_caller(tmp_path: Path) -> None:
    x = gc.placeholder((None,), "float32", name="x")
    f = gc.compile(inputs=[x], outputs=[w4(x), gc.sum(x)], backend="llvm")
    data = (RNG.standard_normal(300_001) * 4).astype(np.float32)
    with parallel.settings(min_work=0):
        values, total = f(data)
    paths = [tmp_path / name for name in ("in.npy", "values.npy", "total.npy")]
    np.save(paths[0], data)
    run = subprocess.run([sys.executable, "-c", WITHOUT_LIBGOMP, *map(str, paths)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert np.load(paths[1]).tobytes() == values.tobytes()
    assert np.load(paths[2]).tobytes() == total.tobytes()


@needs_team
@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_runs_alone_instead_of_waiting_for_lost_threads(w4_native) -> None:
    data = (RNG.standard_normal(200_000) * 4).astype(np.float32)
    with parallel.settings(threads=2, min_work=0):
        want = w4_native(data)              # the parent's pool now has a thread
        child = os.fork()
        if child == 0:                      # pragma: no cover (the child reports by status)
            import signal
            signal.alarm(60)
            same = w4_native(data).tobytes() == want.tobytes() and parallel.threads() == 1
            os._exit(0 if same else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_generated_code_reaches_the_team_only_through_the_runtime_record() -> None:
    x = gc.placeholder((None,), "float32", name="x")
    f = gc.compile(inputs=[x], outputs=gc.exp(x), backend="llvm")
    text = f.llvm_ir(optimized=False)
    assert f'@"{parallel.RUNTIME_SYMBOL}" = external global' in text
    assert "GOMP" not in text and "omp_" not in text
    assert ".chunk.worker" in text


@needs_team
def test_the_team_runs_big_kernels_and_leaves_small_ones_to_the_caller() -> None:
    x = gc.placeholder((None,), "float32", name="x")
    f = gc.compile(inputs=[x], outputs=gc.exp(x), backend="llvm")      # one kernel
    data = RNG.standard_normal(20_000).astype(np.float32)
    with parallel.settings(threads=2):
        before = parallel.team_runs()
        f(data[:10])
        assert parallel.team_runs() == before
        with parallel.settings(min_work=0):
            f(data)
        assert parallel.team_runs() == before + 1


@pytest.mark.parametrize("m, n, k", [(200, 72, 40), (24, 300, 33), (1, 520, 9)])
@pytest.mark.parametrize("transposes", [(False, False), (True, True)])
def test_big_products_are_split_into_pieces_the_team_shares(m: int, n: int, k: int,
                                                            transposes) -> None:
    """Pieces along C's longer side (rows, columns, one-row GEMVs), each one BLAS call on one
    thread; the pieces depend on sizes only, so the team's result and the caller's alone are
    the same bits."""
    from backends.llvm import blas

    trans_a, trans_b = transposes
    # NOTE: symbolic sizes: a product whose static size is below the default min_work has no
    # pieces to offer, whatever min_work is set to at run time
    a = gc.placeholder((None, None), "float32")
    b = gc.placeholder((None, None), "float32")
    f = gc.compile([a, b], (a.T if trans_a else a) @ (b.T if trans_b else b), backend="llvm")
    x = RNG.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
    y = RNG.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    expected = (x.T if trans_a else x) @ (y.T if trans_b else y)
    results = {}
    for threads in (1, 2):
        with parallel.settings(threads=threads, min_work=0):
            before = parallel.team_runs()
            results[threads] = f(x, y)
            ran = parallel.team_runs() - before
        assert ran == (1 if threads == 2 and parallel.available() else 0)
        np.testing.assert_allclose(results[threads], expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(results[1], results[2])
    if blas.blas_threads() is not None:
        assert blas.blas_threads() == 1       # BLAS's own threads never split a product
    with parallel.settings(threads=2):        # the default min_work: one call, no team
        before = parallel.team_runs()
        np.testing.assert_allclose(f(x, y), expected, rtol=1e-4, atol=1e-4)
        assert parallel.team_runs() == before


@needs_team
def test_pooling_and_its_gradients_share_their_planes_with_the_team() -> None:
    """(example, channel) planes on the team when there are enough: the same bits as alone."""
    x = gc.placeholder((None, 6, 12, 12), "float32", name="x")
    y = gc.max_pool(gc.relu(x), 2)
    outputs = [y, gc.avg_pool(x, 3, 1, 1), *gc.grad(gc.sum(gc.square(y)), [x])]
    f = gc.compile([x], outputs, backend="llvm")
    data = RNG.standard_normal((5, 6, 12, 12)).astype(np.float32)
    text = f.llvm_ir(optimized=False)
    for op in ("max_pool", "avg_pool", "max_pool_grad"):
        assert re.search(rf'define internal i32 @"(k\d+_rows\.)?k\d+_{op}\.chunk"', text), op
    results = {}
    for threads in (1, 2):
        with parallel.settings(threads=threads, min_work=0):
            before = parallel.team_runs()
            results[threads] = f(data)
            ran = parallel.team_runs() - before
        # NOTE: at least the first offer; after a run in which a thread was descheduled (a
        # loaded machine) the team declines a few
        assert (ran >= 1) if threads == 2 else ran == 0
    for alone, shared, want in zip(results[1], results[2], gc.compile([x], outputs)(data)):
        np.testing.assert_array_equal(shared, alone)
        np.testing.assert_array_equal(alone, want)


@needs_team
def test_im2col_and_col2im_share_their_rows_with_the_team() -> None:
    """The window copies of im2col (a row of the columns each) and the adds of col2im (a
    channel each, its kernel positions in order) on the team: the same bits as alone and as
    the interpreter's."""
    from graphc.ops import conv as conv_ops
    window = {"kernel": (3, 2), "stride": (1, 2), "pads": ((1, 0), (0, 1)), "dilation": (1, 1)}
    x = gc.placeholder((None, 3, 9, 8), "float32", name="x")
    cols = conv_ops.im2col(x, window)
    c = gc.placeholder(cols.shape, "float32", name="c")
    back = conv_ops.col2im(c, window, (9, 8))
    f = gc.compile([x, c], [cols, back], backend="llvm")
    text = f.llvm_ir(optimized=False)
    for op in ("im2col", "col2im"):
        assert re.search(rf'define internal i32 @"(k\d+_rows\.)?k\d+_{op}\.chunk"', text), op
    xs = RNG.standard_normal((5, 3, 9, 8)).astype(np.float32)
    feeds = [xs, RNG.standard_normal((18,) + cols.shape[1:-1] + (5,)).astype(np.float32)]
    results = {}
    for threads in (1, 2):
        with parallel.settings(threads=threads, min_work=0):
            before = parallel.team_runs()
            results[threads] = f(*feeds)
            ran = parallel.team_runs() - before
        assert (ran >= 1) if threads == 2 else ran == 0      # (see the pooling test's NOTE)
    for alone, shared, want in zip(results[1], results[2], gc.compile([x, c], [cols, back])(
            *feeds)):
        np.testing.assert_array_equal(shared, alone)
        np.testing.assert_array_equal(alone, want)


def test_loops_bound_by_arithmetic_ask_for_the_hosts_widest_vectors() -> None:
    import llvmlite.binding as llvm

    x = gc.placeholder((None,), "float32", name="x")
    heavy = gc.compile(inputs=[x], outputs=gc.tanh(x), backend="llvm").llvm_ir(optimized=False)
    light = gc.compile(inputs=[x], outputs=x + 1, backend="llvm").llvm_ir(optimized=False)
    wide = '"prefer-vector-width"="512"'
    assert (wide in heavy) == bool(llvm.get_host_cpu_features().get("avx512f"))
    assert wide not in light


def test_only_kernels_that_can_reach_min_work_get_the_teams_code() -> None:
    """A loop nest of static sizes too small for the team is its kernel's own loop (no chunk
    function, worker or offer: a third of the functions for LLVM); a symbolic or big one is
    shared."""
    def ir(shape):
        x = gc.placeholder(shape, "float32", name="x")
        outputs = [gc.tanh(x) + 1, gc.sum(x, axis=0), gc.sum(x, axis=-1)]
        return gc.compile(inputs=[x], outputs=outputs, backend="llvm").llvm_ir(optimized=False)
    import llvmlite.binding as llvm

    small = ir((30, 40))
    assert ".chunk" not in small and "graphc.parallel.team" not in small
    # the kernel's own loop still asks for wide vectors when it is bound by arithmetic
    wide = '"prefer-vector-width"="512"' in small
    assert wide == bool(llvm.get_host_cpu_features().get("avx512f"))
    for shape in ((None, 40), (2048, 1024)):
        assert ir(shape).count(".chunk.worker\"(") >= 3


@pytest.mark.parametrize("shape", [(3, 4), (30, 40), (1, 7), (200_003,), (5000, 40)])
def test_static_and_symbolic_sizes_give_the_same_bits(shape) -> None:
    """The kernel's own loop (static, small) computes as the chunk function would: the same
    bits as the symbolic graph, whose kernels can share; blocks of a reduced axis stay."""
    data = RNG.standard_normal(shape).astype(np.float32)
    results = []
    for given in (shape, (None,) * len(shape)):
        x = gc.placeholder(given, "float32", name="x")
        outputs = [gc.exp(x) * 0.5, gc.sum(x, axis=0), gc.max(x, axis=-1), gc.sum(x)]
        results.append(gc.compile(inputs=[x], outputs=outputs, backend="llvm")(data))
    for static, symbolic in zip(*results):
        assert static.tobytes() == symbolic.tobytes()


def test_loop_hints_follow_the_work_per_element() -> None:
    """A memory-bound elementwise loop asks LLVM for one vector per iteration (as fast, and
    less code to optimize); one of a few arithmetic operations keeps O3's unrolling and
    interleaving; one of transcendentals (long dependent chains) asks for LATENCY_VECTORS, but
    only over enough elements."""
    def loop_hints(build, shape=(None,)) -> list[int]:
        x = gc.placeholder(shape, "float32", name="x")
        compiled = gc.compile(inputs=[x], outputs=build(x), backend="llvm")
        text = compiled.llvm_ir(optimized=False)
        return [int(n) for n in re.findall(r'"llvm.loop.interleave.count", i32 (\d+)', text)]

    assert set(loop_hints(lambda x: x + 1)) == {1}
    assert loop_hints(lambda x: gc.sqrt(x * x + 1) / (x + 2)) == []
    assert set(loop_hints(gc.tanh)) == {parallel.LATENCY_VECTORS}
    assert set(loop_hints(gc.tanh, (1 << 20,))) == {parallel.LATENCY_VECTORS}
    assert loop_hints(gc.tanh, (parallel.LATENCY_MIN_ELEMENTS - 1,)) == []
