"""Random ops and dropout: distributions, reproducibility from a seed, symbolic shapes, grads."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc
from graphc.ops import random_bits

N = 20_000


def draws(build, backend: str, steps: int = 1, feed_shape=(N // 100, 100), seed: int = 7):
    """Compile build(x, state) with the counter update and return one draw per step."""
    state = gc.random_state(seed)
    x = gc.placeholder((None, feed_shape[1]), "float32")
    f = gc.compile(inputs=[x], outputs=build(x, state),
                   updates=[(state, gc.next_random_state(state))], backend=backend)
    feed = np.zeros(feed_shape, np.float32)
    return [f(feed) for _ in range(steps)], state


@pytest.mark.parametrize("name, build, mean, var", [
    ("uniform", lambda x, s: gc.random_uniform_like(x, s), 0.5, 1 / 12),
    ("uniform(-2,4)", lambda x, s: gc.random_uniform_like(x, s, -2.0, 4.0), 1.0, 3.0),
    ("normal", lambda x, s: gc.random_normal_like(x, s), 0.0, 1.0),
    ("normal(3,0.5)", lambda x, s: gc.random_normal_like(x, s, 3.0, 0.5), 3.0, 0.25),
    ("bernoulli(0.3)", lambda x, s: gc.random_bernoulli_like(x, s, 0.3), 0.3, 0.21),
    ("static normal", lambda x, s: gc.random_normal((N,), s, dtype="float64"), 0.0, 1.0),
])
def test_moments(backend, name, build, mean, var) -> None:
    (value,), _ = draws(build, backend)
    assert value.size == N
    tolerance = 5 * np.sqrt(var / N)    # five standard errors of the mean
    assert abs(value.mean() - mean) < tolerance
    assert abs(value.var() - var) < 0.05 * var


def test_uniform_range_and_independence(backend) -> None:
    (u,), _ = draws(lambda x, s: gc.random_uniform_like(x, s), backend)
    u = u.ravel()
    assert u.dtype == np.float32 and u.min() >= 0 and u.max() < 1
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.03      # neighbours uncorrelated
    counts = np.histogram(u, bins=10, range=(0, 1))[0]
    assert np.all(np.abs(counts - N / 10) < 5 * np.sqrt(N / 10))


def test_normal_tails(backend) -> None:
    (z,), _ = draws(lambda x, s: gc.random_normal_like(x, s, dtype="float64"), backend)
    assert z.dtype == np.float64 and np.all(np.isfinite(z))
    assert abs(np.mean(np.abs(z) > 1.96) - 0.05) < 0.01
    assert abs(np.mean(z ** 3)) < 0.1 and abs(np.mean(z ** 4) - 3) < 0.2


def test_same_seed_replays_and_steps_differ(backend) -> None:
    build = lambda x, s: gc.random_normal_like(x, s)  # noqa: E731
    (a, b), state = draws(build, backend, steps=2)
    assert state.value.tolist() == [7, 2]                 # the counter advanced once per call
    assert not np.allclose(a, b)
    (c, d), _ = draws(build, backend, steps=2)
    assert np.array_equal(a, c) and np.array_equal(b, d)
    (e,), _ = draws(build, backend, seed=8)
    assert not np.allclose(a, e)


def test_streams_are_independent(backend) -> None:
    (pair,), _ = draws(lambda x, s: gc.stack([gc.random_uniform_like(x, s, stream=0),
                                              gc.random_uniform_like(x, s, stream=1)]), backend)
    assert abs(np.corrcoef(pair[0].ravel(), pair[1].ravel())[0, 1]) < 0.03


def test_symbolic_shape_follows_the_feed(backend) -> None:
    state = gc.random_state(0)
    x = gc.placeholder((None, 3), "float32")
    from_shape = gc.random_uniform((x.shape[0], 3), state)
    from_like = gc.random_uniform_like(x, state)
    f = gc.compile(inputs=[x], outputs=[from_shape, from_like], backend=backend)
    for batch in (2, 5):
        a, b = f(np.zeros((batch, 3), np.float32))
        assert a.shape == b.shape == (batch, 3)
        np.testing.assert_array_equal(a, b)      # same (seed, counter, stream, index)


def test_kernel_matches_splitmix64_reference() -> None:
    """The bits are splitmix64's outputs, the function a native backend reimplements."""
    def splitmix64(state: int, n: int) -> list[int]:
        out, mask = [], (1 << 64) - 1
        for _ in range(n):
            state = (state + 0x9E3779B97F4A7C15) & mask
            z = state
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
            out.append(z ^ (z >> 31))
        return out
    key = random_bits.key(np.array([123, 4]), stream=0)
    assert random_bits.random_bits(key, 6).tolist() == splitmix64(key, 6)
    u = random_bits.uniform(key, 6, np.dtype(np.float32))
    np.testing.assert_array_equal(u, [(b >> 40) / 2 ** 24 for b in splitmix64(key, 6)])


def test_random_ops_are_not_folded_and_errors_are_clear() -> None:
    state = gc.constant(np.array([1, 0], np.int64))
    u = gc.random_uniform((4,), state)
    f = gc.compile(outputs=u)
    assert any(n.op == "random_uniform" for n in f.graph.nodes)
    with pytest.raises(gc.DTypeError, match="random_uniform: the random state"):
        gc.random_uniform((3,), gc.constant(np.zeros(2, np.float32)))
    with pytest.raises(gc.DTypeError, match="random_normal: draws floats"):
        gc.random_normal((3,), state, dtype="int64")
    with pytest.raises(gc.ShapeError, match="random ops need a shape"):
        gc.random_uniform((None, 3), state)


def test_reparameterized_normal_gradient(backend) -> None:
    state = gc.random_state(3)
    mu = gc.variable(np.array([0.5, -1.0]))
    log_sigma = gc.variable(np.array([0.1, -0.3]))
    eps = gc.random_normal((2,), state, dtype="float64")
    z = mu + gc.exp(log_sigma) * eps
    g_mu, g_ls = gc.grad(gc.sum(z), [mu, log_sigma])
    eps_v, gm, gl = gc.compile(outputs=[eps, g_mu, g_ls], backend=backend)()
    np.testing.assert_allclose(gm, [1, 1])
    np.testing.assert_allclose(gl, np.exp(log_sigma.value) * eps_v)
    with pytest.raises(gc.DTypeError, match="int64"):
        gc.grad(gc.sum(z), [state])                      # no gradient flows into the state
    gc.testing.check_grad(lambda m, s: m + s * gc.random_normal((3,), state, dtype="float64"),
                          [np.zeros(3), np.ones(3)], backend=backend)


# ---- dropout --------------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_dropout_keeps_the_mean(backend, rate) -> None:
    (y,), _ = draws(lambda x, s: gc.dropout(x + 2.0, rate, s), backend)
    dropped = np.mean(y == 0)
    assert abs(dropped - rate) < 5 * np.sqrt(rate * (1 - rate) / N)
    np.testing.assert_allclose(y[y != 0], 2.0 / (1 - rate), rtol=1e-6)
    assert abs(y.mean() - 2.0) < 0.05


def test_dropout_eval_is_identity(backend) -> None:
    state = gc.random_state(0)
    x = gc.placeholder((None, 4), "float32")
    assert gc.dropout(x, 0.5, state, training=False) is x
    layer = gc.nn.Dropout(0.5, seed=0)
    f = gc.compile(inputs=[x], outputs=layer(x, training=False), backend=backend)
    feed = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_array_equal(f(feed), feed)
    assert layer.state_updates == []
    with pytest.raises(ValueError, match="rate must be in"):
        gc.dropout(x, 1.0, state)


def test_dropout_layer_advances_its_state(backend) -> None:
    layer = gc.nn.Dropout(0.5, seed=11)
    x = gc.placeholder((None, 50), "float32")
    y = layer(x)
    (var, _), = layer.state_updates
    assert var is layer.state and layer.trainable_variables == []
    step = gc.compile(inputs=[x], outputs=y, updates=layer.state_updates, backend=backend)
    ones = np.ones((4, 50), np.float32)
    a, b = step(ones), step(ones)
    assert not np.array_equal(a, b)
    layer.state.value = [11, 0]
    np.testing.assert_array_equal(step(ones), a)


def test_dropout_gradient_with_a_fixed_state(backend) -> None:
    state = gc.random_state(5)
    gc.testing.check_grad(lambda x: gc.dropout(x, 0.4, state), [np.linspace(-1, 1, 12)],
                          backend=backend)
