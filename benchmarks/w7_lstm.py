"""W7: one SGD step of an LSTM (seq 32, batch 32, input 64, hidden 128) -> dense 1 -> MSE.

The last hidden state feeds the dense layer. graphc runs it unrolled (32 copies of the cell)
and as one gc.scan node whose gradient is a backward scan; the hand-written NumPy baseline is
forward plus backpropagation through time, gate order (i, f, g, o) as in gc.nn.LSTM.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from benchmarks import peers
from benchmarks.harness import Problem, Runner, register, sgd_runner

LR = 0.01
SEQ, BATCH, INPUT, HIDDEN = 32, 32, 64, 128
SMALL_SEQ = 4
NAMES = ("W_ih", "W_hh", "b", "W_out", "b_out")


def make_problem(seed: int, small: bool = False) -> Problem:
    """Scaled-normal weights, forget-gate bias 1, and one random batch of sequences."""
    rng = np.random.default_rng(seed)
    b = np.zeros(4 * HIDDEN, np.float32)
    b[HIDDEN:2 * HIDDEN] = 1.0
    params = {
        "W_ih": rng.standard_normal((INPUT, 4 * HIDDEN), dtype=np.float32) / np.sqrt(INPUT),
        "W_hh": rng.standard_normal((HIDDEN, 4 * HIDDEN), dtype=np.float32) / np.sqrt(HIDDEN),
        "b": b,
        "W_out": rng.standard_normal((HIDDEN, 1), dtype=np.float32) / np.sqrt(HIDDEN),
        "b_out": np.zeros(1, np.float32),
    }
    x = rng.standard_normal((BATCH, SMALL_SEQ if small else SEQ, INPUT), dtype=np.float32)
    y = rng.standard_normal((BATCH, 1), dtype=np.float32)
    return Problem({k: v.astype(np.float32) for k, v in params.items()}, (x, y))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (np.tanh(0.5 * x) + 1)


def build_numpy(problem: Problem) -> Runner:
    """Forward over time keeping each step's gates, then BPTT, then the SGD update in place."""
    W_ih, W_hh, b, W_out, b_out = p = [problem.params[k].copy() for k in NAMES]
    x, y = problem.data
    n, steps, H = x.shape[0], x.shape[1], HIDDEN
    x2 = x.reshape(n * steps, INPUT)
    acts = np.empty((steps, n, 4 * H), np.float32)      # i, f, g, o after their nonlinearity
    cs = np.empty((steps + 1, n, H), np.float32)        # cs[t + 1] is the cell after step t
    hs = np.empty((steps + 1, n, H), np.float32)
    d_pre = np.empty((n, steps, 4 * H), np.float32)

    def step() -> np.float32:
        z = (x2 @ W_ih + b).reshape(n, steps, 4 * H)
        hs[0] = cs[0] = 0.0
        for t in range(steps):
            a = acts[t]
            np.add(z[:, t], hs[t] @ W_hh, out=a)
            a[:, :2 * H] = _sigmoid(a[:, :2 * H])
            a[:, 2 * H:3 * H] = np.tanh(a[:, 2 * H:3 * H])
            a[:, 3 * H:] = _sigmoid(a[:, 3 * H:])
            cs[t + 1] = a[:, H:2 * H] * cs[t] + a[:, :H] * a[:, 2 * H:3 * H]
            hs[t + 1] = a[:, 3 * H:] * np.tanh(cs[t + 1])
        pred = hs[steps] @ W_out + b_out
        loss = np.mean((pred - y) ** 2)
        d_pred = (2.0 / n) * (pred - y)
        g_out, gb_out = hs[steps].T @ d_pred, d_pred.sum(axis=0)
        dh, dc = d_pred @ W_out.T, np.zeros((n, H), np.float32)
        g_hh = np.zeros_like(W_hh)
        for t in range(steps - 1, -1, -1):
            a = acts[t]
            i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            tanh_c = np.tanh(cs[t + 1])
            dc += dh * o * (1 - tanh_c ** 2)
            d = d_pre[:, t]
            d[:, :H] = dc * g * i * (1 - i)
            d[:, H:2 * H] = dc * cs[t] * f * (1 - f)
            d[:, 2 * H:3 * H] = dc * i * (1 - g ** 2)
            d[:, 3 * H:] = dh * tanh_c * o * (1 - o)
            g_hh += hs[t].T @ d
            dh = d @ W_hh.T
            dc *= f
        d2 = d_pre.reshape(n * steps, 4 * H)
        for param, grad in ((W_ih, x2.T @ d2), (W_hh, g_hh), (b, d2.sum(axis=0)),
                            (W_out, g_out), (b_out, gb_out)):
            param -= LR * grad
        return loss

    return Runner(step, lambda: {k: a.copy() for k, a in zip(NAMES, p)})


def build_graphc(problem: Problem, backend: str, unroll: bool) -> Runner:
    """gc.nn.LSTM (unrolled or scanned) and gc.nn.Dense, gc.grad, SGD as updates."""
    import graphc as gc

    x = gc.placeholder((None, problem.data[0].shape[1], INPUT), "float32", name="x")
    y = gc.placeholder((None, 1), "float32", name="y")
    lstm = gc.nn.LSTM(INPUT, HIDDEN, unroll=unroll, seed=0)
    head = gc.nn.Dense(HIDDEN, 1, seed=0)
    v = dict(zip(NAMES, (lstm.W_ih, lstm.W_hh, lstm.b, head.W, head.b)))
    for name, var in v.items():
        var.value = problem.params[name]
    loss = gc.mean(gc.losses.mse(head(lstm(x)), y))
    return sgd_runner([x, y], loss, {k: v[k] for k in NAMES}, LR, problem, backend)


def build_torch(problem: Problem) -> Runner:
    """torch.nn.LSTM (its fused CPU kernel) and a dense head, eager autograd, SGD in place.

    NOTE: nn.LSTM has two biases that add up; the second is held at zero and frozen, so the
    one trained bias takes the same step as the reference's `b`.
    """
    t = peers.torch()
    x, y = (t.from_numpy(a) for a in problem.data)
    lstm = t.nn.LSTM(INPUT, HIDDEN, batch_first=True)
    with t.no_grad():
        lstm.weight_ih_l0.copy_(t.from_numpy(problem.params["W_ih"].T))
        lstm.weight_hh_l0.copy_(t.from_numpy(problem.params["W_hh"].T))
        lstm.bias_ih_l0.copy_(t.from_numpy(problem.params["b"]))
        lstm.bias_hh_l0.zero_()
    lstm.bias_hh_l0.requires_grad_(False)
    head = peers.torch_tensors({k: problem.params[k] for k in ("W_out", "b_out")})
    params = {"W_ih": lstm.weight_ih_l0, "W_hh": lstm.weight_hh_l0, "b": lstm.bias_ih_l0,
              **head}

    def loss():
        out, _ = lstm(x)
        return t.mean((t.addmm(head["b_out"], out[:, -1], head["W_out"]) - y) ** 2)

    def exported() -> dict[str, np.ndarray]:
        transposed = {"W_ih", "W_hh"}
        return {k: (p.detach().T if k in transposed else p.detach()).numpy().copy()
                for k, p in params.items()}

    return peers.torch_sgd_runner(params, loss, LR, exported)


def build_jax(problem: Problem) -> Runner:
    """The same step as one jitted JAX function, the recurrence a lax.scan over time."""
    j = peers.jax()
    jnp, sigmoid = j.numpy, j.nn.sigmoid

    def loss(p, x, y):
        z = jnp.swapaxes(x @ p["W_ih"] + p["b"], 0, 1)  # (time, batch, 4H)

        def cell(carry, z_t):
            h, c = carry
            i, f, g, o = jnp.split(z_t + h @ p["W_hh"], 4, axis=1)
            c = sigmoid(f) * c + sigmoid(i) * jnp.tanh(g)
            return (sigmoid(o) * jnp.tanh(c), c), None

        zeros = jnp.zeros((x.shape[0], HIDDEN), x.dtype)
        (h, _), _ = j.lax.scan(cell, (zeros, zeros), z)
        return jnp.mean((h @ p["W_out"] + p["b_out"] - y) ** 2)

    return peers.jax_sgd_runner(problem, loss, LR)


WORKLOAD = register("W7-lstm", "LSTM seq 32, in 64, hidden 128, last h -> dense 1, MSE, SGD",
                    BATCH, make_problem)
WORKLOAD.add("numpy", build_numpy)
WORKLOAD.add("torch", build_torch)
WORKLOAD.add("jax", build_jax)
WORKLOAD.add("graphc-numpy", partial(build_graphc, backend="numpy", unroll=True))
WORKLOAD.add("graphc-numpy-scan", partial(build_graphc, backend="numpy", unroll=False))
WORKLOAD.add("graphc-llvm", partial(build_graphc, backend="llvm", unroll=True))
WORKLOAD.add("graphc-llvm-scan", partial(build_graphc, backend="llvm", unroll=False))
