"""W3: one SGD step of LeNet-5 on a (64, 1, 28, 28) batch, softmax cross-entropy, float32.

conv 6@5x5 pad 2, relu, maxpool 2, conv 16@5x5, relu, maxpool 2, dense 120, relu, dense 84,
relu, dense 10: it measures convolution (im2col + matmul) and pooling kernels.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from benchmarks import peers
from benchmarks.harness import Problem, Runner, register, sgd_runner

LR = 0.01
BATCH, SMALL_BATCH = 64, 8
CONVS = {"C1": (6, 1, 5, 5), "C2": (16, 6, 5, 5)}
DENSE = (16 * 5 * 5, 120, 84, 10)
NAMES = ("C1", "c1", "C2", "c2", "W3", "b3", "W4", "b4", "W5", "b5")


def make_problem(seed: int, small: bool = False) -> Problem:
    """He-initialized weights and one random batch (standard-normal pixels, int64 labels)."""
    batch = SMALL_BATCH if small else BATCH
    rng = np.random.default_rng(seed)
    params: dict[str, np.ndarray] = {}
    for (name, shape), bias in zip(CONVS.items(), ("c1", "c2")):
        fan_in = int(np.prod(shape[1:]))
        params[name] = rng.standard_normal(shape, dtype=np.float32) * np.float32(
            np.sqrt(2.0 / fan_in))
        params[bias] = np.zeros(shape[0], np.float32)
    for i, (fan_in, fan_out) in enumerate(zip(DENSE, DENSE[1:]), start=3):
        w = rng.standard_normal((fan_in, fan_out), dtype=np.float32)
        params[f"W{i}"] = w * np.float32(np.sqrt(2.0 / fan_in))
        params[f"b{i}"] = np.zeros(fan_out, np.float32)
    x = rng.standard_normal((batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, DENSE[-1], batch, dtype=np.int64)
    return Problem(params, (x, y))


K = 5           # both convolutions are 5x5, stride 1
TAPS = [(i, j) for i in range(2) for j in range(2)]


def _im2col(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Columns of a stride-1 KxK convolution of a channel-major (C, N, H, W) x, into `out`.

    `out` is (C*K*K, N*H'*W'), rows (channel, tap) and columns (batch, position).
    """
    c, n, h, w = x.shape
    win = sliding_window_view(x, (K, K), axis=(2, 3))           # (C, N, H', W', K, K)
    np.copyto(out.reshape(c, K, K, n, h - K + 1, w - K + 1), win.transpose(0, 4, 5, 1, 2, 3))
    return out


def _conv_input_grad(g: np.ndarray, w: np.ndarray, out: np.ndarray) -> np.ndarray:
    """d/dx of a stride-1, unpadded convolution by w, given d/dy = g, both (C, N, H, W).

    NOTE: columns ordered (position, batch) make each tap's scatter add long contiguous runs;
    `out` is the (C, H, W, N) accumulator, returned as a (C, N, H, W) view.
    """
    o, n, oh, ow = g.shape
    g_cols = g.transpose(0, 2, 3, 1).reshape(o, -1)
    cols = (w.transpose(2, 3, 1, 0).reshape(-1, o) @ g_cols).reshape(K, K, -1, oh, ow, n)
    out.fill(0)
    for i in range(K):
        for j in range(K):
            out[:, i:i + oh, j:j + ow] += cols[i, j]
    return out.transpose(0, 3, 1, 2)


def _pool(a: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """2x2 max pooling of even-sized maps, and the four strided views it compared."""
    taps = [a[:, :, i::2, j::2] for i, j in TAPS]
    return np.maximum(np.maximum(taps[0], taps[1]), np.maximum(taps[2], taps[3])), taps


def _unpool(g: np.ndarray, y: np.ndarray, taps: list[np.ndarray], a: np.ndarray,
            out: np.ndarray) -> np.ndarray:
    """The pooled gradient g sent to each window's first maximum, through the relu output a."""
    taken = np.zeros(y.shape, bool)
    for (i, j), tap in zip(TAPS, taps):
        hit = (tap == y) & ~taken
        taken |= hit
        np.multiply(g, hit, out=out[:, :, i::2, j::2])
    return np.multiply(out, a > 0, out=out)


def build_numpy(problem: Problem) -> Runner:
    """Hand-written im2col forward and backward pass, updating the parameters in place.

    Feature maps stay channel-major, (C, N, H, W), so every im2col product and its gradients
    need no transposes. NOTE: as in W2, the large buffers are allocated once: fresh
    megabyte-sized temporaries on every step would cost more in page faults than the
    arithmetic.
    """
    p = {k: problem.params[k].copy() for k in NAMES}
    x, y = problem.data
    n, rows = len(y), np.arange(len(y))
    f32 = np.float32
    xp = np.zeros((1, n, 32, 32), f32)                         # x padded by 2, channel-major
    cols1, cols2 = np.empty((25, n * 28 * 28), f32), np.empty((150, n * 10 * 10), f32)
    a1, a2 = np.empty((6, n, 28, 28), f32), np.empty((16, n, 10, 10), f32)
    da1, da2, dp1 = np.empty_like(a1), np.empty_like(a2), np.empty((6, 14, 14, n), f32)

    def conv(cols, name, bias, out):
        """relu(w @ cols + b) into out (C, N, H, W)."""
        rows_out = out.reshape(len(p[bias]), -1)
        np.matmul(p[name].reshape(len(p[bias]), -1), cols, out=rows_out)
        rows_out += p[bias][:, None]
        return np.maximum(out, 0, out=out)

    def conv_backward(g, cols, name):
        """The weight and bias gradients; cols @ g.T is the faster order for BLAS here."""
        g_rows = g.reshape(len(g), -1)
        return (cols @ g_rows.T).T.reshape(p[name].shape), g_rows.sum(axis=1)

    def step() -> np.float32:
        xp[0, :, 2:30, 2:30] = x[:, 0]
        conv(_im2col(xp, cols1), "C1", "c1", a1)
        p1, taps1 = _pool(a1)
        conv(_im2col(p1, cols2), "C2", "c2", a2)
        p2, taps2 = _pool(a2)
        f = p2.transpose(1, 0, 2, 3).reshape(n, -1)             # flatten each example (C, H, W)
        h3 = np.maximum(f @ p["W3"] + p["b3"], 0)
        h4 = np.maximum(h3 @ p["W4"] + p["b4"], 0)
        z = h4 @ p["W5"] + p["b5"]
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = np.mean(np.log(s[:, 0]) - z[rows, y])
        dz = e / s
        dz[rows, y] -= 1.0
        dz *= 1.0 / n
        dh4 = (dz @ p["W5"].T) * (h4 > 0)
        dh3 = (dh4 @ p["W4"].T) * (h3 > 0)
        df = (dh3 @ p["W3"].T).reshape(p2.shape[1], p2.shape[0], 5, 5).transpose(1, 0, 2, 3)
        dense = [("W5", "b5", h4, dz), ("W4", "b4", h3, dh4), ("W3", "b3", f, dh3)]
        grads = {w: a.T @ d for w, _, a, d in dense} | {b: d.sum(axis=0) for _, b, _, d in dense}
        _unpool(df, p2, taps2, a2, da2)
        grads["C2"], grads["c2"] = conv_backward(da2, cols2, "C2")
        _unpool(_conv_input_grad(da2, p["C2"], dp1), p1, taps1, a1, da1)
        grads["C1"], grads["c1"] = conv_backward(da1, cols1, "C1")
        for name in NAMES:
            p[name] -= LR * grads[name]
        return loss

    return Runner(step, lambda: {k: a.copy() for k, a in p.items()})


def build_graphc(problem: Problem, backend: str) -> Runner:
    """The same step in the DSL: gc.conv2d and gc.max_pool, gc.grad, SGD as updates."""
    import graphc as gc

    x = gc.placeholder((None, 1, 28, 28), "float32", name="x")
    y = gc.placeholder((None,), "int64", name="y")
    v = {k: gc.variable(problem.params[k].copy(), name=k) for k in NAMES}
    h = gc.max_pool(gc.relu(gc.conv2d(x, v["C1"], v["c1"], padding=2)), 2)
    h = gc.max_pool(gc.relu(gc.conv2d(h, v["C2"], v["c2"])), 2)
    h = gc.flatten(h)
    h = gc.relu(h @ v["W3"] + v["b3"])
    h = gc.relu(h @ v["W4"] + v["b4"])
    loss = gc.mean(gc.losses.cross_entropy(h @ v["W5"] + v["b5"], y))
    return sgd_runner([x, y], loss, {k: v[k] for k in NAMES}, LR, problem, backend)


def build_torch(problem: Problem) -> Runner:
    """The same step in eager PyTorch: F.conv2d and F.max_pool2d, autograd, SGD in place."""
    t = peers.torch()
    F = t.nn.functional
    p = peers.torch_tensors(problem.params)
    x, y = (t.from_numpy(a) for a in problem.data)

    def loss():
        h = F.max_pool2d(t.relu(F.conv2d(x, p["C1"], p["c1"], padding=2)), 2)
        h = F.max_pool2d(t.relu(F.conv2d(h, p["C2"], p["c2"])), 2).flatten(1)
        h = t.relu(t.addmm(p["b3"], h, p["W3"]))
        h = t.relu(t.addmm(p["b4"], h, p["W4"]))
        return F.cross_entropy(t.addmm(p["b5"], h, p["W5"]), y)

    return peers.torch_sgd_runner(p, loss, LR)


def build_jax(problem: Problem) -> Runner:
    """The same step as one jitted JAX function (lax convolutions and reduce_window)."""
    j = peers.jax()
    jnp, lax, relu = j.numpy, j.lax, j.nn.relu

    def conv(x, w, b, pad):
        y = lax.conv_general_dilated(x, w, (1, 1), [(pad, pad)] * 2,
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return y + b[None, :, None, None]

    def pool(x):
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def loss(p, x, y):
        h = pool(relu(conv(x, p["C1"], p["c1"], 2)))
        h = pool(relu(conv(h, p["C2"], p["c2"], 0))).reshape(x.shape[0], -1)
        h = relu(h @ p["W3"] + p["b3"])
        h = relu(h @ p["W4"] + p["b4"])
        logp = j.nn.log_softmax(h @ p["W5"] + p["b5"])
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    return peers.jax_sgd_runner(problem, loss, LR)


WORKLOAD = register("W3-lenet", "LeNet-5 28x28, conv/maxpool/dense, cross-entropy, SGD", BATCH,
                    make_problem)
WORKLOAD.add("numpy", build_numpy)
WORKLOAD.add("torch", build_torch)
WORKLOAD.add("jax", build_jax)
WORKLOAD.add("graphc-numpy", partial(build_graphc, backend="numpy"))
WORKLOAD.add("graphc-llvm", partial(build_graphc, backend="llvm"))
