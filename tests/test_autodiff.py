"""gc.grad: second order, broadcasting, paths without gradients, seeds and argument errors."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

RNG = np.random.default_rng(0)


def compiled(inputs, outputs, backend="numpy"):
    return gc.compile(inputs, outputs, backend=backend)


def positive(*shape):
    return RNG.uniform(0.5, 2.0, shape)


def normal(*shape):
    return RNG.standard_normal(shape)


def away_from_zero(*shape):
    return RNG.uniform(0.3, 2.0, shape) * RNG.choice([-1.0, 1.0], shape)


# Smooth functions of (x, ...): their gradient is differentiated again (second order).
SMOOTH = {
    "exp": (gc.exp, [normal(3, 4)]), "log": (gc.log, [positive(3, 4)]),
    "sqrt": (gc.sqrt, [positive(3, 4)]), "rsqrt": (gc.rsqrt, [positive(3, 4)]),
    "reciprocal": (gc.reciprocal, [away_from_zero(3, 4)]), "sin": (gc.sin, [normal(3, 4)]),
    "cos": (gc.cos, [normal(3, 4)]), "tanh": (gc.tanh, [normal(3, 4)]),
    "erf": (gc.erf, [normal(3, 4)]), "expm1": (gc.expm1, [normal(3, 4)]),
    "log1p": (gc.log1p, [positive(3, 4)]), "square": (gc.square, [normal(3, 4)]),
    "sigmoid": (gc.sigmoid, [normal(3, 4)]), "softplus": (gc.softplus, [normal(3, 4)]),
    "gelu": (gc.gelu, [normal(3, 4)]), "elu": (gc.elu, [away_from_zero(3, 4)]),
    "cube": (lambda x: x ** 3, [normal(3, 4)]),
    "power": (lambda x, y: x ** y, [positive(3, 4), normal(4)]),
    "divide": (lambda x, y: x / y, [normal(3, 4), away_from_zero(3, 1)]),
    "multiply-broadcast": (lambda x, y: x * y * x, [normal(3, 1), normal(4)]),
    "softmax": (gc.softmax, [normal(3, 4)]), "log_softmax": (gc.log_softmax, [normal(3, 4)]),
    "logsumexp": (lambda x: gc.logsumexp(x, axis=1), [normal(3, 4)]),
    "var": (lambda x: gc.var(x, axis=0), [normal(3, 4)]),
    "std": (lambda x: gc.std(x, axis=-1), [normal(3, 4)]),
    "prod": (lambda x: gc.prod(x, axis=1), [positive(3, 4)]),
    "mean-of-squares": (lambda x: gc.mean(x * x, axis=0, keepdims=True), [normal(3, 4)]),
    "max": (lambda x: gc.max(x, axis=1) ** 2, [np.arange(12.0).reshape(3, 4) % 5 * 0.5 + 0.1]),
    "matmul": (lambda a, b: gc.tanh(a @ b), [normal(2, 3, 4), normal(4, 2)]),
    "slice-pad": (lambda x: gc.pad(x[:, 1:] ** 2, 1), [normal(3, 4)]),
    "take": (lambda x: gc.take(x, gc.constant(np.array([0, 2, 2])), axis=1) ** 3, [normal(3, 4)]),
    "take_along_axis": (lambda x: gc.take_along_axis(
        x, gc.constant(np.array([[1], [0], [3]])), axis=1) ** 3, [normal(3, 4)]),
    "concatenate": (lambda x, y: gc.concatenate([x * y, y ** 3], axis=0), [normal(2, 3),
                                                                          normal(1, 3)]),
    "where": (lambda x, y: gc.where(x > 0, x * y, y ** 2), [away_from_zero(3, 4), normal(4)]),
    "cross_entropy": (lambda x: gc.losses.cross_entropy(x, gc.constant(np.array([0, 2, 1]))),
                      [normal(3, 4)]),
    "mse": (lambda p, t: gc.losses.mse(p, t), [normal(3, 2), normal(3, 2)]),
}


@pytest.mark.parametrize("name", SMOOTH)
def test_grad_of_grad_matches_finite_differences(name, backend) -> None:
    """Differentiate d/dx0 sum(c * f(x...)) again, with respect to every argument."""
    fn, args = SMOOTH[name]

    def first_derivative(*xs):
        out = fn(*xs)
        weights = np.random.default_rng(1).uniform(0.5, 1.5, out.shape)
        return gc.grad(gc.sum(out * weights), xs[0])

    gc.testing.check_grad(first_derivative, [a.copy() for a in args], backend=backend,
                          rtol=1e-4, atol=1e-6)


def test_hessian_vector_product_matches_finite_differences_of_the_gradient(backend) -> None:
    A = normal(4, 4)
    x, v = gc.placeholder((4,), "float64"), gc.placeholder((4,), "float64")
    f = 0.5 * (x @ (gc.constant(A) @ x)) + gc.sum(gc.sin(x) * x ** 3)
    g = gc.grad(f, x)
    hv = gc.grad(gc.sum(g * v), x)
    grad_fn, hvp_fn = compiled([x], g, backend), compiled([x, v], hv, backend)
    x0, v0, eps = normal(4), normal(4), 1e-5
    numeric = (grad_fn(x0 + eps * v0) - grad_fn(x0 - eps * v0)) / (2 * eps)
    np.testing.assert_allclose(hvp_fn(x0, v0), numeric, rtol=1e-6, atol=1e-8)
    hessian = 0.5 * (A + A.T) + np.diag(-np.sin(x0) * x0 ** 3 + 6 * np.cos(x0) * x0 ** 2
                                        + 6 * np.sin(x0) * x0)
    np.testing.assert_allclose(hvp_fn(x0, v0), hessian @ v0, rtol=1e-10, atol=1e-10)


def test_third_derivative_of_tanh(backend) -> None:
    x = gc.placeholder((5,), "float64")
    d1 = gc.grad(gc.sum(gc.tanh(x)), x)
    d2 = gc.grad(gc.sum(d1), x)
    d3 = gc.grad(gc.sum(d2), x)
    x0 = normal(5)
    t = np.tanh(x0)
    np.testing.assert_allclose(compiled([x], d3, backend)(x0),
                               -2 * (1 - t ** 2) ** 2 + 4 * t ** 2 * (1 - t ** 2), rtol=1e-10)


BROADCAST_PAIRS = {"column-row": ((3, 1), (1, 4)), "scalar": ((), (2, 3)),
                   "leading": ((4,), (2, 3, 4)), "both": ((2, 1, 4), (3, 1)),
                   "same": ((2, 3), (2, 3))}


@pytest.mark.parametrize("pair", BROADCAST_PAIRS)
def test_gradients_of_broadcasting_ops_sum_back_to_the_operand_shape(pair, backend) -> None:
    sa, sb = BROADCAST_PAIRS[pair]
    a0, b0 = normal(*sa), away_from_zero(*sb)
    a, b = gc.placeholder(sa, "float64"), gc.placeholder(sb, "float64")
    out = a * b + a / b - gc.maximum(a, b) + gc.where(a > b, a, b)
    ga, gb = gc.grad(gc.sum(out), [a, b])
    assert ga.type == a.type and gb.type == b.type
    got_a, got_b = compiled([a, b], [ga, gb], backend)(a0, b0)
    A, Bb = np.broadcast_arrays(a0, b0)
    wa = Bb + 1 / Bb - (A >= Bb) + (A > Bb)
    wb = A - A / Bb ** 2 - (A < Bb) + (A <= Bb)
    lead = len(A.shape)
    for got, want, shape in ((got_a, wa, sa), (got_b, wb, sb)):
        axes = tuple(range(lead - len(shape))) + tuple(
            lead - len(shape) + i for i, d in enumerate(shape) if d == 1)
        np.testing.assert_allclose(got, want.sum(axis=axes).reshape(shape), rtol=1e-12)
    gc.testing.check_grad(lambda p, q: p * q + p / q, [a0, b0], backend=backend)


def test_integer_and_boolean_paths_get_no_gradient(backend) -> None:
    x = gc.placeholder((3, 4), "float64")
    mask = gc.cast(x > 0, "float64")                     # through a comparison
    truncated = gc.cast(gc.cast(x * 3, "int32"), "float64")   # through an int cast
    picked = gc.cast(gc.argmax(x, axis=1), "float64")    # through argmax
    y = gc.sum(x * mask) + gc.sum(truncated) + gc.sum(picked) + gc.sum(gc.heaviside(x))
    g = gc.grad(y, x)
    x0 = away_from_zero(3, 4)
    np.testing.assert_array_equal(compiled([x], g, backend)(x0), (x0 > 0).astype(float))
    only_int = gc.sum(truncated) + gc.sum(gc.floor(x)) + gc.sum(gc.stop_gradient(x))
    np.testing.assert_array_equal(compiled([x], gc.grad(only_int, x), backend)(x0),
                                  np.zeros((3, 4)))


def test_wrt_that_y_does_not_depend_on_gets_zeros(backend) -> None:
    x = gc.placeholder((None, 3), "float32", name="x")
    unused = gc.placeholder((None, 2), "float32", name="unused")
    W = gc.variable(np.ones((3, 2), "float32"), name="W")
    y = gc.sum(x * 2)
    g_unused, g_x, g_w = gc.grad(y, [unused, x, W])
    assert g_unused.type == unused.type and g_w.type == W.type and g_x.type == x.type
    got = compiled([x, unused], [g_unused, g_x, g_w], backend)(np.ones((5, 3), "float32"),
                                                               np.ones((5, 2), "float32"))
    np.testing.assert_array_equal(got[0], np.zeros((5, 2), "float32"))
    np.testing.assert_array_equal(got[1], np.full((5, 3), 2, "float32"))
    np.testing.assert_array_equal(got[2], np.zeros((3, 2), "float32"))
    assert [a.dtype for a in got] == [np.float32] * 3


def test_adjoints_of_every_use_are_summed(backend) -> None:
    x = gc.placeholder((4,), "float64")
    h = x * 2
    y = gc.sum(x * x + gc.sin(x) + x + h * h)
    gx, gh = gc.grad(y, [x, h])
    x0 = normal(4)
    got_x, got_h = compiled([x], [gx, gh], backend)(x0)
    np.testing.assert_allclose(got_x, 2 * x0 + np.cos(x0) + 1 + 8 * x0, rtol=1e-12)
    np.testing.assert_allclose(got_h, 4 * x0, rtol=1e-12)


def test_float32_gradients_stay_float32(backend) -> None:
    x = gc.placeholder((2, 3), "float32")
    W = gc.variable(normal(3, 4).astype("float32"))
    y = gc.mean(gc.relu(x @ W + 0.5))
    gx, gw = gc.grad(y, [x, W])
    assert gx.dtype == gw.dtype == "float32"
    got = compiled([x], [gx, gw], backend)(normal(2, 3).astype("float32"))
    assert [a.dtype for a in got] == [np.float32, np.float32]


def test_grad_returns_a_tensor_for_a_tensor_and_a_list_for_a_list() -> None:
    x = gc.placeholder((3,), "float64")
    y = gc.sum(x * x)
    assert isinstance(gc.grad(y, x), gc.Tensor)
    result = gc.grad(y, [x])
    assert isinstance(result, list) and len(result) == 1


def test_non_scalar_y_needs_a_seed(backend) -> None:
    x = gc.placeholder((3,), "float64")
    y = gc.sin(x) * 2
    with pytest.raises(gc.GraphError, match="scalar"):
        gc.grad(y, x)
    seed = gc.placeholder((3,), "float64")
    vjp = gc.grad(y, x, seed=seed)
    x0, s0 = normal(3), normal(3)
    np.testing.assert_allclose(compiled([x, seed], vjp, backend)(x0, s0), 2 * np.cos(x0) * s0,
                               rtol=1e-12)
    with pytest.raises(gc.GraphError, match="seed"):
        gc.grad(y, x, seed=gc.placeholder((4,), "float64"))


def test_bad_arguments_raise() -> None:
    x = gc.placeholder((3,), "float64")
    i = gc.placeholder((3,), "int32")
    with pytest.raises(gc.DTypeError, match="int32"):
        gc.grad(gc.sum(x) + gc.sum(i), [i])
    with pytest.raises(gc.DTypeError, match="float"):
        gc.grad(gc.sum(i), [x])
    with pytest.raises(gc.GraphError, match="Tensor"):
        gc.grad(gc.sum(x), [np.ones(3)])


@pytest.mark.parametrize("ta, tb", [(False, False), (False, True), (True, False), (True, True)])
def test_gradient_of_a_weight_shared_by_a_batch_is_one_product(ta, tb, backend) -> None:
    """(N, T, K) @ W: W's gradient sums over the batch, as one product over all N * T rows
    (none with transpose_a, whose rows are not runs of memory: a batched product and a sum)."""
    from graphc.ops.linalg import flagged_matmul
    a0, b0 = normal(2, *((4, 3) if ta else (3, 4))), normal(*((5, 4) if tb else (4, 5)))
    a, b = gc.placeholder(a0.shape, "float64"), gc.placeholder(b0.shape, "float64")
    gb = gc.grad(gc.sum(gc.tanh(flagged_matmul(a, b, ta, tb))), b)
    ops = [n.op for n in gc.Graph([a, b], [gb]).nodes]
    assert ("sum" in ops) == ta
    assert ta or all(n.ndim == 2 for n in gc.Graph([a, b], [gb]).nodes if n.op == "matmul"
                     and n.shape == gb.shape)
    gc.testing.check_grad(lambda p, q: gc.tanh(flagged_matmul(p, q, ta, tb)), [a0, b0],
                          backend=backend)
