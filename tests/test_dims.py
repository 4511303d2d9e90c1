"""Dim expressions, and the assumptions about symbolic dims that feeds are checked against."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc import dims as D

# ---- the algebra ------------------------------------------------------------------------------


def test_equal_expressions_compare_equal_and_simplify() -> None:
    n, m = "n", "m"
    assert D.add(n, 0) == n and D.sub(D.add(n, 3), 3) == n and D.mul(n, 1) == n
    assert D.add(D.mul(2, n), m) == D.add(m, D.add(n, n))
    assert D.mul(D.add(n, 1), 3) == D.add(D.mul(3, n), 3)
    assert D.floordiv(D.mul(6, n), 3) == D.mul(2, n)
    assert D.floordiv(D.add(D.mul(4, n), 3), 2) == D.add(D.mul(2, n), 1)
    assert D.divide_exact(D.mul(n, D.mul(3, m)), D.mul(3, m)) == n
    assert D.divide_exact(D.add(n, 1), n) is None
    assert D.maximum(D.add(n, 2), n) == D.add(n, 2) and D.minimum(n, 0) == 0
    assert D.maximum(D.sub(n, 1), 0) != D.sub(n, 1)      # n may be 0


@pytest.mark.parametrize("expr, text", [
    (D.sub("n", 1), "n-1"), (D.mul(3, "n"), "3*n"), (D.maximum(D.sub("n", 2), 0), "max(n-2,0)"),
    (D.floordiv(D.add("n", 1), 2), "(n+1)//2"), (D.mul(D.floordiv(D.add("n", 1), 2), 3),
                                                   "3*((n+1)//2)"),
    (D.mul("n", "m"), "m*n")])
def test_expressions_print_and_evaluate(expr, text: str) -> None:
    assert D.format_dim(expr) == text
    for n in range(6):
        assert D.evaluate(expr, {"n": n, "m": 7}) == eval(text.replace("//", "//"),
                                                            {"n": n, "m": 7})


def test_nonnegativity_is_proved_through_max_and_min() -> None:
    n = "n"
    assert D.is_nonneg(D.sub(n, D.maximum(D.sub(n, 2), 0)))
    assert D.is_nonneg(D.sub(n, D.minimum(n, 3)))
    assert not D.is_nonneg(D.sub(n, 1))


# ---- derived dims of layout ops ---------------------------------------------------------------

SLICES = ["1:", ":-2", "2:-1", ":4", "-3:", "::2", "1::-1", "::-2", "-2:0:-1", "5:1", ":"]


def test_slices_of_a_symbolic_dim_have_exact_lengths() -> None:
    x = gc.placeholder((None, 3), name="x")
    pieces = [eval(f"x[{s}]", {"x": x}) for s in SLICES]
    assert all(D.symbols(p.shape[0]) == {x.shape[0]} for p in pieces)   # no fresh symbols
    f = gc.compile([x], pieces)
    for n in range(9):
        a = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
        for s, got in zip(SLICES, f(a)):
            np.testing.assert_array_equal(got, eval(f"a[{s}]", {"a": a}),
                                          err_msg=f"x[{s}] with n={n}")


def test_sizes_are_known_before_anything_runs() -> None:
    x = gc.placeholder((None, 3), name="x")
    padded = gc.pad(x[1:], ((1, 2), (1, 1)))
    y = gc.concatenate([gc.pad(x[1:], ((1, 2), (0, 0))), padded[:, :2]], axis=1)
    graph = gc.Graph([x], [gc.reshape(y, -1)])
    (out,) = graph.outputs
    assert D.symbols(out.shape[0]) == {x.shape[0]}
    for n in (1, 4):
        want = gc.compile(graph)(np.ones((n, 3), np.float32))[0].shape[0]
        assert graph.dims.value(out.shape[0], {x.shape[0]: n}) == want


def test_reshape_merges_and_splits_a_symbolic_axis() -> None:
    x = gc.placeholder((None, 3), name="x")
    flat = gc.reshape(x, -1)
    assert D.format_dim(flat.shape[0]) == f"3*{x.shape[0]}"
    back = gc.reshape(flat, (-1, 3))
    assert back.shape == x.shape
    a = np.arange(12, dtype=np.float32).reshape(4, 3)
    got_flat, got_back = gc.compile([x], [flat, back])(a)
    np.testing.assert_array_equal(got_flat, a.reshape(-1))
    np.testing.assert_array_equal(got_back, a)


def test_derived_dims_round_trip_through_the_text_ir() -> None:
    x = gc.placeholder((None, 4), name="x")
    graph = gc.Graph([x], [gc.reshape(x[1:, ::2], -1), gc.pad(x, 1)[::-2]])
    text = str(graph)
    assert "max(?1-1,0)" in text
    assert str(gc.parse(text)) == text


def test_an_input_may_have_a_derived_dim_checked_against_the_others() -> None:
    x = gc.placeholder((None, 2), name="x")
    w = gc.placeholder(x[1:].shape, name="w")
    f = gc.compile([x, w], x[1:] * w)
    np.testing.assert_array_equal(f(np.ones((3, 2), "float32"), np.full((2, 2), 2, "float32")),
                                  np.full((2, 2), 2))
    with pytest.raises(gc.FeedError, match=r"input 'w'.*max\(\?1-1,0\) = 2 on axis 0.*got 3"):
        f(np.ones((3, 2), "float32"), np.ones((3, 2), "float32"))


# ---- assumptions, checked when feeds bind the symbols (issue 11, item 1) -----------------------

def test_a_symbol_assumed_to_broadcast_against_a_static_dim_is_checked() -> None:
    x = gc.placeholder((None,), name="x")
    y = gc.placeholder((None, 4), name="y")
    f = gc.compile([x, y], x + y)
    np.testing.assert_array_equal(f(np.ones(4, "float32"), np.ones((2, 4), "float32")),
                                  np.full((2, 4), 2))
    np.testing.assert_array_equal(f(np.ones(1, "float32"), np.ones((2, 4), "float32")),
                                  np.full((2, 4), 2))
    with pytest.raises(gc.FeedError, match=r"input 'x' axis 0.*add at .*test_dims.py.*is 1 or 4"):
        f(np.ones(3, "float32"), np.ones((3, 4), "float32"))


def test_two_anonymous_symbols_assumed_equal_are_checked_naming_both_inputs() -> None:
    a = gc.placeholder((None, 3), name="a")
    b = gc.placeholder((None, 3), name="b")
    f = gc.compile([a, b], a * b)
    with pytest.raises(gc.FeedError, match=r"\?1 = 2 \(input 'a' axis 0\) and \?2 = 5 "
                                           r"\(input 'b' axis 0\).*multiply"):
        f(np.ones((2, 3), "float32"), np.ones((5, 3), "float32"))


def test_a_matmul_inner_dim_fed_wrong_is_a_feed_error_not_numpys() -> None:
    x = gc.placeholder((None, None), name="x")
    w = gc.variable(np.zeros((64, 2), np.float32), name="W")
    f = gc.compile([x], x @ w)
    assert f(np.ones((5, 64), "float32")).shape == (5, 2)
    with pytest.raises(gc.FeedError, match=r"input 'x' axis 1.*matmul.*== 64"):
        f(np.ones((2, 3), "float32"))


def test_float_class_labels_are_refused_when_built() -> None:
    logits = gc.placeholder((None, 4), name="logits")
    labels = gc.placeholder((None,), "float32", name="labels")
    with pytest.raises(gc.ShapeError, match=r"cross_entropy: .*integers.*one-hot.*test_dims"):
        gc.losses.cross_entropy(logits, labels)


def test_contradicting_assumptions_are_refused_when_the_graph_is_built() -> None:
    x = gc.placeholder((None,), name="x")
    a = x + gc.constant(np.ones(3, np.float32))            # x's dim: 1 or 3
    b = gc.concatenate([gc.reshape(x, (-1, 1)), gc.constant(np.ones((2, 1), np.float32))], 1)
    with pytest.raises(gc.ShapeError, match="assumes"):
        gc.Graph([x], [a, b])


def test_assumptions_live_on_nodes_not_in_a_global_table() -> None:
    x = gc.placeholder((None, 3), name="x")
    y = gc.placeholder((None, 3), name="y")
    lonely = gc.Graph([x, y], [x * 2, y * 2])              # never combined: nothing assumed
    gc.compile(lonely)(np.ones((2, 3), "float32"), np.ones((5, 3), "float32"))
    joined = x + y
    assert joined.assumes and not (x * 2).assumes
    gc.compile(lonely)(np.ones((2, 3), "float32"), np.ones((5, 3), "float32"))


def test_symbols_print_as_themselves_so_files_round_trip() -> None:
    x = gc.placeholder((None, 3), name="x")
    y = gc.placeholder((None,), "int64", name="y")
    graph = gc.Graph([x, y], [gc.mean(gc.losses.cross_entropy(x, y))])
    text = str(graph)
    assert "%x: f32[?1,3], %y: i64[?2]" in text      # assumed equal, but two symbols
    assert str(gc.parse(text)) == text
