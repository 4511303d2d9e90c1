"""Scaled dot-product attention, masks, MultiHeadAttention and the positional encoding."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.testing import check_grad

RNG = np.random.default_rng(0)


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def attention(q, k, v, mask=None):
    """The NumPy reference: masked positions get no weight at all."""
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if mask is not None and mask.dtype == bool:
        scores = np.where(mask, scores, -np.inf)
    elif mask is not None:
        scores = scores + mask
    return softmax(scores) @ v


def sdpa(backend, q, k, v, mask=None):
    ps = [gc.placeholder(a.shape, a.dtype) for a in (q, k, v)]
    out = gc.scaled_dot_product_attention(*ps, mask=None if mask is None else gc.constant(mask))
    return gc.compile(ps, out, backend=backend)(q, k, v)


@pytest.mark.parametrize("lead", [(), (3,), (2, 3)], ids=["2d", "3d", "4d"])
def test_values_match_numpy(backend, lead) -> None:
    q, k, v = (RNG.normal(size=lead + s) for s in ((4, 5), (6, 5), (6, 7)))
    np.testing.assert_allclose(sdpa(backend, q, k, v), attention(q, k, v), rtol=1e-12)


def test_bool_mask_keeps_true_positions(backend) -> None:
    q, k, v = RNG.normal(size=(2, 4, 3)), RNG.normal(size=(2, 4, 3)), RNG.normal(size=(2, 4, 3))
    mask = gc.causal_mask(4).value
    assert mask.dtype == bool and mask[0, 1] == 0 and mask[1, 0] == 1
    got = sdpa(backend, q, k, v, mask)
    np.testing.assert_allclose(got, attention(q, k, v, mask), rtol=1e-12)
    np.testing.assert_allclose(got[:, 0], v[:, 0], rtol=1e-12)     # the first sees only itself
    changed = v.copy()
    changed[:, 3] += 10                                             # the future cannot leak
    np.testing.assert_allclose(sdpa(backend, q, k, changed, mask)[:, :3], got[:, :3],
                               rtol=1e-12)


def test_additive_mask_and_fully_masked_row(backend) -> None:
    q, k, v = RNG.normal(size=(3, 2)), RNG.normal(size=(5, 2)), RNG.normal(size=(5, 2))
    bias = RNG.normal(size=(3, 5))
    np.testing.assert_allclose(sdpa(backend, q, k, v, bias), attention(q, k, v, bias),
                               rtol=1e-12)
    mask = np.ones((3, 5), bool)
    mask[1] = False
    got = sdpa(backend, q, k, v, mask)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got[1], v.mean(axis=0), rtol=1e-12)  # nothing kept: uniform


@pytest.mark.parametrize("mask", [None, "causal", "additive"])
def test_gradients(backend, mask) -> None:
    m = {None: None, "causal": gc.causal_mask(4), "additive": gc.constant(RNG.normal(size=(4, 4)))}
    check_grad(lambda q, k, v: gc.scaled_dot_product_attention(q, k, v, mask=m[mask]),
               [RNG.normal(size=(2, 4, 3)) for _ in range(3)], backend=backend)


@pytest.mark.parametrize("shapes, dtypes, error, match", [
    (((4, 5), (6, 4), (6, 7)), ("float64",) * 3, gc.ShapeError, "equal feature dims"),
    (((4, 5), (6, 5), (5, 7)), ("float64",) * 3, gc.ShapeError, "equal lengths"),
    (((5,), (6, 5), (6, 7)), ("float64",) * 3, gc.ShapeError, "length, features"),
    (((4, 5), (6, 5), (6, 7)), ("float64", "float32", "float64"), gc.DTypeError, "one float"),
])
def test_errors(shapes, dtypes, error, match) -> None:
    ps = [gc.placeholder(s, d) for s, d in zip(shapes, dtypes)]
    with pytest.raises(error, match=f"scaled_dot_product_attention: .*{match}.*test_attention"):
        gc.scaled_dot_product_attention(*ps)


def test_mask_that_does_not_broadcast() -> None:
    q = gc.placeholder((4, 5), "float64")
    with pytest.raises(gc.ShapeError, match=r"mask \(3, 3\) does not broadcast"):
        gc.scaled_dot_product_attention(q, q, q, mask=gc.causal_mask(3))


# ---- MultiHeadAttention -----------------------------------------------------------------------

def mha_reference(layer, query, key, value, mask=None):
    def project(dense, x):
        return x @ dense.W.value + dense.b.value

    def split(x):
        n, length, _ = x.shape
        return x.reshape(n, length, layer.num_heads, -1).transpose(0, 2, 1, 3)
    heads = attention(split(project(layer.q_proj, query)), split(project(layer.k_proj, key)),
                      split(project(layer.v_proj, value)), mask)
    n, _, length, _ = heads.shape
    return project(layer.out_proj, heads.transpose(0, 2, 1, 3).reshape(n, length, -1))


def randomized_mha(embed: int, heads: int) -> gc.nn.MultiHeadAttention:
    layer = gc.nn.MultiHeadAttention(embed, heads, seed=0, dtype="float64")
    for v in layer.variables:
        if v.ndim == 1:
            v.value = RNG.normal(size=v.shape)
    return layer


def test_multi_head_self_attention_matches_numpy(backend) -> None:
    layer = randomized_mha(8, 2)
    x = gc.placeholder((None, None, 8), "float64", name="x")        # symbolic batch and length
    f = gc.compile([x], layer(x), backend=backend)
    for n, length in ((2, 5), (3, 4)):
        xs = RNG.normal(size=(n, length, 8))
        np.testing.assert_allclose(f(xs), mha_reference(layer, xs, xs, xs), rtol=1e-10)
    assert len(layer.variables) == 8


def test_multi_head_cross_attention_with_causal_mask(backend) -> None:
    layer = randomized_mha(6, 3)
    q = gc.placeholder((2, 4, 6), "float64")
    kv = gc.placeholder((2, 4, 6), "float64")
    f = gc.compile([q, kv], layer(q, kv, mask=gc.causal_mask(4)), backend=backend)
    qs, kvs = RNG.normal(size=(2, 4, 6)), RNG.normal(size=(2, 4, 6))
    np.testing.assert_allclose(f(qs, kvs), mha_reference(layer, qs, kvs, kvs,
                                                         gc.causal_mask(4).value), rtol=1e-10)


def test_multi_head_attention_gradient(backend) -> None:
    layer = randomized_mha(4, 2)
    check_grad(lambda x: layer(x, mask=gc.causal_mask(3)), [RNG.normal(size=(2, 3, 4))],
               backend=backend)


def test_multi_head_attention_errors() -> None:
    with pytest.raises(ValueError, match="not divisible"):
        gc.nn.MultiHeadAttention(10, 3)
    with pytest.raises(gc.ShapeError, match=r"query must be \(batch, length, 8\)"):
        gc.nn.MultiHeadAttention(8, 2)(gc.placeholder((2, 5, 4), "float32"))


# ---- positional encoding ----------------------------------------------------------------------

@pytest.mark.parametrize("dim", [6, 7])
def test_positional_encoding(dim) -> None:
    pe = gc.nn.positional_encoding(10, dim)
    assert pe.op == "constant" and pe.shape == (10, dim) and pe.dtype == "float32"
    table = pe.value
    for p in (0, 3, 9):
        for i in range(dim):
            angle = p / 10000 ** (2 * (i // 2) / dim)
            want = np.sin(angle) if i % 2 == 0 else np.cos(angle)
            assert table[p, i] == pytest.approx(want, abs=1e-6)
