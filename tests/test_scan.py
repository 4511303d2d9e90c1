"""gc.scan: values against NumPy loops, closed-over inputs, errors, BPTT by finite differences."""
from __future__ import annotations

import re

import numpy as np
import pytest

import graphc as gc
from graphc.testing import check_grad

RNG = np.random.default_rng(0)


def run(backend, inputs, outputs, *arrays):
    return gc.compile(inputs, outputs, backend=backend)(*arrays)


# ---- values -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name, fn, init, reference", [
    ("cumsum", lambda c, x: (c + x, c + x), np.zeros(3), lambda x: np.cumsum(x, axis=0)),
    ("cumprod", lambda c, x: (c * x, c * x), np.ones(3), lambda x: np.cumprod(x, axis=0)),
])
def test_cumulative(backend, name, fn, init, reference) -> None:
    xs = RNG.uniform(0.5, 1.5, (6, 3))
    x = gc.placeholder(xs.shape, "float64", name="xs")
    final, ys = gc.scan(fn, gc.constant(init), x)
    got_final, got_ys = run(backend, [x], [final, ys], xs)
    np.testing.assert_allclose(got_ys, reference(xs), rtol=1e-12)
    np.testing.assert_allclose(got_final, reference(xs)[-1], rtol=1e-12)


def linear_recurrence(h0, xs, A, B):
    """h_t = A h_{t-1} + B x_t, batched: h (N, H), x_t (N, F); returns (final h, all h)."""
    h, hs = h0, []
    for x in xs:
        h = h @ A + x @ B
        hs.append(h)
    return h, np.stack(hs)


def test_linear_recurrence_with_symbolic_dims(backend) -> None:
    h0, xs = RNG.normal(size=(2, 4)), RNG.normal(size=(7, 2, 3))
    A, B = RNG.normal(size=(4, 4)) * 0.5, RNG.normal(size=(3, 4))
    h = gc.placeholder((None, 4), "float64", name="h0")
    x = gc.placeholder((None, None, 3), "float64", name="xs")      # symbolic T and batch
    Av, Bv = gc.variable(A, name="A"), gc.variable(B, name="B")
    final, ys = gc.scan(lambda c, x_t: (c @ Av + x_t @ Bv,) * 2, h, x)
    assert ys.shape[0] == x.shape[0]
    f = gc.compile([h, x], [final, ys], backend=backend)
    for steps, batch in ((7, 2), (3, 5)):                           # one compile, new T and N
        h0, xs = RNG.normal(size=(batch, 4)), RNG.normal(size=(steps, batch, 3))
        want_final, want_ys = linear_recurrence(h0, xs, A, B)
        got_final, got_ys = f(h0, xs)
        np.testing.assert_allclose(got_final, want_final, rtol=1e-12)
        np.testing.assert_allclose(got_ys, want_ys, rtol=1e-12)


def test_several_carries_sequences_and_outputs(backend) -> None:
    xs, ws = RNG.normal(size=(5, 3)), RNG.normal(size=(5,))
    x, w = gc.placeholder(xs.shape, "float64"), gc.placeholder(ws.shape, "float64")
    init = (gc.constant(np.zeros(3)), gc.constant(np.array(1.0)), gc.constant(np.int64(0)))

    def step(carry, inputs):
        total, scale, count = carry
        x_t, w_t = inputs
        return (total + x_t * w_t, scale * w_t, count + 1), (total, gc.sum(x_t))

    (total, scale, count), (before, sums) = gc.scan(step, init, (x, w))
    got = run(backend, [x, w], [total, scale, count, before, sums], xs, ws)
    weighted = np.cumsum(xs * ws[:, None], axis=0)
    np.testing.assert_allclose(got[0], weighted[-1], rtol=1e-12)
    np.testing.assert_allclose(got[1], np.prod(ws), rtol=1e-12)
    assert got[2] == 5 and got[2].dtype == np.int64
    np.testing.assert_allclose(got[3], np.vstack([np.zeros(3), weighted[:-1]]), rtol=1e-12)
    np.testing.assert_allclose(got[4], xs.sum(axis=1), rtol=1e-12)


def test_reverse_and_map_without_carry(backend) -> None:
    xs = RNG.normal(size=(6, 2))
    x = gc.placeholder(xs.shape, "float64")
    final, ys = gc.scan(lambda c, x_t: (c + x_t, c + x_t), gc.constant(np.zeros(2)), x,
                        reverse=True)
    none, squares = gc.scan(lambda c, x_t: ((), x_t * x_t), (), x)
    assert none == ()
    got_final, got_ys, got_squares = run(backend, [x], [final, ys, squares], xs)
    np.testing.assert_allclose(got_ys, np.cumsum(xs[::-1], axis=0)[::-1], rtol=1e-12)
    np.testing.assert_allclose(got_final, xs.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(got_squares, xs ** 2, rtol=1e-12)


def test_scan_over_constants_is_not_folded_into_garbage(backend) -> None:
    xs = np.arange(6.0).reshape(3, 2)
    final, ys = gc.scan(lambda c, x: (c + x, c * x), gc.constant(np.ones(2)), gc.constant(xs))
    got_final, got_ys = run(backend, [], [final, ys])
    np.testing.assert_allclose(got_final, 1 + xs.sum(axis=0))
    before = 1 + np.vstack([np.zeros(2), np.cumsum(xs, axis=0)[:-1]])
    np.testing.assert_allclose(got_ys, before * xs)


def test_empty_sequence(backend) -> None:
    x = gc.placeholder((None, 2), "float64")
    final, ys = gc.scan(lambda c, x_t: (c + x_t, c * 2), gc.constant(np.ones(2)), x)
    got_final, got_ys = run(backend, [x], [final, ys], np.zeros((0, 2)))
    np.testing.assert_array_equal(got_final, np.ones(2))
    assert got_ys.shape == (0, 2)


# ---- the body graph ---------------------------------------------------------------------------

def find_scan(inputs, output) -> gc.Tensor:
    return next(n for n in gc.Graph(inputs, [output]).nodes if n.op == "scan")


def test_closed_over_tensors_become_inputs_and_graph_size_is_constant() -> None:
    sizes = []
    for steps in (3, 300):
        x = gc.placeholder((steps, 4), "float32", name="x")
        W = gc.variable(np.eye(4, dtype=np.float32), name="W")
        b = gc.placeholder((4,), "float32", name="b")
        scale = gc.exp(b)                      # computed outside, used inside
        final, _ = gc.scan(lambda c, x_t: (gc.tanh(c @ W + x_t * scale + c * b), None),
                           gc.constant(np.zeros(4, np.float32)), x, params=[W])
        node = find_scan([x, b], final)
        body = node.attrs["body"]
        assert node.inputs[2] is W             # the listed param first, then found ones
        assert {id(t) for t in node.inputs[3:]} == {id(scale), id(b)}
        assert all(n.op != "variable" for n in body.nodes)
        assert len(body.inputs) == len(node.inputs)
        sizes.append(len(gc.Graph([x, b], [final]).nodes))
    assert sizes[0] == sizes[1]


def test_loop_invariant_parts_of_the_body_are_computed_once() -> None:
    x = gc.placeholder((5, 3), "float64")
    W = gc.variable(np.ones((3, 3)), name="W")
    final, _ = gc.scan(lambda c, x_t: (c + x_t @ gc.transpose(W * 2), None),
                       gc.constant(np.zeros(3)), x)
    node = find_scan([x], final)
    assert [t.op for t in node.inputs[2:]] == ["transpose"]
    assert {n.op for n in node.attrs["body"].nodes} == {"placeholder", "reshape", "matmul", "add"}


@pytest.mark.parametrize("fn, init, xs, error, match", [
    (lambda c, x: (c + x, None), np.zeros(2, np.float32), np.zeros((3, 2)), gc.DTypeError,
     "carry 0 from float32 into float64"),
    (lambda c, x: (gc.concatenate([c, x]), None), np.zeros(2), np.zeros((3, 2)), gc.ShapeError,
     r"carry 0 of shape \(2,\) into shape \(4,\)"),
    (lambda c, x: c + x, np.zeros(2), np.zeros((3, 2)), gc.GraphError, "must return a pair"),
    (lambda c, x: ((c, c), None), np.zeros(2), np.zeros((3, 2)), gc.GraphError,
     "2 carries for 1"),
    (lambda c, x: (c, None), np.zeros(2), np.float64(1), gc.ShapeError, "leading axis"),
    (lambda c, x: ((), None), (), np.zeros((3, 2)), gc.GraphError, "neither"),
])
def test_errors(fn, init, xs, error, match) -> None:
    init = tuple(gc.constant(i) for i in init) if isinstance(init, tuple) else gc.constant(init)
    with pytest.raises(error, match=match):
        gc.scan(fn, init, gc.constant(xs))


def test_sequences_of_different_lengths_are_rejected() -> None:
    a, b = gc.placeholder((3, 2), "float64"), gc.placeholder((4, 2), "float64")
    with pytest.raises(gc.ShapeError, match="different lengths"):
        gc.scan(lambda c, x: (c + x[0] * x[1], None), gc.constant(np.zeros(2)), (a, b))


# ---- gradients (backpropagation through time) -------------------------------------------------

def rnn(reverse=False):
    """A small tanh RNN scanned over xs, closing over W: returns (final carry, ys)."""
    def fn(h0, xs, W):
        return gc.scan(lambda h, x: (gc.tanh(h @ W + x), h * x), h0, xs, reverse=reverse)
    return fn


ARGS = lambda: [RNG.normal(size=(2, 3)), RNG.normal(size=(5, 2, 3)),  # noqa: E731
                RNG.normal(size=(3, 3)) * 0.7]


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("result", ["final", "ys", "both"])
def test_grad_wrt_init_xs_and_closed_over(backend, reverse, result) -> None:
    pick = {"final": lambda f, y: f, "ys": lambda f, y: y,
            "both": lambda f, y: gc.sum(f * f) + gc.sum(gc.sin(y))}[result]
    check_grad(lambda *a: pick(*rnn(reverse)(*a)), ARGS(), backend=backend)


def test_grad_through_several_carries_with_an_int_counter(backend) -> None:
    def fn(a0, xs, w):
        def step(carry, x):
            a, b, n = carry
            return (a * gc.cos(x) + b * w, gc.sigmoid(a + x), n + 1), a * b
        (a, b, n), ys = gc.scan(step, (a0, a0 * 2, gc.constant(np.int64(0))), xs)
        return gc.sum(a) + gc.sum(b * b) + gc.sum(ys) * gc.cast(n, "float64")
    check_grad(fn, [RNG.normal(size=(3,)), RNG.normal(size=(4, 3)), RNG.normal(size=(3,))],
               backend=backend)


def test_second_order_grad_through_scan(backend) -> None:
    def fn(h0, xs, W):
        final, ys = rnn()(h0, xs, W)
        gW = gc.grad(gc.sum(final * final) + gc.sum(ys), W)
        return gc.sum(gW * gW)
    check_grad(fn, ARGS(), backend=backend)


def test_grad_of_nested_scans(backend) -> None:
    def fn(c0, xs, W):
        def outer(c, x):
            inner, _ = gc.scan(lambda h, xi: (gc.tanh(h * xi + c), None), c, x)
            return inner @ W, inner
        final, ys = gc.scan(outer, c0, xs)
        return gc.sum(final) + gc.sum(ys * ys)
    check_grad(fn, [RNG.normal(size=(3,)), RNG.normal(size=(4, 2, 3)),
                    RNG.normal(size=(3, 3)) * 0.5], backend=backend)


def test_grad_wrt_variable_matches_unrolled_loop(backend) -> None:
    W = gc.variable(RNG.normal(size=(3, 3)) * 0.5, name="W")
    h0 = gc.placeholder((2, 3), "float64")
    xs = gc.placeholder((6, 2, 3), "float64")
    final, _ = gc.scan(lambda h, x: (gc.tanh(h @ W + x), None), h0, xs)
    h = h0
    for t in range(6):
        h = gc.tanh(h @ W + xs[t])
    grads = gc.grad(gc.sum(final * final), W), gc.grad(gc.sum(h * h), W)
    args = RNG.normal(size=(2, 3)), RNG.normal(size=(6, 2, 3))
    scanned, unrolled = gc.compile([h0, xs], list(grads), backend=backend)(*args)
    np.testing.assert_allclose(scanned, unrolled, rtol=1e-12)


# ---- residuals: the backward loop reads what the forward loop stored ---------------------------

def test_backward_body_reads_stored_residuals_instead_of_recomputing() -> None:
    h0, xs, W = (gc.placeholder(a.shape, "float64") for a in ARGS())
    final, _ = rnn()(h0, xs, W)
    g = gc.grad(gc.sum(final * final), W)
    backward = [n for n in gc.Graph([h0, xs, W], [g]).nodes
                if n.op == "scan" and n.attrs["reverse"]]
    assert len(backward) == 1
    body = backward[0].attrs["body"]
    # the forward step h @ W, tanh(...) is not redone (h^T @ g, W's gradient, reads h)
    assert not any(n.op in ("tanh", "matmul") and n.inputs[0].name == "carry0"
                   and not n.attrs.get("transpose_a") for n in body.nodes)
    assert any(t.name.startswith("res") for t in body.inputs)


def test_forward_kernel_stores_only_requested_residuals(backend) -> None:
    from backends.numpy.kernels import IMPL
    from graphc.ops.scan import residual_result, step_nodes

    h0, xs, W = ARGS()
    final, _ = rnn()(*(gc.constant(a) for a in (h0, xs, W)))
    node = final.inputs[0]
    tanh = next(p for p, n in enumerate(step_nodes(node.attrs["body"])) if n.op == "tanh")
    dims = object.__new__(type("Dims", (), {"__call__": lambda self, s: lambda: tuple(s)}))
    scan = IMPL["scan"](node, dims)
    feeds = [i.value for i in node.inputs]
    assert scan(*feeds)[-1] == {}  # inference: nothing stored
    IMPL["scan_result"](residual_result(node, tanh), dims)
    results = scan(*feeds)
    expected = np.stack([np.tanh(h @ W + x) for h, x in zip(results[-2], xs)])
    np.testing.assert_allclose(results[-1][tanh], expected, rtol=1e-12)
    np.testing.assert_allclose(results[-1][tanh][:-1], results[-2][1:], rtol=1e-12)


def test_grad_of_a_residual_result_by_finite_differences(backend) -> None:
    from graphc.ops.scan import residual_result, step_nodes

    def fn(h0, xs, W):
        final, _ = rnn()(h0, xs, W)
        node = final.inputs[0]
        tanh = next(p for p, n in enumerate(step_nodes(node.attrs["body"])) if n.op == "tanh")
        return gc.sum(gc.sin(residual_result(node, tanh)))
    check_grad(fn, ARGS(), backend=backend)


def test_native_forward_body_is_fused_when_the_gradient_reads_its_residuals() -> None:
    """The forward loop's body, whose residuals the backward loop reads, still runs as fused
    kernels natively (its residuals are outputs by then), with the interpreter's values."""
    def lstm_like(h0, xs, W):
        def step(h, x):
            z = h @ W + x
            return gc.sigmoid(z) * gc.tanh(z) + gc.sigmoid(-z) * h, h * x
        final, ys = gc.scan(step, h0, xs)
        return gc.sum(final * final) + gc.sum(gc.sin(ys))
    args = ARGS()
    h0, xs, W = (gc.placeholder(a.shape, "float64") for a in args)
    outputs = [lstm_like(h0, xs, W), *gc.grad(lstm_like(h0, xs, W), [h0, xs, W])]
    native = gc.compile([h0, xs, W], outputs, backend="llvm")
    body_kernels = re.findall(r"define [^@]*@\"?k\d+_scan\.k\d+_(\w+)\(", native.llvm_ir())
    forward = [k for k in body_kernels if not k.startswith(("fused", "matmul"))]
    assert "fused_elementwise" in body_kernels and not {"sigmoid", "tanh"} & set(forward)
    for got, expected in zip(native(*args), gc.compile([h0, xs, W], outputs)(*args)):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


# ---- closed-over weights: one product after the backward loop ----------------------------------

def wide_rnn(reverse=False):
    """An RNN whose 16 x 16 weights meet the carry (h @ W), the sequence (x @ V) and a forward
    value (tanh(x) @ U): each weight's adjoint is a product per step, stacked instead."""
    def fn(h0, xs, W, V, U):
        def step(h, x):
            h = gc.tanh(h @ W + x @ V + gc.tanh(x) @ U)
            return h, h * 0.5
        return gc.scan(step, h0, xs, reverse=reverse)
    return fn


WIDE = lambda: [RNG.normal(size=(2, 16)), RNG.normal(size=(4, 2, 16)),  # noqa: E731
                *(RNG.normal(size=(16, 16)) * 0.25 for _ in range(3))]


def test_weight_adjoints_are_one_product_after_the_loop() -> None:
    h0, xs, W, V, U = (gc.placeholder(a.shape, "float64") for a in WIDE())
    final, ys = wide_rnn()(h0, xs, W, V, U)
    grads = gc.grad(gc.sum(final * final) + gc.sum(gc.sin(ys)), [W, V, U])
    nodes = gc.Graph([h0, xs, W, V, U], grads).nodes
    backward = [n for n in nodes if n.op == "scan" and n.attrs["reverse"]]
    assert len(backward) == 2          # one per result: the final carry and the ys
    for scan in backward:
        assert not any(n.op == "matmul" and n.shape == (16, 16)
                       for n in scan.attrs["body"].nodes)
    after = [n for n in nodes if n.op == "matmul" and n.shape == (16, 16)]
    assert len(after) == 6 and all(n.inputs[0].shape == (8, 16) for n in after)


def test_a_stacked_operand_that_is_a_sequence_adjoint_is_stacked_once(backend) -> None:
    """In h = tanh(h @ W + x_t), as in an LSTM fed x @ W_ih, W's B_t is x_t's adjoint: the
    backward loop stacks it once, for the product and for the gradient of xs alike."""
    def loss(h0, xs, W):
        final, _ = gc.scan(lambda h, x: (gc.tanh(h @ W + x), None), h0, xs)
        return gc.sum(final * final)
    args = [RNG.normal(size=(2, 16)), RNG.normal(size=(4, 2, 16)), RNG.normal(size=(16, 16)) / 4]
    h0, xs, W = (gc.placeholder(a.shape, "float64") for a in args)
    nodes = gc.Graph([h0, xs, W], gc.grad(loss(h0, xs, W), [xs, W])).nodes
    (backward,) = [n for n in nodes if n.op == "scan" and n.attrs["reverse"]]
    outputs = backward.attrs["body"].outputs
    assert len({id(t) for t in outputs}) == len(outputs) == 2    # dh, and dpre stacked once
    check_grad(loss, args, wrt=[1, 2], backend=backend)


@pytest.mark.parametrize("reverse", [False, True])
def test_stacked_weight_adjoints_match_finite_differences(backend, reverse) -> None:
    check_grad(lambda *a: gc.sum(gc.sin(wide_rnn(reverse)(*a)[1])), WIDE(), wrt=[2, 3, 4],
               backend=backend)


@pytest.mark.parametrize("reverse", [False, True])
def test_stacked_weight_adjoints_match_the_unrolled_loop(backend, reverse) -> None:
    args = WIDE()
    h0, xs, W, V, U = (gc.placeholder(a.shape, "float64") for a in args)
    final, ys = wide_rnn(reverse)(h0, xs, W, V, U)
    h, outs = h0, []
    for t in (range(3, -1, -1) if reverse else range(4)):
        h = gc.tanh(h @ W + xs[t] @ V + gc.tanh(xs[t]) @ U)
        outs.append(h * 0.5)
    loss_scan = gc.sum(final * final) + gc.sum(gc.sin(ys))
    loss_unrolled = gc.sum(h * h) + sum(gc.sum(gc.sin(o)) for o in outs)
    wrt = [h0, xs, W, V, U]
    f = gc.compile(wrt, gc.grad(loss_scan, wrt) + gc.grad(loss_unrolled, wrt), backend=backend)
    got = f(*args)
    for a, b in zip(got[:5], got[5:]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def biased_rnn(h0, xs, W, b, c):
    """Biases inside the step: b over the batch and time, c (16,) scaling h by column."""
    final, ys = gc.scan(lambda h, x: (gc.tanh(h @ W + x + b) * c,) * 2, h0, xs)
    return gc.sum(final * final) + gc.sum(gc.sin(ys))


BIASED = lambda: [RNG.normal(size=(3, 16)), RNG.normal(size=(4, 3, 16)),  # noqa: E731
                  RNG.normal(size=(16, 16)) / 4, RNG.normal(size=16), RNG.normal(size=16)]


def test_bias_adjoints_are_summed_after_the_loop(backend) -> None:
    """A closed-over bias's adjoint sums a per-step value over the batch: the backward loop
    stacks that value and one sum over steps and batch follows it, so the loop sums nothing
    across the batch. Values match finite differences."""
    args = BIASED()
    inputs = [gc.placeholder(a.shape, "float64") for a in args]
    nodes = gc.Graph(inputs, gc.grad(biased_rnn(*inputs), inputs[3:])).nodes
    backward = [n for n in nodes if n.op == "scan" and n.attrs["reverse"]]
    assert backward and not any(n.op == "sum" for scan in backward
                                for n in scan.attrs["body"].nodes)
    assert any(n.op == "sum" and n.attrs["axes"] == (0, 1) for n in nodes)
    check_grad(biased_rnn, args, wrt=[0, 1, 2, 3, 4], backend=backend)


def test_second_order_through_stacked_adjoints(backend) -> None:
    """The stacked operands are ordinary per-step outputs: they differentiate again."""
    def fn(h0, xs, W, V, U):
        final, ys = wide_rnn()(h0, xs, W, V, U)
        gW = gc.grad(gc.sum(final * final) + gc.sum(gc.sin(ys)), W)
        return gc.sum(gW * gW)
    check_grad(fn, WIDE(), wrt=[0, 1, 3], backend=backend, rtol=1e-4, atol=1e-6)


def test_a_sequence_the_backward_body_does_not_read_is_not_copied() -> None:
    """The backward scan is handed the forward sequences; a strided one its body never reads
    (x_t of h = tanh(h @ W + x_t)) gets no contiguous copy, the forward loop's only."""
    x = gc.placeholder((2, 4, 16), "float32")
    h0 = gc.placeholder((2, 16), "float32")
    W = gc.variable(RNG.normal(size=(16, 16)).astype("float32") / 4)
    final, _ = gc.scan(lambda h, x_t: (gc.tanh(h @ W + x_t), None), h0,
                       gc.transpose(x, (1, 0, 2)))
    loss = gc.sum(final * final)
    f = gc.compile([h0, x], gc.grad(loss, [h0, x, W]), backend="llvm")
    copies = [s for s in f.plan.steps if ".in" in s.name and s.out.shape == (4, 2, 16)]
    assert len(copies) == 1
    args = [RNG.normal(size=s).astype("float32") for s in ((2, 16), (2, 4, 16))]
    reference = gc.compile([h0, x], gc.grad(loss, [h0, x, W]), backend="numpy")
    for got, want in zip(f(*args), reference(*args)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("reverse", [False, True])
def test_carries_living_in_their_histories_at_every_length(reverse) -> None:
    """The native loop keeps a carry whose history the gradient reads in that history (no
    copy per step): final carries, ys and gradients as the interpreter's for 0, 1 and 4 steps."""
    h0, W = gc.placeholder((2, 3), "float64"), gc.placeholder((3, 3), "float64")
    xs = gc.placeholder((None, 2, 3), "float64")
    final, ys = rnn(reverse)(h0, xs, W)
    outputs = [final, ys, *gc.grad(gc.sum(final * final) + gc.sum(ys), [h0, W])]
    native = gc.compile([h0, xs, W], outputs, backend="llvm")
    reference = gc.compile([h0, xs, W], outputs)
    for steps in (0, 1, 4):
        args = [RNG.normal(size=(2, 3)), RNG.normal(size=(steps, 2, 3)), RNG.normal(size=(3, 3))]
        for got, want in zip(native(*args), reference(*args)):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


# ---- native: a body keeping the batch's rows apart runs in pieces of the batch -----------------

def batch_rnn(body, width=16):
    """A scan over xs (T, N, width) of body(h, x_t, W, bias), where bias (N, width) is
    closed over; its final h, ys, and the gradients of a loss of both."""
    h0 = gc.placeholder((None, width), "float32", name="h0")
    xs = gc.placeholder((None, h0.shape[0], width), "float32", name="xs")
    bias = gc.placeholder((h0.shape[0], width), "float32", name="bias")
    W = gc.placeholder((width, width), "float32", name="W")
    final, ys = gc.scan(lambda h, x_t: (body(h, x_t, W, bias),) * 2, h0, xs)
    loss = gc.sum(final * final) + gc.sum(gc.sin(ys))
    inputs = [h0, xs, bias, W]
    return inputs, [final, ys, *gc.grad(loss, inputs)]


def batch_args(batch, steps=5, width=16):
    shapes = [(batch, width), (steps, batch, width), (batch, width), (width, width)]
    return [(RNG.normal(size=s) / (4 if s == (width, width) else 1)).astype("float32")
            for s in shapes]


def close(got, want) -> None:
    """float32 sums over the batch and the steps: errors relative to the largest value."""
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * np.abs(want).max(initial=1.0))


def scans_in_pieces(native) -> set[bool]:
    """Whether each scan (forward and backward: at least two) runs in pieces of the batch."""
    found = [s.scratch["rows"] is not None for s in native.plan.steps
             if s.node is not None and s.node.op == "scan"]
    assert len(found) >= 2
    return set(found)


def row_wise(h, x_t, W, bias):
    z = h @ W + x_t
    return gc.sigmoid(z) * gc.tanh(h + bias) + 0.5 * h


@pytest.mark.parametrize("batch", [0, 1, 17, 32, 50, 100])
def test_a_body_keeping_rows_apart_runs_in_pieces_with_the_interpreters_values(batch) -> None:
    """Forward and backward loops both run on pieces of the batch (up to 4, of 16 rows or
    more: 17 rows are one piece, 50 three, 100 four), each piece with its own rows of the
    carries, sequences, closed-over bias and results, and its own part of the arena."""
    from backends.llvm import parallel
    inputs, outputs = batch_rnn(row_wise)
    native = gc.compile(inputs, outputs, backend="llvm")
    assert scans_in_pieces(native) == {True}
    reference = gc.compile(inputs, outputs)
    args = batch_args(batch)
    with parallel.settings(min_work=0):
        got = native(*args)
    for g, want in zip(got, reference(*args)):
        close(g, want)


def test_pieces_give_the_same_bits_on_any_number_of_threads() -> None:
    """The pieces follow the batch size alone: one thread running all of them in order and
    the team sharing them give the same bits; the team runs the loop when work is big."""
    from backends.llvm import parallel
    inputs, outputs = batch_rnn(row_wise, width=64)
    native = gc.compile(inputs, outputs, backend="llvm")
    args = batch_args(64, steps=8, width=64)
    with parallel.settings(threads=1):
        alone = native(*args)
    before = parallel.team_runs()
    with parallel.settings(threads=2, min_work=0):
        shared = native(*args)
    if parallel.available():
        assert parallel.team_runs() > before
    for a, b in zip(alone, shared):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name, body", [
    ("minus the batch mean", lambda h, x_t, W, bias: gc.tanh(h @ W + x_t)
     - gc.mean(h, axis=0) + bias),
    ("rows reversed", lambda h, x_t, W, bias: gc.tanh(h[::-1] @ W + x_t) * bias),
])
def test_a_body_mixing_rows_runs_on_the_whole_batch(name, body) -> None:
    """A body reading other rows of the batch is not cut into pieces: each row still sees the
    whole batch, as in the interpreter."""
    from backends.llvm import parallel
    inputs, outputs = batch_rnn(body)
    native = gc.compile(inputs, outputs, backend="llvm")
    assert scans_in_pieces(native) == {False}
    args = batch_args(64)
    with parallel.settings(min_work=0):
        got = native(*args)
    for g, want in zip(got, gc.compile(inputs, outputs)(*args)):
        close(g, want)


def test_an_lstm_over_a_batch_runs_in_pieces() -> None:
    """gc.nn.LSTM's loops run in pieces, with the interpreter's values; each piece has an
    arena for its own rows, together about the size of one for the whole batch."""
    from graphc import dims as D
    x = gc.placeholder((None, 6, 8), "float32")
    lstm = gc.nn.LSTM(8, 16, seed=0)
    loss = gc.sum(lstm(x) ** 2)
    native = gc.compile([x], [loss, *gc.grad(loss, lstm.trainable_variables)], backend="llvm")
    assert scans_in_pieces(native) == {True}
    arenas = [(s.scratch["plan"].arena_size, s.scratch["arena"].shape[0])
              for s in native.plan.steps if s.node is not None and s.node.op == "scan"]
    sized = [(body, pieces) for body, pieces in arenas if D.symbols(body)]
    assert sized                         # (the backward body's; the forward's is empty)
    for body, pieces in sized:
        at = dict.fromkeys(D.symbols(body), 4096)
        assert D.evaluate(body, at) <= D.evaluate(pieces, at) <= 1.1 * D.evaluate(body, at)
    data = RNG.normal(size=(40, 6, 8)).astype("float32")
    reference = gc.compile([x], [loss, *gc.grad(loss, lstm.trainable_variables)])
    for got, want in zip(native(data), reference(data)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_a_weight_the_backward_body_reads_transposed_is_transposed_once() -> None:
    """dh = dz @ W.T in the backward body: W is transposed once before the loop and each
    step's product reads it without the flag; a W also read otherwise (as a product's a,
    here) stays as it is."""
    def step_nodes(native):
        return [s for s in native.plan.steps if s.node is not None and s.node.op == "scan"]

    inputs, outputs = batch_rnn(row_wise)
    native = gc.compile(inputs, outputs, backend="llvm")
    backward = [s for s in step_nodes(native) if s.scratch["transposed"]]
    assert backward and all(list(s.scratch["transposed"]) == [len(s.node.inputs) - 2]
                            for s in backward)          # W, before the bias
    for s in backward:
        body = s.scratch["plan"].graph
        products = [n for g in [body] + [n.attrs["body"] for n in body.nodes if n.op == "fused"]
                    for n in g.nodes if n.op == "matmul"]
        assert products and not any(n.attrs["transpose_b"] for n in products)
    args = batch_args(20)
    for got, want in zip(native(*args), gc.compile(inputs, outputs)(*args)):
        close(got, want)

    inputs, outputs = batch_rnn(lambda h, x_t, W, bias: gc.tanh(h @ W + x_t)
                                + gc.transpose(W @ gc.transpose(h)) * bias)
    native = gc.compile(inputs, outputs, backend="llvm")
    assert not any(s.scratch["transposed"] for s in step_nodes(native))
    for got, want in zip(native(*args), gc.compile(inputs, outputs)(*args)):
        close(got, want)


def test_small_weight_adjoints_are_stacked_too_so_the_loop_runs_in_pieces() -> None:
    """U (4 x 16) is too small for merging copies to pay in an unrolled loop, but a scan's
    steps write their operands straight into the stacks: its adjoint is one product after
    the loop too, no carry in the backward loop sums over the batch, and both loops run in
    pieces, with the interpreter's values."""
    h0 = gc.placeholder((None, 16), "float32")
    xs = gc.placeholder((None, h0.shape[0], 4), "float32")
    W = gc.placeholder((16, 16), "float32")
    U = gc.placeholder((4, 16), "float32")
    final, ys = gc.scan(lambda h, x: (gc.tanh(h @ W + x @ U),) * 2, h0, xs)
    loss = gc.sum(final * final) + gc.sum(gc.sin(ys))
    inputs = [h0, xs, W, U]
    grads = gc.grad(loss, [W, U])
    backward = [n for n in gc.Graph(inputs, grads).nodes if n.op == "scan" and n.attrs["reverse"]]
    assert backward and all(n.attrs["num_carry"] == 1 for n in backward)     # dh alone
    native = gc.compile(inputs, grads, backend="llvm")
    assert scans_in_pieces(native) == {True}
    args = [RNG.normal(size=s).astype("float32") for s in ((40, 16), (6, 40, 4))]
    args += [RNG.normal(size=(16, 16)).astype("float32") / 4,
             RNG.normal(size=(4, 16)).astype("float32") / 2]
    for got, want in zip(native(*args), gc.compile(inputs, grads)(*args)):
        close(got, want)


def test_an_embedding_inside_the_step_runs_in_pieces_and_reports_a_bad_token() -> None:
    """Tokens (T, N) looked up in a table each step: each row reads its own tokens, and the
    table's adjoint is scattered for all steps after the loop, so both loops run in pieces,
    with the unrolled loop's values; a token out of range is an IndexRangeError."""
    from backends.llvm import parallel
    tokens = gc.placeholder((None, None), "int64", name="tokens")
    h0 = gc.placeholder((tokens.shape[1], 16), "float32", name="h0")
    E = gc.variable(RNG.normal(size=(10, 16)).astype("float32"), name="E")
    W = gc.variable(RNG.normal(size=(16, 16)).astype("float32") / 4, name="W")
    final, _ = gc.scan(lambda h, t: (gc.tanh(h @ W + gc.take(E, t, axis=0)), None), h0, tokens)
    loss = gc.sum(final * final)
    grads = gc.grad(loss, [E, W])
    native = gc.compile([tokens, h0], [loss, *grads], backend="llvm")
    assert scans_in_pieces(native) == {True}
    steps = gc.placeholder((5, None), "int64")
    h = h0
    for t in range(5):                  # the loop unrolled: per-step gathers and scatters
        h = gc.tanh(h @ W + gc.take(E, steps[t], axis=0))
    unrolled = gc.compile([steps, h0], [gc.sum(h * h), *gc.grad(gc.sum(h * h), [E, W])])
    feeds = [RNG.integers(0, 10, size=(5, 40)), RNG.normal(size=(40, 16)).astype("float32")]
    want = unrolled(*feeds)
    with parallel.settings(min_work=0):         # the team takes the pieces, however small
        for got in (gc.compile([tokens, h0], [loss, *grads])(*feeds), native(*feeds)):
            for g, w in zip(got, want):
                close(g, w)
        feeds[0][3, 33] = 10
        with pytest.raises(gc.IndexRangeError):
            native(*feeds)


@pytest.mark.parametrize("reverse", [False, True])
def test_pieces_with_two_carries_a_row_reduction_and_per_step_sums(reverse) -> None:
    """Carries of different widths, a mean within each row, ys summed within rows, forward
    and reversed: every loop runs in pieces, float64 values as the interpreter's for batches
    of no rows, fewer than a piece, and 3 and 4 pieces."""
    from backends.llvm import parallel
    h0 = gc.placeholder((None, 16), "float64")
    c0 = gc.placeholder((h0.shape[0], 8), "float64")
    xs = gc.placeholder((None, h0.shape[0], 4), "float64")
    W, U = gc.placeholder((16, 24), "float64"), gc.placeholder((4, 24), "float64")

    def step(carry, x):
        h, c = carry
        z = h @ W + x @ U
        c = gc.tanh(z[:, 16:]) * c + gc.sigmoid(z[:, 16:])
        h = gc.tanh(z[:, :16]) * gc.mean(c, axis=1, keepdims=True)
        return (h, c), gc.sum(h, axis=1, keepdims=True)
    (h, c), ys = gc.scan(step, (h0, c0), xs, reverse=reverse)
    loss = gc.sum(h * h) + gc.sum(c) + gc.sum(gc.sin(ys))
    inputs = [h0, c0, xs, W, U]
    outputs = [h, c, ys, *gc.grad(loss, inputs)]
    native = gc.compile(inputs, outputs, backend="llvm")
    assert scans_in_pieces(native) == {True}
    reference = gc.compile(inputs, outputs)
    for batch in (0, 7, 50, 100):
        args = [RNG.normal(size=s) for s in ((batch, 16), (batch, 8), (5, batch, 4))]
        args += [RNG.normal(size=(16, 24)) / 4, RNG.normal(size=(4, 24)) / 2]
        with parallel.settings(min_work=0):
            got = native(*args)
        for g, want in zip(got, reference(*args)):
            np.testing.assert_allclose(g, want, rtol=1e-10, atol=1e-10)
