"""max_pool, avg_pool, global_avg_pool: values against a direct loop, gradients, errors, layers."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import graphc as gc

POOLS = {"max": (gc.max_pool, np.max, -np.inf), "avg": (gc.avg_pool, np.mean, 0.0)}


def loop_pool(x, kind: str, kernel, stride, pads):
    """One reduction per (batch, channel, output position) over the padded window."""
    _, reduce, fill = POOLS[kind]
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple(pads), constant_values=fill)
    out_shape = [(xp.shape[2 + i] - k) // s + 1 for i, (k, s) in enumerate(zip(kernel, stride))]
    y = np.zeros(x.shape[:2] + tuple(out_shape), x.dtype)
    for n, c in itertools.product(*map(range, x.shape[:2])):
        for pos in itertools.product(*(range(s) for s in out_shape)):
            window = xp[(n, c) + tuple(slice(p * s, p * s + k)
                                       for p, s, k in zip(pos, stride, kernel))]
            y[(n, c) + pos] = reduce(window)   # avg: padding counts (count_include_pad=True)
    return y


# (x shape, kernel, stride, padding, the loop's kernel, stride and explicit pads)
CASES = {
    "1d": ((2, 3, 9), 2, None, 0, (2,), (2,), ((0, 0),)),
    "1d-overlap-pad": ((2, 2, 8), 3, 1, 1, (3,), (1,), ((1, 1),)),
    "2d": ((2, 3, 6, 8), 2, None, 0, (2, 2), (2, 2), ((0, 0), (0, 0))),
    "2d-odd-input": ((2, 2, 7, 5), 2, None, 0, (2, 2), (2, 2), ((0, 0), (0, 0))),
    "2d-overlap": ((1, 2, 7, 7), 3, 2, 1, (3, 3), (2, 2), ((1, 1), (1, 1))),
    "2d-rect": ((2, 2, 6, 9), (2, 3), (1, 2), (1, 0), (2, 3), (1, 2), ((1, 1), (0, 0))),
    "2d-same": ((1, 3, 5, 6), 3, 1, "same", (3, 3), (1, 1), ((1, 1), (1, 1))),
    "2d-same-stride": ((1, 2, 7, 6), 2, 2, "same", (2, 2), (2, 2), ((0, 1), (0, 0))),
    "3d": ((1, 2, 4, 6, 5), 2, None, 0, (2, 2, 2), (2, 2, 2), ((0, 0),) * 3),
    "3d-pad": ((1, 2, 5, 4, 4), 3, 2, 1, (3, 3, 3), (2, 2, 2), ((1, 1),) * 3),
}


def _distinct(shape, seed: int = 0) -> np.ndarray:
    """Values far apart (no ties, no max switching under finite-difference steps)."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.prod(shape)).reshape(shape) * 0.1 + rng.uniform(0, 0.01, shape)


@pytest.mark.parametrize("kind", POOLS)
@pytest.mark.parametrize("case", CASES)
def test_pool_matches_direct_loop(case: str, kind: str, backend: str) -> None:
    shape, kernel, stride, padding, k, s, pads = CASES[case]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    xt = gc.placeholder((None,) + shape[1:], "float32")
    y = POOLS[kind][0](xt, kernel, stride, padding)
    got = gc.compile([xt], y, backend=backend)(x)
    expected = loop_pool(x, kind, k, s, pads)
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", POOLS)
@pytest.mark.parametrize("case", ["1d-overlap-pad", "2d-odd-input", "2d-overlap", "2d-rect",
                                  "2d-same-stride", "3d-pad"])
def test_pool_gradient_matches_finite_differences(case: str, kind: str, backend: str) -> None:
    shape, kernel, stride, padding = CASES[case][:4]
    pool = POOLS[kind][0]
    gc.testing.check_grad(lambda x: pool(x, kernel, stride, padding), [_distinct(shape)],
                          backend=backend)


def test_max_pool_gradient_goes_to_the_first_maximum_of_a_tie(backend: str) -> None:
    x = np.array([[[[1.0, 3.0], [3.0, 0.0]]]])
    xt = gc.placeholder(x.shape, "float64")
    g = gc.grad(gc.sum(gc.max_pool(xt, 2)), xt)
    np.testing.assert_array_equal(gc.compile([xt], g, backend=backend)(x),
                                  [[[[0.0, 1.0], [0.0, 0.0]]]])


@pytest.mark.parametrize("kind", POOLS)
def test_second_order_gradients_through_pooling(kind: str, backend: str) -> None:
    """d/dx of d(sum pool(x)^2)/dx exercises the gradient ops' own gradients."""
    pool = POOLS[kind][0]
    x = _distinct((1, 2, 5, 5))
    gc.testing.check_grad(lambda x: gc.grad(gc.sum(gc.square(pool(x, 3, 2, 1))), x), [x],
                          backend=backend)


def test_global_avg_pool(backend: str) -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    xt = gc.placeholder((None, 3, 4, 5), "float64")
    f = gc.compile([xt], [gc.global_avg_pool(xt), gc.global_avg_pool(xt, keepdims=True)],
                   backend=backend)
    y, y_keep = f(x)
    np.testing.assert_allclose(y, x.mean(axis=(2, 3)))
    assert y_keep.shape == (2, 3, 1, 1)
    gc.testing.check_grad(gc.global_avg_pool, [x[:1]], backend=backend)


def test_pool_errors_name_the_shapes_and_the_line() -> None:
    x = gc.placeholder((2, 3, 4, 4))
    with pytest.raises(gc.ShapeError, match=r"window \(5, 5\).*\(4, 4\).*test_pool.py"):
        gc.max_pool(x, 5)
    with pytest.raises(gc.ShapeError, match=r"padding.*\(2, 3, 4, 4\).*test_pool.py"):
        gc.max_pool(x, 2, padding=2)
    with pytest.raises(gc.ShapeError, match=r"rank 3, 4 or 5.*\(2, 3\)"):
        gc.avg_pool(gc.placeholder((2, 3)), 2)
    with pytest.raises(gc.ShapeError, match="kernel"):
        gc.avg_pool(x, (2, 2, 2))
    with pytest.raises(gc.ShapeError, match=r"\(2, 3\)"):
        gc.global_avg_pool(gc.placeholder((2, 3)))
    with pytest.raises(gc.DTypeError):
        gc.max_pool(gc.placeholder((2, 3, 4, 4), "int64"), 2)


def test_pool_layers_and_flatten() -> None:
    layers = [gc.nn.MaxPool(2), gc.nn.AvgPool(3, 1, "same"), gc.nn.GlobalAvgPool(),
              gc.nn.Flatten()]
    assert all(layer.variables == [] for layer in layers)
    x = gc.placeholder((None, 3, 6, 4))
    y_max, y_avg, y_global, y_flat = (layer(x) for layer in layers)
    assert y_max.shape[1:] == (3, 3, 2) and y_avg.shape[1:] == (3, 6, 4)
    assert y_global.shape[1:] == (3,) and y_flat.shape[1:] == (72,)
    xv = np.random.default_rng(0).standard_normal((2, 3, 6, 4)).astype(np.float32)
    outs = gc.compile([x], [y_max, y_avg, y_global, y_flat])(xv)
    np.testing.assert_allclose(outs[0], loop_pool(xv, "max", (2, 2), (2, 2), ((0, 0),) * 2))
    np.testing.assert_allclose(outs[1], loop_pool(xv, "avg", (3, 3), (1, 1), ((1, 1),) * 2),
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(outs[2], xv.mean(axis=(2, 3)), rtol=1e-6)
    np.testing.assert_array_equal(outs[3], xv.reshape(2, -1))
    assert gc.nn.MaxPool(2)(gc.placeholder((None, 2, 9))).shape[1:] == (2, 4)
