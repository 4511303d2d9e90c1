"""The simplify pass: a sum of products merges into one product of concatenated operands.

Every case compiles the same outputs with optimize=False and with the default pipeline on the
backend under test and requires equal values to rounding (the merged product sums in another
order), and counts the products and concatenates left in the optimized graph, or checks from
the pass report that the rule did not fire where it must not.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import graphc as gc
from graphc.graph import Graph
from graphc.ops.linalg import flagged_matmul
from graphc.passes import optimize
from graphc.passes.products import MIN_SIDE_RATIO, merge_products, pays
from graphc.rewrite import Context
from tests.test_simplify import random_sum

RULE = "sum of products"
RNG = np.random.default_rng(0)


def optimized(inputs, outputs) -> tuple[Counter, Graph, Counter]:
    """The optimized graph's op counts, the graph, and the rules that fired."""
    graph, report = optimize(Graph(inputs, outputs))
    assert [t.type for t in graph.outputs] == [t.type for t in outputs]
    return Counter(n.op for n in graph.nodes), graph, report.fired


def assert_close(backend, inputs, outputs, *arrays, rtol=1e-12) -> None:
    """Values with and without the optimizer agree to rounding."""
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    plain = gc.compile(inputs, outputs, backend=backend, optimize=False)(*arrays)
    fast = gc.compile(inputs, outputs, backend=backend)(*arrays)
    for a, b in zip(plain, fast):
        np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol)


def _chain(terms):
    """The terms added left to right, as autodiff accumulates."""
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def products(n: int, m: int, k: int, p: int, ta: bool, tb: bool, dtype="float64"):
    """n pairs of placeholders for op(A_t) (m x k_t) @ op(B_t) (k_t x p), k_t = k + t, and their
    products (op transposes when the flag is set)."""
    a_s, b_s, prods = [], [], []
    for t in range(n):
        kt = k + t
        a = gc.placeholder((kt, m) if ta else (m, kt), dtype, name=f"a{t}")
        b = gc.placeholder((p, kt) if tb else (kt, p), dtype, name=f"b{t}")
        a_s.append(a)
        b_s.append(b)
        prods.append(flagged_matmul(a, b, ta, tb))
    return a_s, b_s, prods


def values(placeholders) -> list[np.ndarray]:
    return [RNG.standard_normal(t.shape).astype(t.dtype) for t in placeholders]


# ---- where it fires ---------------------------------------------------------------------------

@pytest.mark.parametrize("ta, tb", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("seed", range(3))
def test_add_tree_of_products_is_one_product(backend, ta, tb, seed) -> None:
    a_s, b_s, prods = products(5, 16, 3, 24, ta, tb)
    total = random_sum(np.random.default_rng(seed), prods)
    ops, graph, fired = optimized(a_s + b_s, [total])
    assert fired[RULE] > 0
    assert (ops["matmul"], ops["concatenate"], ops["add"]) == (1, 2, 0)
    (product,) = [n for n in graph.nodes if n.op == "matmul"]
    assert (product.attrs["transpose_a"], product.attrs["transpose_b"]) == (ta, tb)
    assert [len(c.inputs) for c in product.inputs] == [5, 5]    # one concat of all, not nested
    assert_close(backend, a_s + b_s, total, *values(a_s + b_s))


def test_many_terms_give_one_concatenate_per_side(backend) -> None:
    """31 terms in a left chain, as autodiff accumulates a weight used at 31 steps."""
    a_s, b_s, prods = products(31, 16, 2, 20, True, False, "float32")
    total = prods[0]
    for p in prods[1:]:
        total = total + p
    ops, graph, _ = optimized(a_s + b_s, [total])
    assert (ops["matmul"], ops["concatenate"]) == (1, 2)
    assert all(len(n.inputs) == 31 for n in graph.nodes if n.op == "concatenate")
    assert_close(backend, a_s + b_s, total, *values(a_s + b_s), rtol=1e-4)


def test_other_terms_stay_beside_the_product(backend) -> None:
    """A bias and a product of other flags sit among the products: they are added as before."""
    a_s, b_s, prods = products(3, 16, 4, 16, False, False)
    c, d = gc.placeholder((4, 16), "float64", name="c"), gc.placeholder((16, 4), "float64",
                                                                         name="d")
    bias = gc.placeholder((16,), "float64", name="bias")
    other = flagged_matmul(c, d, True, True)
    total = prods[0] + bias + other + prods[1] + prods[2]
    inputs = a_s + b_s + [c, d, bias]
    ops, _, fired = optimized(inputs, [total])
    assert fired[RULE] > 0 and ops["matmul"] == 2 and ops["concatenate"] == 2
    assert_close(backend, inputs, total, *values(inputs))


def test_symbolic_contracted_length(backend) -> None:
    """A_t^T B_t over a batch of any size (the weight gradients of an unrolled loop)."""
    xs = [gc.placeholder((None, 16), "float32", name=f"x{t}") for t in range(4)]
    gs = [gc.placeholder((None, 32), "float32", name=f"g{t}") for t in range(4)]
    total = _chain([flagged_matmul(x, g, True, False) for x, g in zip(xs, gs)])
    ops, _, _ = optimized(xs + gs, [total])
    assert (ops["matmul"], ops["concatenate"]) == (1, 2)
    fast = gc.compile(xs + gs, total, backend=backend)
    plain = gc.compile(xs + gs, total, backend=backend, optimize=False)
    for n in (1, 5):
        feeds = [RNG.standard_normal((n,) + t.shape[1:]).astype(np.float32) for t in xs + gs]
        np.testing.assert_allclose(fast(*feeds), plain(*feeds), rtol=1e-5, atol=1e-5)


def test_equal_row_counts_stack_rows_apart(backend) -> None:
    """A_t^T B_t with n rows each: both sides stacked (n, steps, k), row i of every step
    together, so the stacks keep a batch's rows apart (graphc/passes/row_groups.py)."""
    xs = [gc.placeholder((None, 16), "float32", name=f"x{t}") for t in range(4)]
    gs = [gc.placeholder((xs[0].shape[0], 32), "float32", name=f"g{t}") for t in range(4)]
    total = _chain([flagged_matmul(x, g, True, False) for x, g in zip(xs, gs)])
    _, graph, _ = optimized(xs + gs, [total])
    (product,) = [n for n in graph.nodes if n.op == "matmul"]
    stacks = [side.inputs[0] for side in product.inputs]
    assert all(s.op == "concatenate" and s.attrs["axis"] == 1 and s.ndim == 3 for s in stacks)
    assert [s.shape[1] for s in stacks] == [4, 4]
    fast = gc.compile(xs + gs, total, backend=backend)
    plain = gc.compile(xs + gs, total, backend=backend, optimize=False)
    feeds = [RNG.standard_normal((7,) + t.shape[1:]).astype(np.float32) for t in xs + gs]
    np.testing.assert_allclose(fast(*feeds), plain(*feeds), rtol=1e-5, atol=1e-5)


def test_an_unrolled_loops_weights_share_the_steps_gradient_stack(backend) -> None:
    """z_t = x W[:, t] + h U: dW reads the gradient of z stacked over the steps (the slices'
    gradients), and dU's merged product reads that same stack, not one of its own."""
    x = gc.placeholder((None, 5, 8), "float32", name="x")
    rnn = gc.nn.SimpleRNN(8, 16, unroll=True, seed=0)
    loss = gc.sum(gc.square(rnn(x)))
    w_ih, w_hh = rnn.W_ih, rnn.W_hh
    grads = gc.grad(loss, [w_ih, w_hh])
    _, graph, fired = optimized([x], grads)
    assert fired["products on a shared stack"] > 0
    d_ih, d_hh = (graph.outputs[k].inputs[0] if graph.outputs[k].op == "reshape"
                  else graph.outputs[k] for k in range(2))
    assert d_ih.op == d_hh.op == "matmul"
    assert d_ih.inputs[1].inputs[0] is d_hh.inputs[1].inputs[0]          # one (n, 5, 16) stack
    data = RNG.standard_normal((6, 5, 8)).astype(np.float32)
    assert_close(backend, [x], grads, data, rtol=1e-4)


def test_batched_products(backend) -> None:
    a_s = [gc.placeholder((3, 16, 2 + t), "float64", name=f"a{t}") for t in range(3)]
    b_s = [gc.placeholder((2 + t, 16), "float64", name=f"b{t}") for t in range(3)]
    total = _chain([x @ y for x, y in zip(a_s, b_s)])
    ops, _, _ = optimized(a_s + b_s, [total])
    assert (ops["matmul"], ops["concatenate"]) == (1, 2)
    assert_close(backend, a_s + b_s, total, *values(a_s + b_s))


def test_weight_used_at_every_step_has_one_gradient_product(backend) -> None:
    """d/dW of sum_t f(x_t W): autodiff's add chain of x_t^T g_t becomes one product."""
    xs = [gc.placeholder((None, 16), "float64", name=f"x{t}") for t in range(6)]
    w = gc.placeholder((16, 24), "float64", name="w")
    loss = _chain([gc.sum(gc.tanh(x @ w) * (t + 1)) for t, x in enumerate(xs)])
    dw = gc.grad(loss, w)
    ops, graph, _ = optimized(xs + [w], [dw])
    assert [n.shape for n in graph.nodes if n.op == "matmul"].count((16, 24)) == 1
    feeds = [RNG.standard_normal((5, 16)) for _ in xs] + [RNG.standard_normal((16, 24))]
    assert_close(backend, xs + [w], dw, *feeds)


# ---- where it must not ------------------------------------------------------------------------

def assert_not_fired(inputs, outputs) -> None:
    _, _, fired = optimized(inputs, outputs)
    assert fired[RULE] == 0


def test_different_flags_do_not_merge(backend) -> None:
    a, b = gc.placeholder((16, 4), "float64"), gc.placeholder((4, 16), "float64")
    c, d = gc.placeholder((4, 16), "float64"), gc.placeholder((4, 16), "float64")
    total = flagged_matmul(a, b) + flagged_matmul(c, d, True, False)
    assert_not_fired([a, b, c, d], [total])
    assert_close(backend, [a, b, c, d], total, *values([a, b, c, d]))


def test_batch_dims_that_differ_do_not_merge(backend) -> None:
    """Both results are (3, 16, 16), but A_1 has a batch of 3 and A_2 of 1 (B_2 broadcasts)."""
    a1, b1 = gc.placeholder((3, 16, 4), "float64"), gc.placeholder((1, 4, 16), "float64")
    a2, b2 = gc.placeholder((1, 16, 4), "float64"), gc.placeholder((3, 4, 16), "float64")
    total = a1 @ b1 + a2 @ b2
    assert_not_fired([a1, b1, a2, b2], [total])
    assert_close(backend, [a1, b1, a2, b2], total, *values([a1, b1, a2, b2]))


def test_broadcast_product_does_not_merge() -> None:
    """A (1, 16, 16) product added to a (3, 16, 16) one is not a term of the result's type."""
    a1, b1 = gc.placeholder((3, 16, 4), "float64"), gc.placeholder((4, 16), "float64")
    a2, b2 = gc.placeholder((1, 16, 4), "float64"), gc.placeholder((4, 16), "float64")
    assert_not_fired([a1, b1, a2, b2], [a1 @ b1 + a2 @ b2])


@pytest.mark.parametrize("m, p", [(16, 1), (1, 64), (8, 8), (4, 400)])
def test_thin_results_do_not_merge(m, p) -> None:
    """Matrix-vector products and small results: copying the operands would not pay."""
    _, _, prods = products(4, m, 3, p, False, False)
    a_s = [t.inputs[0] for t in prods]
    b_s = [t.inputs[1] for t in prods]
    assert_not_fired(a_s + b_s, [_chain(prods)])


def test_symbolic_result_side_does_not_merge() -> None:
    """x_t W_t over a batch of unknown size: the result's rows are symbolic, so no merge."""
    xs = [gc.placeholder((None, 4), "float32") for _ in range(3)]
    ws = [gc.placeholder((4, 32), "float32") for _ in range(3)]
    assert_not_fired(xs + ws, [_chain([x @ w for x, w in zip(xs, ws)])])


def test_shared_product_does_not_merge() -> None:
    """A product also read elsewhere would be computed twice."""
    _, _, prods = products(2, 16, 3, 16, False, False)
    a_s = [t.inputs[0] for t in prods]
    b_s = [t.inputs[1] for t in prods]
    assert_not_fired(a_s + b_s, [prods[0] + prods[1], gc.sin(prods[0])])


# ---- the rule itself --------------------------------------------------------------------------

def test_pays() -> None:
    assert pays(128, 512) and pays(16, 16) and pays(9, 72)
    assert not pays(15, 16) and not pays(128, 1) and not pays("?1", 512)
    assert MIN_SIDE_RATIO * (16 + 16) == 16 * 16


def test_replacement_keeps_metadata_and_is_a_fixpoint() -> None:
    a_s, b_s, prods = products(3, 16, 2, 16, True, False)
    with gc.scope("cell"):
        total = _chain(prods)
    graph, _ = optimize(Graph(a_s + b_s, [total]))
    (product,) = [n for n in graph.nodes if n.op == "matmul"]
    assert (product.loc, product.scope) == (total.loc, total.scope)
    again, report = optimize(graph)
    assert again.nodes == graph.nodes and report.fired[RULE] == 0


def test_rule_without_products_gives_none() -> None:
    a, b = gc.placeholder((16, 16), "float64"), gc.placeholder((16, 16), "float64")
    total = a + b
    assert merge_products(total, Context(Graph([a, b], [total]))) is None


def test_inner_adds_leave_the_merge_to_the_root() -> None:
    """An add read only by an add of its type is merged with the whole tree, at the root."""
    a_s, b_s, prods = products(3, 16, 2, 16, False, False)
    inner = prods[0] + prods[1]
    total = inner + prods[2]
    ctx = Context(Graph(a_s + b_s, [total]))
    assert merge_products(inner, ctx) is None
    merged = merge_products(total, ctx)
    assert merged.op == "matmul" and [len(c.inputs) for c in merged.inputs] == [3, 3]
