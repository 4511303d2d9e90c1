"""RNN, LSTM and GRU: each direction one gc.scan over the time axis.

The input projection x_t W^T + Wb of every step is one matmul before the loop; the loop
carries h (and an LSTM's c). Gate orders are ONNX's: LSTM i, o, f, c; GRU z, r, h.
"""
from __future__ import annotations

import numpy as np

import graphc as gc
from frontends.onnx.node import Node
from frontends.onnx.table import converts
from graphc.tensor import Tensor

_ATTRS = ("activation_alpha", "activation_beta", "activations", "clip", "direction",
          "hidden_size", "layout")

# name -> (fn(x, alpha, beta), default alpha, default beta)
_ACTIVATIONS = {
    "Sigmoid": (lambda x, a, b: gc.sigmoid(x), None, None),
    "Tanh": (lambda x, a, b: gc.tanh(x), None, None),
    "Relu": (lambda x, a, b: gc.relu(x), None, None),
    "HardSigmoid": (lambda x, a, b: gc.clip(x * a + b, 0, 1), 0.2, 0.5),
    "LeakyRelu": (lambda x, a, b: gc.leaky_relu(x, a), 0.01, None),
    "ThresholdedRelu": (lambda x, a, b: gc.where(x > a, x, 0), 1.0, None),
    "ScaledTanh": (lambda x, a, b: gc.tanh(x * b) * a, 1.0, 1.0),
    "Affine": (lambda x, a, b: x * a + b, 1.0, 0.0),
    "Elu": (lambda x, a, b: gc.elu(x, a), 1.0, None),
    "Softsign": (lambda x, a, b: x / (gc.abs(x) + 1), None, None),
    "Softplus": (lambda x, a, b: gc.softplus(x), None, None),
}


def _activations(n: Node, defaults: list[str], directions: int) -> list:
    names = n.attr("activations") or defaults * directions
    if len(names) == len(defaults):
        names = names * directions
    alphas, betas = list(n.attr("activation_alpha", [])), list(n.attr("activation_beta", []))
    fns = []
    for k, name in enumerate(names):
        key = next((a for a in _ACTIVATIONS if a.lower() == name.lower()), None)
        if key is None:
            raise n.unsupported(f"activation {name!r}")
        fn, alpha, beta = _ACTIVATIONS[key]
        alpha = alphas[k] if k < len(alphas) else alpha
        beta = betas[k] if k < len(betas) else beta
        fns.append(lambda x, fn=fn, a=alpha, b=beta: fn(x, a, b))
    return fns


class _Recurrence:
    """The parts of one RNN node shared by its directions."""

    def __init__(self, n: Node, gates: int, defaults: list[str]):
        self.n = n
        x = n.x(0)
        self.layout = n.attr("layout", 0)
        self.x = gc.transpose(x, (1, 0, 2)) if self.layout else x        # (T, N, I)
        direction = n.attr("direction", "forward")
        if direction not in ("forward", "reverse", "bidirectional"):
            raise n.fail(f"direction {direction!r}")
        self.reverse = [direction == "reverse"] if direction != "bidirectional" \
            else [False, True]
        self.hidden = n.attr("hidden_size") or n.x(2).shape[-1]
        self.gates = gates
        self.clip = n.attr("clip")
        self.acts = _activations(n, defaults, len(self.reverse))
        self.steps = self.x.shape[0]
        self.mask = self._mask()

    def _mask(self) -> Tensor | None:
        """(T, N, 1) 1.0 while a sequence lasts, when sequence_lens leaves some short."""
        n = self.n
        if not n.has(4):
            return None
        lengths = np.asarray(n.static(4)).reshape(-1)
        if isinstance(self.steps, int) and np.all(lengths == self.steps):
            return None
        if any(self.reverse):
            raise n.unsupported("sequence_lens shorter than the sequence in a reverse direction")
        steps = np.arange(self.steps)[:, None, None] < lengths[None, :, None]
        return gc.constant(steps.astype(self.x.dtype))

    def weights(self, d: int):
        n, g = self.n, self.gates * self.hidden
        w, r = n.x(1)[d], n.x(2)[d]
        b = n.x(3)[d] if n.has(3) else None
        wb, rb = (b[:g], b[g:]) if b is not None else (None, None)
        return w, r, wb, rb

    def initial(self, i: int, d: int) -> Tensor:
        """Initial state input i (initial_h at 5, initial_c at 6) for direction d, or zeros."""
        n = self.n
        if n.has(i):
            s = n.x(i)
            return s[:, d] if self.layout else s[d]
        return gc.broadcast_to(gc.cast(0, self.x.dtype), (self.x.shape[1], self.hidden))

    def gate(self, z: Tensor) -> Tensor:
        return gc.clip(z, -self.clip, self.clip) if self.clip else z

    def run(self, cell, states: list[int]) -> list[Tensor]:
        """Y and the final states, stacked over directions in the node's layout."""
        ys, finals = [], [[] for _ in states]
        for d, reverse in enumerate(self.reverse):
            w, r, wb, rb = self.weights(d)
            proj = gc.matmul(self.x, gc.transpose(w))
            if wb is not None:
                proj = proj + wb
            acts = self.acts[d * len(self.acts) // len(self.reverse):]
            init = tuple(self.initial(i, d) for i in states)
            seqs = proj if self.mask is None else (proj, self.mask)

            def step(carry, xs, r=r, rb=rb, acts=acts, d=d):
                z, m = (xs, None) if self.mask is None else xs
                new = cell(carry, z, r, rb, acts, d)
                if m is not None:
                    new = tuple(m * a + (1 - m) * b for a, b in zip(new, carry))
                y = new[0] if m is None else new[0] * m
                return new, y
            final, y = gc.scan(step, init, seqs, reverse=reverse)
            ys.append(y)
            for k, f in enumerate(final):
                finals[k].append(f)
        y = gc.stack(ys, axis=1)                                           # (T, D, N, H)
        finals = [gc.stack(f, axis=0) for f in finals]                      # (D, N, H)
        if self.layout:
            y = gc.transpose(y, (2, 0, 1, 3))
            finals = [gc.transpose(f, (1, 0, 2)) for f in finals]
        return [y, *finals]


def _hidden_product(h: Tensor, r: Tensor, rb: Tensor | None) -> Tensor:
    z = gc.matmul(h, gc.transpose(r))
    return z if rb is None else z + rb


@converts("RNN", attrs=_ATTRS)
def rnn(n: Node):
    rec = _Recurrence(n, 1, ["Tanh"])

    def cell(carry, z, r, rb, acts, d):
        (h,) = carry
        return (acts[0](rec.gate(z + _hidden_product(h, r, rb))),)
    return rec.run(cell, [5])


@converts("GRU", attrs=_ATTRS + ("linear_before_reset",))
def gru(n: Node):
    rec = _Recurrence(n, 3, ["Sigmoid", "Tanh"])
    before_reset = n.attr("linear_before_reset", 0)

    def cell(carry, z, r, rb, acts, d):
        (h,) = carry
        f, g = acts[0], acts[1]
        xz, xr, xh = gc.split(z, 3, axis=-1)
        rz, rr, rh = gc.split(r, 3, axis=0)
        bz, br, bh = gc.split(rb, 3) if rb is not None else (None, None, None)
        zt = f(rec.gate(xz + _hidden_product(h, rz, bz)))
        rt = f(rec.gate(xr + _hidden_product(h, rr, br)))
        if before_reset:
            ht = g(rec.gate(xh + rt * _hidden_product(h, rh, bh)))
        else:
            ht = g(rec.gate(xh + _hidden_product(rt * h, rh, bh)))
        return ((1 - zt) * ht + zt * h,)
    return rec.run(cell, [5])


@converts("LSTM", attrs=_ATTRS + ("input_forget",))
def lstm(n: Node):
    if n.attr("input_forget", 0):
        raise n.unsupported("input_forget=1")
    rec = _Recurrence(n, 4, ["Sigmoid", "Tanh", "Tanh"])
    peepholes = n.x(7) if n.has(7) else None

    def cell(carry, z, r, rb, acts, d):
        h, c = carry
        p = None if peepholes is None else peepholes[d]
        f, g, act_h = acts[0], acts[1], acts[2]
        gates = z + _hidden_product(h, r, rb)
        i, o, fg, cg = gc.split(gates, 4, axis=-1)
        pi, po, pf = gc.split(p, 3) if p is not None else (None, None, None)
        it = f(rec.gate(i if pi is None else i + pi * c))
        ft = f(rec.gate(fg if pf is None else fg + pf * c))
        c_new = ft * c + it * g(rec.gate(cg))
        ot = f(rec.gate(o if po is None else o + po * c_new))
        return ot * act_h(c_new), c_new
    return rec.run(cell, [5, 6])
