"""Native matmul, convolution and pooling kernels against the interpreter, on the edge cases:
batch broadcasting, strided and transposed operands, integer dtypes, empty dims, symbolic
batches (no recompilation), both product paths (BLAS and the generated loop), and every
window geometry (stride, padding, dilation, groups, overlapping pools, ties, -inf and NaN)."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from backends.llvm import cache, jit
from backends.llvm.kernels import contraction
from graphc.ops import conv as conv_ops
from graphc.registry import OPS
from graphc.tensor import make

RNG = np.random.default_rng(11)
TOLERANCE = {"float32": 2e-5, "float64": 1e-12}


def _random(shape, dtype: str) -> np.ndarray:
    if dtype.startswith("int"):
        return RNG.integers(-20, 20, shape).astype(dtype)
    return RNG.standard_normal(shape).astype(dtype)


def _both(inputs, outputs, feeds):
    """The interpreter's and the native backend's results for the same graph and feeds."""
    results = [gc.compile(inputs, outputs, backend=b)(*feeds) for b in ("numpy", "llvm")]
    return results


def _assert_same(got, want, dtype: str, exact: bool = False) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype
    if exact or not dtype.startswith("float"):
        np.testing.assert_array_equal(got, want)
    else:
        scale = max(1.0, float(np.max(np.abs(want), initial=0)))
        np.testing.assert_allclose(got, want, rtol=TOLERANCE[dtype],
                                   atol=TOLERANCE[dtype] * scale)


@pytest.fixture
def fresh_code(monkeypatch):
    """Compile without the code cache (the product path is a module constant, not in the key)."""
    monkeypatch.setenv("GRAPHC_CACHE_DIR", "off")
    cache.clear_memory()
    yield monkeypatch
    cache.clear_memory()


# ---- matmul ----------------------------------------------------------------------------------

# (a's placeholder shape, b's, view of a, view of b); a view is view(t, f) for dims scaled by
# f, and None dims are fed as 3
T = lambda t, f: gc.swapaxes(t, -1, -2)  # noqa: E731
MATMULS = {
    "2d": ((7, 5), (5, 4), None, None),
    "batched": ((3, 7, 5), (3, 5, 4), None, None),
    "broadcast-b": ((2, 3, 7, 5), (5, 4), None, None),
    "broadcast-a": ((7, 5), (2, 5, 4), None, None),
    "broadcast-both": ((2, 1, 7, 5), (3, 5, 4), None, None),
    "size-one-batch": ((1, 7, 5), (4, 5, 6), None, None),
    "symbolic-batch": ((None, 7, 5), (5, 6), None, None),
    "symbolic-rows": ((None, 5), (5, 6), None, None),
    "symbolic-inner": ((4, None), (None, 6), None, None),
    "transposed-a": ((5, 7), (5, 4), T, None),
    "transposed-b": ((7, 5), (4, 5), None, T),
    "transposed-both": ((2, 5, 7), (2, 4, 5), T, T),
    "transposed-symbolic": ((None, 7), (None, 4), T, None),
    "column-slice": ((7, 9), (5, 4), lambda t, f: t[:, 2 * f:7 * f], None),
    "strided-rows": ((14, 5), (5, 4), lambda t, f: t[::2], None),
    "strided-columns": ((7, 10), (5, 4), lambda t, f: t[:, ::2], None),
    "strided-batch": ((6, 7, 5), (5, 4), lambda t, f: t[::2], None),
    "reversed": ((7, 5), (5, 4), lambda t, f: t[::-1], lambda t, f: t[:, ::-1]),
    "broadcast-rows": ((1, 5), (5, 4), lambda t, f: gc.broadcast_to(t, (7 * f, 5 * f)), None),
    "vector-matrix": ((1, 5), (5, 4), None, None),
    "matrix-vector": ((7, 5), (5, 1), None, None),
    "empty-rows": ((0, 5), (5, 4), None, None),
    "empty-inner": ((7, 0), (0, 4), None, None),
    "empty-batch": ((0, 7, 5), (5, 4), None, None),
}
SIZES = {"small": 1, "large": 9}    # dims scaled up so float products go to BLAS


def _scaled(shape, factor: int):
    return tuple(d if d in (None, 0, 1) else d * factor for d in shape)


def _matmul_case(case: str, dtype: str, factor: int):
    sa, sb, va, vb = MATMULS[case]
    sa, sb = _scaled(sa, factor), _scaled(sb, factor)
    a, b = gc.placeholder(sa, dtype, name="a"), gc.placeholder(sb, dtype, name="b")
    out = (va(a, factor) if va else a) @ (vb(b, factor) if vb else b)
    feeds = [_random(tuple(3 if d is None else d for d in s), dtype) for s in (sa, sb)]
    return [a, b], out, feeds


@pytest.mark.parametrize("dtype, size", [("float32", "small"), ("float32", "large"),
                                         ("float64", "small"), ("float64", "large"),
                                         ("int32", "small"), ("int64", "small")])
@pytest.mark.parametrize("case", MATMULS)
def test_matmul_matches_the_interpreter(case: str, dtype: str, size: str) -> None:
    inputs, out, feeds = _matmul_case(case, dtype, SIZES[size])
    want, got = _both(inputs, out, feeds)
    _assert_same(got, want, dtype)


@pytest.mark.parametrize("path", ["blas", "loop", "generated"])
@pytest.mark.parametrize("case", ["2d", "symbolic-rows", "broadcast-both", "transposed-both",
                                  "strided-columns", "reversed", "empty-inner",
                                  "matrix-vector"])
def test_every_float_path_agrees_with_the_interpreter(case: str, path: str, fresh_code) -> None:
    """BLAS, the small-product loop and the generated GEMM (for every product it can take;
    its tiles and leftovers are tested below)."""
    fresh_code.setattr(contraction, "LOOP_FLOPS", 10 ** 9 if path == "loop" else -1)
    fresh_code.setattr(contraction, "GENERATED", path == "generated")
    fresh_code.setattr(contraction, "SKINNY", 10 ** 9)
    inputs, out, feeds = _matmul_case(case, "float32", 1)
    want, got = _both(inputs, out, feeds)
    _assert_same(got, want, "float32")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows", [1, 3, 7, 8, 11, 15])
def test_generated_products_tile_by_tile_and_the_columns_left_over(dtype: str, rows: int,
                                                                 fresh_code) -> None:
    """Several blocks of tiles, rows by tiles of 6, 4, 2 and 1 (8 and 15: a tile of 6 given
    up for two of 4), tiles of 2 and 1 vectors and a masked part of one left over; a column
    computed in a tile and the same column left over give the same bits (every element is
    one chain of fused multiply-adds), and operands may start inside their buffers
    (slices)."""
    from backends.llvm import gemm
    from backends.llvm.target import register_bits

    fresh_code.setattr(contraction, "LOOP_FLOPS", -1)
    lanes = register_bits() // (np.dtype(dtype).itemsize * 8)
    width = lanes * gemm.TILE_VECTORS
    n, inner = 2 * width + 3 * lanes + 5, 11    # 2 blocks, tiles of 2 and 1 vectors, 5 more
    a = gc.placeholder((rows + 1, inner), dtype)
    b = gc.placeholder((inner, n + 2), dtype)
    f = gc.compile([a, b], a[1:] @ b[:, 2:], backend="llvm")
    x, y = _random((rows + 1, inner), dtype), _random((inner, n + 2), dtype)
    repeats = [2 * width + 1, 2 * width + 2 * lanes + 1, n - 1]      # of result column 1
    y[:, [2 + j for j in repeats]] = y[:, 3:4]
    got = f(x, y)
    assert _generated(f)
    np.testing.assert_allclose(got, x[1:] @ y[:, 2:], rtol=TOLERANCE[dtype],
                               atol=TOLERANCE[dtype] * inner)
    for j in repeats:
        np.testing.assert_array_equal(got[:, j], got[:, 1])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_big_generated_products_pack_b_by_slices_of_the_inner_index(dtype: str,
                                                                     fresh_code) -> None:
    """Enough rows and a long enough inner size that whole blocks of b are packed, a slice
    of the inner index at a time (the last slice short), rows by tiles of 6 and of 4: a
    column in a packed block and the same column left over (in place, in one go) give the
    same bits."""
    from backends.llvm import gemm
    from backends.llvm.target import register_bits

    fresh_code.setattr(contraction, "LOOP_FLOPS", -1)
    lanes = register_bits() // (np.dtype(dtype).itemsize * 8)
    width = lanes * gemm.TILE_VECTORS
    rows = -(-gemm.PACK_ROWS // 6) * 6 + 8          # tiles of 6, then two of 4
    inner = gemm.PACK_INNER + gemm.PACK_DEPTH // 2 + 3
    n = 2 * width + lanes + 3
    a, b = gc.placeholder((rows, inner + 1), dtype), gc.placeholder((inner, n + 1), dtype)
    f = gc.compile([a, b], a[:, 1:] @ b[:, 1:], backend="llvm")
    x, y = _random((rows, inner + 1), dtype), _random((inner, n + 1), dtype)
    repeats = [width + 3, 2 * width + 1, n - 1]      # of result column 2
    y[:, [1 + j for j in repeats]] = y[:, 3:4]
    got = f(x, y)
    assert _generated(f)
    want = x[:, 1:].astype(np.float64) @ y[:, 1:].astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=TOLERANCE[dtype] * 10,
                               atol=TOLERANCE[dtype] * np.sqrt(inner))
    for j in repeats:
        np.testing.assert_array_equal(got[:, j], got[:, 2])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("inner, cols", [(5, 11), (16, 12), (37, 11), (37, 12)])
def test_products_by_a_transposed_b_run_as_tiles_of_dot_products(dtype: str, inner: int,
                                                                  cols: int,
                                                                  fresh_code) -> None:
    """Rows and columns by whole tiles and by binary digits of what is left, inner sizes
    below, at and past a vector (the last part loaded under a mask), operands inside wider
    buffers; a row or column repeated in another place of the tiles gives the same bits
    (the lanes are added up by one tree whatever the tile)."""
    from backends.llvm.target import register_bits

    if register_bits() != 512:
        pytest.skip("products by a transposed b run as dot products on AVX-512 hosts only")
    fresh_code.setattr(contraction, "LOOP_FLOPS", -1)
    a = gc.placeholder((8, inner + 2), dtype)
    b = gc.placeholder((cols + 1, inner + 1), dtype)
    f = gc.compile([a, b], a[1:, 2:] @ gc.transpose(b[1:, 1:]), backend="llvm")
    x, y = _random((8, inner + 2), dtype), _random((cols + 1, inner + 1), dtype)
    x[7], y[cols], y[cols - 2] = x[1], y[1], y[1]     # last row, last columns: leftovers
    assert f"graphc.gemm.{dtype}.dots" in f.llvm_ir(optimized=False)
    got = f(x, y)
    np.testing.assert_allclose(got, x[1:, 2:] @ y[1:, 1:].T, rtol=TOLERANCE[dtype],
                               atol=TOLERANCE[dtype] * inner)
    np.testing.assert_array_equal(got[6], got[0])
    for j in (cols - 1, cols - 3):
        np.testing.assert_array_equal(got[:, j], got[:, 0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("inner, cols", [(1001, 131), (300, 1100)])
def test_a_row_times_a_big_matrix_goes_in_two_halves_of_the_inner_index(
        dtype: str, inner: int, cols: int) -> None:
    """From HALVES_BYTES of b on (and at most HALVES_COLUMNS columns: 131), a one-row
    product is two halves of an odd inner size whose rows are added; the row is a strided
    view. The same bits on one thread and on the team, which runs it whatever its
    arithmetic; 1100 columns go whole."""
    from backends.llvm import gemm, parallel

    assert inner * cols * np.dtype(dtype).itemsize >= gemm.HALVES_BYTES
    a, b = gc.placeholder((inner, 2), dtype), gc.placeholder((inner, cols), dtype)
    f = gc.compile([a, b], gc.transpose(a)[1:] @ b, backend="llvm")
    x, y = _random((inner, 2), dtype), _random((inner, cols), dtype)
    results = []
    for threads in (1, 2):
        with parallel.settings(threads=threads):
            before = parallel.team_runs()
            results.append(f(x, y))
            shared = parallel.team_runs() - before
    halves = cols <= gemm.HALVES_COLUMNS
    assert shared == (1 if halves and parallel.available() else 0)
    want = x[:, 1:].T.astype(np.float64) @ y.astype(np.float64)
    np.testing.assert_allclose(results[0], want, rtol=TOLERANCE[dtype] * 10,
                               atol=TOLERANCE[dtype] * np.sqrt(inner))
    assert results[0].tobytes() == results[1].tobytes()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_products_by_a_transposed_b_with_many_rows_transpose_it_into_panels(
        dtype: str, fresh_code) -> None:
    """From PACK_ROWS rows on, blocks of the stored b are transposed into panels a slice of
    the inner index at a time (the last slice short and not a whole number of vectors);
    whole blocks, a vector and a masked part left over, operands inside wider buffers; a
    column repeated in a whole block and in the part left over gives the same bits."""
    from backends.llvm import gemm
    from backends.llvm.target import register_bits

    if register_bits() != 512:
        pytest.skip("products by a transposed b run as generated GEMMs on AVX-512 hosts only")
    fresh_code.setattr(contraction, "LOOP_FLOPS", -1)
    lanes = register_bits() // (np.dtype(dtype).itemsize * 8)
    width = lanes * gemm.TILE_VECTORS
    rows, inner, cols = gemm.PACK_ROWS + 5, gemm.PACK_DEPTH + 19, 2 * width + lanes + 3
    a = gc.placeholder((rows, inner + 1), dtype)
    b = gc.placeholder((cols + 1, inner + 2), dtype)
    f = gc.compile([a, b], a[:, 1:] @ gc.transpose(b[1:, 2:]), backend="llvm")
    x, y = _random((rows, inner + 1), dtype), _random((cols + 1, inner + 2), dtype)
    repeats = [width + 2, 2 * width + 1, cols - 1]    # of result column 0
    y[[1 + j for j in repeats]] = y[1]
    got = f(x, y)
    assert f"graphc.gemm.{dtype}.transposed" in f.llvm_ir(optimized=False)
    want = x[:, 1:].astype(np.float64) @ y[1:, 2:].T.astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=TOLERANCE[dtype] * 10,
                               atol=TOLERANCE[dtype] * np.sqrt(inner))
    for j in repeats:
        np.testing.assert_array_equal(got[:, j], got[:, 0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows", [7, 31])
def test_long_dot_products_go_a_slice_at_a_time(dtype: str, rows: int, fresh_code) -> None:
    """Inner sizes past one slice (the last slice short, ending in a masked vector): the
    partial sums wait on the stack between slices, for groups of column blocks (7 rows:
    two, the second with columns left over; 31: six); repeated rows and columns give the
    same bits wherever they fall."""
    from backends.llvm import gemm
    from backends.llvm.target import register_bits

    if register_bits() != 512:
        pytest.skip("products by a transposed b run as dot products on AVX-512 hosts only")
    fresh_code.setattr(contraction, "LOOP_FLOPS", -1)
    inner = 2 * gemm.DOT_SLICE_BYTES // np.dtype(dtype).itemsize + 5
    cols = 41
    a, b = gc.placeholder((rows, inner), dtype), gc.placeholder((cols, inner), dtype)
    f = gc.compile([a, b], a @ gc.transpose(b), backend="llvm")
    x, y = _random((rows, inner), dtype), _random((cols, inner), dtype)
    x[rows - 1], y[cols - 1], y[cols - 6] = x[0], y[0], y[0]
    assert f"graphc.gemm.{dtype}.dots" in f.llvm_ir(optimized=False)
    got = f(x, y)
    want = x.astype(np.float64) @ y.T.astype(np.float64)
    np.testing.assert_allclose(got, want, rtol=TOLERANCE[dtype] * 10,
                               atol=TOLERANCE[dtype] * np.sqrt(inner))
    np.testing.assert_array_equal(got[rows - 1], got[0])
    for j in (cols - 1, cols - 6):
        np.testing.assert_array_equal(got[:, j], got[:, 0])


def test_the_generated_gemm_kernels_are_compiled_once_and_not_into_each_graph() -> None:
    """Graphs reach the kernels through the context table: compiling one more graph with a
    product runs LLVM once, on that graph's small module."""
    from backends.llvm import gemm, jit

    a = gc.placeholder((None, 40), "float32")
    w = gc.variable(_random((40, 300), "float32"))
    gc.compile([a], a @ w, backend="llvm")(_random((5, 40), "float32"))
    before = jit.compile_count()
    f = gc.compile([a], gc.relu(a @ w) @ gc.transpose(w), backend="llvm")
    assert jit.compile_count() == before + 1
    assert "graphc.gemm.float32" in f.llvm_ir(optimized=False)
    assert not any(name in f.llvm_ir(optimized=False) for name in gemm.RUNTIME)
    x = _random((7, 40), "float32")
    np.testing.assert_allclose(f(x), np.maximum(x @ w.value, 0) @ w.value.T, rtol=1e-4,
                               atol=1e-3)


def _generated(f) -> bool:
    """Whether f's product ran the generated GEMM (it calls one of its kernels)."""
    return "graphc.gemm." in f.llvm_ir(optimized=False)


def _matmul_step(f):
    (step,) = [s for s in f.plan.steps if s.node is not None and s.node.op == "matmul"]
    return step


@pytest.mark.parametrize("case, copied", [
    ("transposed-both", set()), ("column-slice", set()), ("transposed-symbolic", set()),
    ("broadcast-b", set()), ("strided-columns", {0}), ("reversed", {0, 1}),
    ("broadcast-rows", {0}),
])
def test_blas_reads_transposed_and_sliced_operands_in_place(case: str, copied: set,
                                                           fresh_code) -> None:
    """Only operands BLAS cannot address (no unit stride, negative or zero row strides) are
    copied; transposes and column slices go as flags and leading dimensions."""
    fresh_code.setattr(contraction, "GENERATED", False)     # BLAS for every product
    inputs, out, feeds = _matmul_case(case, "float32", 9)
    f = gc.compile(inputs, out, backend="llvm")
    assert set(_matmul_step(f).scratch) == copied
    np.testing.assert_allclose(f(*feeds), gc.compile(inputs, out)(*feeds), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("steps", [3, None])
def test_a_batch_of_unevenly_spaced_rows_is_copied_into_one_product(steps) -> None:
    """x (N, T, F) read time-major, (T, N, F), times a matrix: its rows are not evenly spaced,
    so it is copied once (not multiplied T times, N rows each), for any N and T."""
    x = gc.placeholder((None, steps, 24), name="x")
    w = gc.variable(_random((24, 40), "float32"), name="w")
    out = gc.transpose(x, (1, 0, 2)) @ w
    f = gc.compile([x], out, backend="llvm")
    assert set(_matmul_step(f).scratch) == {0}
    reference = gc.compile([x], out)
    for batch, length in ((5, 3), (0, 3), (9, 3), (1, 3)):
        feed = _random((batch, steps or length + 2, 24), "float32")
        _assert_same(f(feed), reference(feed), "float32")
    evenly = gc.compile([x], x @ w, backend="llvm")
    assert _matmul_step(evenly).scratch == {}


def test_a_symbolic_batch_runs_every_size_without_recompiling() -> None:
    a = gc.placeholder((None, 6, 40), name="a")
    w = gc.variable(_random((40, 30), "float32"), name="w")
    v = gc.placeholder((None, 30, 8), name="v")
    out = gc.relu(a @ w) @ v
    f = gc.compile([a, v], out, backend="llvm")
    reference = gc.compile([a, v], out)
    compiled = jit.compile_count()
    for batch in (5, 1, 0, 17, 5):
        feeds = [_random((batch, 6, 40), "float32"), _random((batch, 30, 8), "float32")]
        _assert_same(f(*feeds), reference(*feeds), "float32")
    assert jit.compile_count() == compiled


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_products_wrap_around_like_numpy(dtype: str) -> None:
    big = np.iinfo(dtype).max // 3
    a = np.full((2, 3), big, dtype)
    b = np.full((3, 2), 5, dtype)
    ta, tb = gc.placeholder(a.shape, dtype), gc.placeholder(b.shape, dtype)
    want, got = _both([ta, tb], ta @ tb, [a, b])
    np.testing.assert_array_equal(got, want)


def test_gradients_of_a_batched_broadcast_product_match() -> None:
    a = gc.placeholder((None, 5, 6), name="a")
    w = gc.placeholder((6, 7), name="w")
    loss = gc.sum(gc.square(a @ w))
    grads = gc.grad(loss, [a, w])
    feeds = [_random((4, 5, 6), "float32"), _random((6, 7), "float32")]
    want, got = _both([a, w], grads, feeds)
    for g, expected in zip(got, want):
        _assert_same(g, expected, "float32")


def test_matmul_transpose_flags_go_to_blas() -> None:
    if "transpose_a" not in OPS["matmul"].attrs:
        pytest.skip("matmul has no transpose_a/transpose_b attributes yet")
    a, b = gc.placeholder((2, 50, 70), name="a"), gc.placeholder((2, 40, 50), name="b")
    out = make("matmul", [a, b], {"transpose_a": True, "transpose_b": True})
    f = gc.compile([a, b], out, backend="llvm")
    assert _matmul_step(f).scratch == {}
    feeds = [_random((2, 50, 70), "float32"), _random((2, 40, 50), "float32")]
    np.testing.assert_allclose(f(*feeds), np.swapaxes(feeds[0], 1, 2) @ np.swapaxes(
        feeds[1], 1, 2), rtol=1e-4, atol=1e-4)


# ---- convolution -----------------------------------------------------------------------------

# (input shape (N is fed at several sizes), weight shape, stride, padding, dilation, groups)
CONVS = {
    "1d": ((3, 11), (4, 3, 3), 1, 0, 1, 1),
    "1d-all": ((4, 13), (6, 2, 3), 2, ((2, 1),), 2, 2),
    "2d-pad-stride": ((2, 7, 8), (3, 2, 3, 2), (2, 1), 1, 1, 1),
    "2d-dilation-groups": ((4, 9, 9), (6, 2, 3, 3), 1, 2, (2, 3), 2),
    "2d-depthwise": ((3, 6, 7), (6, 1, 3, 3), 2, 1, 1, 3),
    "2d-depthwise-one": ((3, 6, 7), (3, 1, 3, 3), 1, "same", 1, 3),
    "2d-pointwise": ((5, 4, 4), (3, 5, 1, 1), 1, 0, 1, 1),
    "3d": ((2, 4, 5, 4), (4, 2, 2, 3, 2), (1, 2, 1), ((1, 0), (0, 1), (1, 1)), 1, 1),
    "3d-groups-dilation": ((4, 5, 5, 6), (2, 2, 2, 2, 3), 2, 1, (1, 2, 1), 2),
    "2d-wide": ((2, 5, 21), (3, 2, 3, 3), 1, 1, 1, 1),
}
# NOTE: a batch of 37 makes the batch-first <-> batch-last copies of convolution move whole
# tiles through registers (16 or 8 lanes) as well as cut ones at the edges.
BIG_BATCH = 37
CONV_FN = {1: gc.conv1d, 2: gc.conv2d, 3: gc.conv3d}


def _conv_graph(case: str, dtype: str):
    shape, wshape, stride, padding, dilation, groups = CONVS[case]
    x = gc.placeholder((None,) + shape, dtype, name="x")
    w = gc.placeholder(wshape, dtype, name="w")
    y = CONV_FN[len(shape) - 1](x, w, stride=stride, padding=padding, dilation=dilation,
                                groups=groups)
    return x, w, y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CONVS)
def test_conv_and_its_gradients_match_at_several_batch_sizes(case: str, dtype: str) -> None:
    x, w, y = _conv_graph(case, dtype)
    outputs = [y, *gc.grad(gc.sum(y * gc.sin(y)), [x, w])]
    functions = [gc.compile([x, w], outputs, backend=b) for b in ("numpy", "llvm")]
    compiled = jit.compile_count()
    for batch in (2, 1, 0, BIG_BATCH):
        feeds = [_random((batch,) + x.shape[1:], dtype), _random(w.shape, dtype)]
        want, got = (f(*feeds) for f in functions)
        for g, expected in zip(got, want):
            _assert_same(g, expected, dtype)
    assert jit.compile_count() == compiled


def _window(case: str) -> tuple[tuple, dict]:
    shape, wshape, stride, padding, dilation, _ = CONVS[case]
    nd = len(shape) - 1
    x = gc.placeholder((None,) + shape)
    y = CONV_FN[nd](x, gc.placeholder(wshape), stride=stride, padding=padding,
                    dilation=dilation, groups=CONVS[case][5])
    cols = y.inputs[0] if y.op == "conv" else y.inputs[0].inputs[0]
    return shape, {key: cols.attrs[key] for key in ("kernel", "stride", "pads", "dilation")}


@pytest.mark.parametrize("case", CONVS)
def test_im2col_and_col2im_equal_the_interpreter_bit_for_bit(case: str) -> None:
    """col2im adds kernel positions in the interpreter's order, so even its sums are equal."""
    shape, window = _window(case)
    x = gc.placeholder((None,) + shape, "float32")
    cols = conv_ops.im2col(x, window)
    c = gc.placeholder(cols.shape, "float32")
    back = conv_ops.col2im(c, window, shape[1:])
    for batch in (3, 0, BIG_BATCH):
        xs = _random((batch,) + shape, "float32")
        want, got = _both([x], cols, [xs])
        _assert_same(got, want, "float32", exact=True)
        cs = _random(got.shape, "float32")
        want, got = _both([c], back, [cs])
        _assert_same(got, want, "float32", exact=True)


def test_conv_operands_that_are_views_are_copied_first() -> None:
    """conv's kernels need contiguous columns and weights; a transposed weight still works."""
    x = gc.placeholder((None, 2, 6, 6), name="x")
    w = gc.placeholder((3, 3, 2, 4), name="w")        # (kh, kw, I, O): transposed to OIHW
    y = gc.conv2d(x, gc.transpose(w, (3, 2, 0, 1)), padding=1)
    feeds = [_random((2, 2, 6, 6), "float32"), _random((3, 3, 2, 4), "float32")]
    want, got = _both([x, w], y, feeds)
    _assert_same(got, want, "float32")


# ---- pooling ---------------------------------------------------------------------------------

# (input shape without N, kernel, stride, padding)
POOLS = {
    "1d-overlap-pad": ((3, 10), 3, 1, 1),
    "1d-stride": ((2, 11), 2, 3, 0),
    "2d-disjoint": ((3, 8, 6), 2, None, 0),
    "2d-overlap": ((2, 7, 6), 3, 1, 0),
    "2d-rows-left-over": ((2, 7, 6), 2, None, 0),
    "2d-overlap-pad": ((2, 7, 7), 3, 2, 1),
    "2d-rect": ((2, 6, 9), (2, 3), (1, 2), ((1, 0), (0, 1))),
    "2d-same": ((1, 5, 6), 3, 1, "same"),
    "3d": ((2, 4, 6, 5), 2, None, 0),
    "3d-overlap-pad": ((1, 5, 4, 4), 3, 2, 1),
    # windows tiling the input, a vector of them at a time: rows longer than a vector (20, 18
    # outputs: a partial vector left over), kernel 3 along the rows, 3-D, rectangular, a
    # column
    "1d-covered-long": ((2, 40), 2, None, 0),
    "2d-covered-wide": ((2, 4, 36), 2, None, 0),
    "2d-covered-3": ((2, 6, 15), 3, None, 0),
    "2d-covered-rect": ((2, 6, 12), (3, 2), None, 0),
    "3d-covered": ((2, 4, 2, 6), 2, None, 0),
    "2d-covered-column": ((2, 6, 2), 2, None, 0),      # one output a row: vectors of one
}


def _pool_input(shape: tuple, batch: int, ties: bool) -> np.ndarray:
    """Random values; with ties, few distinct values (windows with several maxima), -inf and
    a NaN or two."""
    x = _random((batch,) + shape, "float32")
    if ties and x.size:
        x = np.round(x).astype(np.float32)
        flat = x.reshape(-1)
        flat[RNG.integers(0, flat.size, 3)] = -np.inf
        flat[RNG.integers(0, flat.size, 1)] = np.nan
    return x


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("case", POOLS)
def test_pools_and_their_gradients_equal_the_interpreter_bit_for_bit(case: str,
                                                                     ties: bool) -> None:
    shape, kernel, stride, padding = POOLS[case]
    x = gc.placeholder((None,) + shape, name="x")
    maxed, averaged = (pool(x, kernel, stride, padding) for pool in (gc.max_pool, gc.avg_pool))
    g = gc.placeholder(maxed.shape, name="g")
    h = gc.placeholder(x.shape, name="h")
    geometry = {key: maxed.attrs[key] for key in ("kernel", "stride", "pads", "dilation")}
    outputs = [maxed, averaged,
               make("max_pool_grad", [x, maxed, g], geometry),
               make("max_pool_select", [x, maxed, h], geometry),
               make("avg_pool_grad", [g], {**geometry, "shape": shape[1:]})]
    functions = [gc.compile([x, g, h], outputs, backend=b) for b in ("numpy", "llvm")]
    for batch in (2, 0):
        xs = _pool_input(shape, batch, ties)
        feeds = [xs, _random((batch,) + maxed.shape[1:], "float32"), _random(xs.shape,
                                                                              "float32")]
        want, got = (f(*feeds) for f in functions)
        for out, expected in zip(got, want):
            _assert_same(out, expected, "float32", exact=True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_covered_pools_go_a_vector_of_windows_at_a_time(dtype: str) -> None:
    """LeNet's pools (2x2 windows tiling 28x28 and 10x10 maps) run the vector code, and equal
    the interpreter bit for bit, ties, -inf and NaN included, in either float type."""
    x = gc.placeholder((None, 3, 28, 10), dtype, name="x")
    y = gc.max_pool(x, 2)
    g = gc.placeholder(y.shape, dtype, name="g")
    geometry = {key: y.attrs[key] for key in ("kernel", "stride", "pads", "dilation")}
    outputs = [y, gc.avg_pool(x, 2), make("max_pool_grad", [x, y, g], geometry)]
    numpy_f, llvm_f = (gc.compile([x, g], outputs, backend=b) for b in ("numpy", "llvm"))
    assert "llvm.masked.load" in llvm_f.llvm_ir()
    for batch in (3, 1):
        xs = _pool_input((3, 28, 10), batch, ties=True).astype(dtype)
        feeds = [xs, _random((batch, 3, 14, 5), dtype)]
        for got, want in zip(llvm_f(*feeds), numpy_f(*feeds)):
            _assert_same(got, want, dtype, exact=True)


@pytest.mark.parametrize("bits", [128, 256])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_vector_code_for_narrower_registers(fresh_code, bits: int, dtype: str) -> None:
    """The explicit vector code of pooling and of transposing copies, generated for hosts
    with 128- or 256-bit registers (2 to 8 lanes; 64-bit floats in 128 bits transpose
    element by element): a convolution, pooling and their gradients as the interpreter's."""
    from backends.llvm.kernels import moves, windows
    fresh_code.setattr(windows, "register_bits", lambda: bits)
    fresh_code.setattr(moves, "register_bits", lambda: bits)
    x = gc.placeholder((None, 2, 12, 10), dtype, name="x")
    w = gc.placeholder((3, 2, 3, 3), dtype, name="w")
    y = gc.max_pool(gc.relu(gc.conv2d(x, w, padding=1)), 2)
    outputs = [y, *gc.grad(gc.sum(y * gc.sin(y)), [x, w])]
    functions = [gc.compile([x, w], outputs, backend=b) for b in ("numpy", "llvm")]
    lanes = bits // np.dtype(dtype).itemsize // 8
    text = functions[1].llvm_ir(optimized=False)
    assert f"<{lanes} x {'float' if dtype == 'float32' else 'double'}>" in text
    feeds = [_random((BIG_BATCH, 2, 12, 10), dtype), _random((3, 2, 3, 3), dtype)]
    for got, want in zip(functions[1](*feeds), functions[0](*feeds)):
        _assert_same(got, want, dtype)


def test_max_pool_gradient_follows_y_even_when_it_is_not_the_maximum() -> None:
    """max_pool_grad routes g to the first position equal to its y operand; none, nothing."""
    x = gc.placeholder((1, 1, 4), name="x")
    y = gc.placeholder((1, 1, 2), name="y")
    g = gc.placeholder((1, 1, 2), name="g")
    geometry = {"kernel": (2,), "stride": (2,), "pads": ((0, 0),), "dilation": (1,)}
    out = make("max_pool_grad", [x, y, g], geometry)
    feeds = [np.array([[[1, 2, 3, 3]]], np.float32), np.array([[[1, 5]]], np.float32),
             np.array([[[10, 20]]], np.float32)]
    want, got = _both([x, y, g], out, feeds)
    np.testing.assert_array_equal(got, [[[10, 0, 0, 0]]])
    np.testing.assert_array_equal(got, want)


def test_conv_of_a_single_output_element() -> None:
    """Every axis of the result is 1, so the copy into it has no axis left once size-1 axes
    are dropped: building it failed (IndexError) in conv and conv_weight_grad."""
    x = gc.placeholder((1, 1, 6, 5), "float64")
    w = gc.variable(np.arange(9.0).reshape(1, 1, 3, 3))
    y = gc.conv2d(x, w, stride=2, dilation=2)
    assert y.shape == (1, 1, 1, 1)
    outputs = [y, *gc.grad(gc.sum(y * y), [x, w])]
    feed = np.linspace(-1, 1, 30).reshape(1, 1, 6, 5)
    for got, want in zip(gc.compile([x], outputs, backend="llvm")(feed),
                         gc.compile([x], outputs)(feed)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
