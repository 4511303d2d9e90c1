"""conv1d/2d/3d: values against a direct loop, finite-difference gradients, errors, layers."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import graphc as gc
from graphc.ops import conv as conv_ops

CONV = {1: gc.conv1d, 2: gc.conv2d, 3: gc.conv3d}


def loop_conv(x, w, b=None, stride=1, pads=0, dilation=1, groups=1):
    """The textbook definition: one dot product per (batch, output channel, output position)."""
    nd = x.ndim - 2
    stride, dilation = ((v,) * nd if isinstance(v, int) else v for v in (stride, dilation))
    if isinstance(pads, int):
        pads = ((pads, pads),) * nd
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(pads))
    kernel, out_per_group = w.shape[2:], w.shape[0] // groups
    out_shape = [(xp.shape[2 + i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1
                 for i in range(nd)]
    y = np.zeros((x.shape[0], w.shape[0], *out_shape), x.dtype)
    for n, o in itertools.product(range(x.shape[0]), range(w.shape[0])):
        g = o // out_per_group
        channels = slice(g * w.shape[1], (g + 1) * w.shape[1])
        for pos in itertools.product(*(range(s) for s in out_shape)):
            window = xp[(n, channels) + tuple(
                slice(p * s, p * s + d * (k - 1) + 1, d)
                for p, s, d, k in zip(pos, stride, dilation, kernel))]
            y[(n, o) + pos] = np.sum(window * w[o])
    if b is not None:
        y += b.reshape((-1,) + (1,) * nd)
    return y


# (spatial, C, O, kernel, stride, padding, dilation, groups, the loop's explicit pads)
CASES = {
    "1d": ((9,), 2, 3, (3,), 1, 0, 1, 1, ((0, 0),)),
    "1d-stride-pad": ((10,), 2, 3, (4,), 2, 1, 1, 1, ((1, 1),)),
    "1d-dilation": ((11,), 2, 2, (3,), 1, 2, 3, 1, ((2, 2),)),
    "2d": ((6, 7), 3, 4, (3, 3), 1, 0, 1, 1, ((0, 0), (0, 0))),
    "2d-stride-tuple-pad": ((7, 8), 2, 3, (3, 2), (2, 3), (1, 2), 1, 1, ((1, 1), (2, 2))),
    "2d-pairs-pad": ((5, 6), 2, 2, (3, 3), 1, ((0, 2), (1, 0)), 1, 1, ((0, 2), (1, 0))),
    "2d-dilation": ((9, 9), 2, 3, (3, 3), 1, 1, (2, 1), 1, ((1, 1), (1, 1))),
    "2d-same-odd": ((6, 5), 2, 3, (3, 3), 1, "same", 1, 1, ((1, 1), (1, 1))),
    "2d-same-even": ((6, 5), 2, 3, (4, 2), 1, "same", 1, 1, ((1, 2), (0, 1))),
    "2d-same-stride": ((7, 8), 2, 3, (3, 3), 2, "same", 1, 1, ((1, 1), (0, 1))),
    "2d-same-dilation": ((7, 7), 1, 2, (3, 3), 1, "same", 2, 1, ((2, 2), (2, 2))),
    "2d-valid": ((6, 6), 2, 2, (5, 5), 1, "valid", 1, 1, ((0, 0), (0, 0))),
    "2d-groups": ((6, 6), 4, 6, (3, 3), 1, 1, 1, 2, ((1, 1), (1, 1))),
    "2d-depthwise": ((6, 6), 3, 6, (3, 3), 1, 1, 1, 3, ((1, 1), (1, 1))),
    "2d-pointwise": ((5, 4), 4, 3, (1, 1), 1, 0, 1, 1, ((0, 0), (0, 0))),
    "3d": ((4, 5, 4), 2, 3, (2, 3, 2), 1, 0, 1, 1, ((0, 0),) * 3),
    "3d-stride-pad-groups": ((5, 5, 6), 2, 4, (3, 3, 3), 2, 1, 1, 2, ((1, 1),) * 3),
}


def _arrays(case: str, dtype="float64", batch: int = 2, seed: int = 0):
    spatial, c, o, kernel, _, _, _, groups, _ = CASES[case]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, c, *spatial)).astype(dtype)
    w = rng.standard_normal((o, c // groups, *kernel)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    return x, w, b


@pytest.mark.parametrize("case", CASES)
def test_conv_matches_direct_loop(case: str, backend: str) -> None:
    spatial, c, o, kernel, stride, padding, dilation, groups, pads = CASES[case]
    x, w, b = _arrays(case, "float32")
    conv = CONV[len(spatial)]
    xt = gc.placeholder((None, c, *spatial), "float32")
    y = conv(xt, gc.constant(w), gc.constant(b), stride=stride, padding=padding,
             dilation=dilation, groups=groups)
    got = gc.compile([xt], y, backend=backend)(x)
    expected = loop_conv(x, w, b, stride, pads, dilation, groups)
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_same_padding_keeps_the_size_and_output_formula_holds() -> None:
    x = gc.placeholder((None, 2, 13, 12))
    for k, d in [(3, 1), (4, 1), (5, 2), (2, 3)]:
        w = gc.constant(np.ones((3, 2, k, k), np.float32))
        assert gc.conv2d(x, w, padding="same", dilation=d).shape[2:] == (13, 12)
    w = gc.constant(np.ones((3, 2, 5, 3), np.float32))
    y = gc.conv2d(x, w, stride=(3, 2), padding=(2, 1), dilation=(1, 2))
    assert y.shape[2:] == ((13 + 4 - 4 - 1) // 3 + 1, (12 + 2 - 4 - 1) // 2 + 1)


def test_symbolic_batch_runs_at_any_batch_size_with_gradients(backend: str) -> None:
    x = gc.placeholder((None, 2, 6, 6), "float64")
    w = gc.variable(np.random.default_rng(1).standard_normal((3, 2, 3, 3)))
    y = gc.conv2d(x, w, stride=2, padding=1)
    loss = gc.sum(gc.square(y))
    gx, gw = gc.grad(loss, [x, w])
    f = gc.compile([x], [y, gx, gw], backend=backend)
    for batch in (1, 5):
        xv = np.random.default_rng(batch).standard_normal((batch, 2, 6, 6))
        yv, gxv, gwv = f(xv)
        np.testing.assert_allclose(yv, loop_conv(xv, w.value, stride=2, pads=1))
        assert gxv.shape == xv.shape and gwv.shape == w.shape


GRAD_CASES = ["1d-stride-pad", "2d-stride-tuple-pad", "2d-dilation", "2d-same-even",
              "2d-groups", "2d-depthwise", "3d-stride-pad-groups"]


def _conv_fn(case: str):
    spatial, _, _, _, stride, padding, dilation, groups, _ = CASES[case]
    conv = CONV[len(spatial)]
    return lambda x, w, b: conv(x, w, b, stride=stride, padding=padding, dilation=dilation,
                                groups=groups)


@pytest.mark.parametrize("case", GRAD_CASES)
def test_conv_gradient_matches_finite_differences(case: str, backend: str) -> None:
    x, w, b = _arrays(case, batch=1 if case.startswith("3d") else 2)
    gc.testing.check_grad(_conv_fn(case), [x, w, b], backend=backend)


@pytest.mark.parametrize("case", ["1d-stride-pad", "2d-groups"])
def test_second_order_gradients_through_conv(case: str, backend: str) -> None:
    """The gradient ops are differentiable: d/d(x, w) of d(sum conv^2)/dx and d/dw."""
    x, w, b = _arrays(case, batch=1)
    conv = _conv_fn(case)
    for target in (0, 1):
        def grad_of(x, w):
            return gc.grad(gc.sum(gc.square(conv(x, w, None))), [x, w][target])
        gc.testing.check_grad(grad_of, [x, w], backend=backend, rtol=1e-4, atol=1e-5)


def test_gradient_ops_match_their_definitions() -> None:
    """col2im(conv_input_grad) and conv_weight_grad are the transposes of conv (adjoints)."""
    x, w, _ = _arrays("2d-stride-tuple-pad")
    spatial, _, _, _, stride, padding, dilation, groups, _ = CASES["2d-stride-tuple-pad"]
    xt, wt = gc.placeholder(x.shape, "float64"), gc.placeholder(w.shape, "float64")
    y = gc.conv2d(xt, wt, stride=stride, padding=padding, dilation=dilation, groups=groups)
    g = np.random.default_rng(3).standard_normal(y.shape)
    gx, gw = gc.grad(y, [xt, wt], seed=gc.constant(g))
    yv, gxv, gwv = gc.compile([xt, wt], [y, gx, gw])(x, w)
    assert (gx.op, gx.inputs[0].op, gw.op) == ("col2im", "conv_input_grad", "conv_weight_grad")
    np.testing.assert_allclose(np.sum(gxv * x), np.sum(g * yv))
    np.testing.assert_allclose(np.sum(gwv * w), np.sum(g * yv))


# ---- im2col and col2im ------------------------------------------------------------------------

WINDOWS = {  # (x shape, kernel, stride, pads, dilation)
    "2d": ((2, 3, 6, 7), (3, 2), (1, 1), ((0, 0), (0, 0)), (1, 1)),
    "2d-stride-pad-dilation": ((2, 2, 7, 8), (3, 3), (2, 1), ((1, 2), (0, 1)), (1, 2)),
    "1d": ((3, 2, 9), (4,), (2,), ((1, 1),), (1,)),
    "3d": ((1, 2, 4, 5, 4), (2, 3, 2), (1, 2, 1), ((0, 1), (1, 0), (0, 0)), (1, 1, 2)),
}


def loop_im2col(x, kernel, stride, pads, dilation):
    """Row (channel, tap), column (*position, example): the input pixel that tap reads there."""
    xp = np.pad(x, ((0, 0), (0, 0)) + pads)
    out = [(xp.shape[2 + i] - dilation[i] * (k - 1) - 1) // stride[i] + 1
           for i, k in enumerate(kernel)]
    taps = list(itertools.product(*(range(k) for k in kernel)))
    cols = np.zeros((x.shape[1] * len(taps), *out, x.shape[0]), x.dtype)
    for c, (t, tap), pos in itertools.product(range(x.shape[1]), enumerate(taps),
                                              itertools.product(*map(range, out))):
        pixel = tuple(p * s + k * d for p, s, k, d in zip(pos, stride, tap, dilation))
        cols[(c * len(taps) + t,) + pos] = xp[(slice(None), c) + pixel]
    return cols


def _window(case: str) -> tuple[np.ndarray, dict]:
    shape, kernel, stride, pads, dilation = WINDOWS[case]
    x = np.random.default_rng(4).standard_normal(shape)
    return x, {"kernel": kernel, "stride": stride, "pads": pads, "dilation": dilation}


@pytest.mark.parametrize("case", WINDOWS)
def test_im2col_and_col2im_match_numpy_and_are_adjoint(case: str, backend: str) -> None:
    x, window = _window(case)
    expected = loop_im2col(x, **window)
    xt = gc.placeholder((None,) + x.shape[1:], "float64")
    cols = conv_ops.im2col(xt, window)
    ct = gc.placeholder(expected.shape[:-1] + (None,), "float64")
    back = conv_ops.col2im(ct, window, x.shape[2:])
    got = gc.compile([xt], cols, backend=backend)(x)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    c = np.random.default_rng(5).standard_normal(expected.shape)
    gx = gc.compile([ct], back, backend=backend)(c)
    assert gx.shape == x.shape
    np.testing.assert_allclose(np.sum(gx * x), np.sum(c * expected))


@pytest.mark.parametrize("case", ["2d-stride-pad-dilation", "1d"])
def test_im2col_and_col2im_gradients_match_finite_differences(case: str, backend: str) -> None:
    x, window = _window(case)
    c = np.random.default_rng(6).standard_normal(loop_im2col(x, **window).shape)
    gc.testing.check_grad(lambda x: conv_ops.im2col(x, window), [x], backend=backend)
    gc.testing.check_grad(lambda c: conv_ops.col2im(c, window, x.shape[2:]), [c],
                          backend=backend)


def test_col2im_rejects_columns_of_another_window() -> None:
    _, window = _window("2d")
    with pytest.raises(gc.ShapeError, match=r"\(4, 5, 6, 2\)"):
        conv_ops.col2im(gc.placeholder((4, 5, 6, 2)), window, (6, 7))


def test_reused_kernel_buffers_never_overwrite_a_kept_result(backend: str) -> None:
    """Kernels reuse their arrays between calls only while the caller holds none of them."""
    x, w, b = _arrays("2d-same-odd", "float32")
    xt = gc.placeholder((None,) + x.shape[1:], "float32")
    y = gc.max_pool(gc.conv2d(xt, gc.constant(w), padding="same"), 2)
    f = gc.compile([xt], [y, gc.grad(gc.sum(gc.square(y)), xt)], backend=backend)
    first = f(x)
    kept = [a.copy() for a in first]
    f(2 * x)
    again = f(3 * x)
    for a, expected in zip(first, kept):
        np.testing.assert_array_equal(a, expected)
    np.testing.assert_allclose(again[0], 3 * kept[0], rtol=1e-5, atol=1e-5)


# ---- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("x_shape, w_shape, kwargs, words", [
    ((2, 3, 8, 8), (4, 2, 3, 3), {}, ["(2, 3, 8, 8)", "(4, 2, 3, 3)", "3 channels"]),
    ((2, 6, 8, 8), (4, 2, 3, 3), {"groups": 4}, ["groups=4", "6 input channels", "(4, 2, 3, 3)"]),
    ((2, 4, 8, 8), (6, 1, 3, 3), {"groups": 4}, ["groups=4", "6 output channels"]),
    ((2, 3, 4, 4), (2, 3, 5, 5), {}, ["window (5, 5)", "(4, 4)"]),
    ((2, 3, 8), (4, 3, 3, 3), {}, ["rank 4", "(2, 3, 8)"]),
])
def test_shape_errors_name_the_shapes_and_the_line(x_shape, w_shape, kwargs, words) -> None:
    x, w = gc.placeholder(x_shape), gc.variable(np.zeros(w_shape, np.float32))
    with pytest.raises(gc.ShapeError) as info:
        gc.conv2d(x, w, **kwargs)
    message = str(info.value)
    for word in words:
        assert word in message, message
    assert "test_conv.py" in message


def test_argument_errors() -> None:
    x, w = gc.placeholder((2, 3, 8, 8)), gc.variable(np.zeros((4, 3, 3, 3), np.float32))
    with pytest.raises(gc.ShapeError, match="stride"):
        gc.conv2d(x, w, stride=0)
    with pytest.raises(gc.ShapeError, match="padding"):
        gc.conv2d(x, w, padding="full")
    with pytest.raises(gc.ShapeError, match=r"bias \(3,\)"):
        gc.conv2d(x, w, b=gc.variable(np.zeros(3, np.float32)))
    with pytest.raises(gc.ShapeError, match="static"):
        gc.conv2d(gc.placeholder((2, 3, None, 8)), w, padding="same")
    with pytest.raises(gc.DTypeError):
        gc.conv2d(gc.placeholder((2, 3, 8, 8), "int64"), gc.variable(np.zeros((4, 3, 3, 3), int)))


# ---- layers -----------------------------------------------------------------------------------

@pytest.mark.parametrize("layer_cls, shape", [(gc.nn.Conv1D, (2, 4, 9)),
                                              (gc.nn.Conv2D, (2, 4, 7, 6)),
                                              (gc.nn.Conv3D, (2, 4, 5, 4, 5))])
def test_conv_layers_own_their_variables(layer_cls, shape) -> None:
    layer = layer_cls(4, 6, 3, padding=1, groups=2, seed=0)
    assert layer.variables == [layer.W, layer.b]
    assert layer.W.shape == (6, 2) + (3,) * (len(shape) - 2) and layer.b.shape == (6,)
    bound = np.sqrt(6 / (2 * 3 ** (len(shape) - 2)))    # He uniform: sqrt(6 / fan_in)
    assert 0.5 * bound < np.abs(layer.W.value).max() <= bound
    again = layer_cls(4, 6, 3, padding=1, groups=2, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(again.W.value, layer.W.value)
    x = gc.placeholder((None,) + shape[1:])
    y = layer(x)
    assert y.shape[1:] == (6,) + shape[2:]
    expected = loop_conv(np.ones(shape, np.float32), layer.W.value, layer.b.value, pads=1,
                         groups=2)
    np.testing.assert_allclose(gc.compile([x], y)(np.ones(shape, np.float32)), expected,
                               rtol=1e-5, atol=1e-6)


def test_conv_layer_options() -> None:
    no_bias = gc.nn.Conv2D(2, 3, (3, 1), bias=False, init="zeros")
    assert no_bias.b is None and no_bias.variables == [no_bias.W]
    assert not no_bias.W.value.any() and no_bias.W.shape == (3, 2, 3, 1)
    with pytest.raises(gc.ShapeError, match="groups=2"):
        gc.nn.Conv2D(3, 4, 3, groups=2)


def test_small_cnn_trains_a_step() -> None:
    rng = np.random.default_rng(0)
    conv = gc.nn.Conv2D(1, 4, 3, padding="same", seed=1)
    pool, flat = gc.nn.MaxPool(2), gc.nn.Flatten()
    dense = gc.variable(rng.standard_normal((4 * 3 * 3, 3)).astype(np.float32) * 0.1)
    x, y = gc.placeholder((None, 1, 6, 6)), gc.placeholder((None,), "int64")
    logits = flat(pool(gc.relu(conv(x)))) @ dense
    loss = gc.mean(gc.losses.cross_entropy(logits, y))
    params = conv.variables + [dense]
    grads = gc.grad(loss, params)
    step = gc.compile([x, y], loss, updates=[(p, p - 0.5 * g) for p, g in zip(params, grads)])
    xs, ys = rng.standard_normal((8, 1, 6, 6)).astype(np.float32), rng.integers(0, 3, 8)
    before = conv.W.value.copy()
    losses = [float(step(xs, ys)) for _ in range(20)]
    assert not np.array_equal(before, conv.W.value)
    assert losses[-1] < 0.5 * losses[0]
