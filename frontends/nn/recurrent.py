"""Recurrent layers: SimpleRNN, LSTM and GRU over batch-first (N, T, F) sequences.

Each layer projects the whole sequence at once (x @ W_ih + b, one matmul), then steps its
cell over time either unrolled (unroll=True: a Python loop building T copies of the cell, T
static) or as one gc.scan node (unroll=False: the graph has one cell whatever T, and T may be
symbolic). Both compute the same values. Gate equations and gate order follow PyTorch's docs:
LSTM (i, f, g, o), GRU (r, z, n). Input weights are Glorot-uniform, recurrent weights
orthogonal per gate block, biases zero (the LSTM forget gate's bias `forget_bias`), seeded.
"""
from __future__ import annotations

import numpy as np

from frontends.nn import init as initializers
from frontends.nn.base import Layer
from graphc.errors import ShapeError
from graphc.ops.activations import sigmoid
from graphc.ops.elementwise import tanh
from graphc.ops.layout import broadcast_to, reshape, split, stack, transpose
from graphc.ops.leaves import constant, variable
from graphc.ops.scan import scan
from graphc.tensor import Tensor, scope
from graphc.types import shape_str

State = tuple[Tensor, ...]


def orthogonal(shape: tuple[int, int], rng: np.random.Generator, dtype: str) -> np.ndarray:
    """A random (semi-)orthogonal matrix: QR of a Gaussian one, signs fixed to be uniform."""
    rows, cols = shape
    q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    q *= np.sign(np.diag(r))
    return (q if rows >= cols else q.T).astype(dtype)


class Recurrent(Layer):
    """The loop shared by the recurrent layers: weights, initial states, unrolled or scanned."""

    gates = 1          # gate blocks in W_ih and W_hh
    num_states = 1     # (h,) or (h, c)

    def __init__(self, input_size: int, hidden_size: int, return_sequences: bool = False,
                 unroll: bool = False, seed: int | None = None, dtype: str = "float32",
                 name: str | None = None):
        super().__init__(name)
        self.input_size, self.hidden_size = input_size, hidden_size
        self.return_sequences, self.unroll, self.dtype = return_sequences, unroll, dtype
        rng = initializers.generator(seed)
        width = self.gates * hidden_size
        self.W_ih = variable(initializers.glorot_uniform((input_size, width), rng, dtype),
                             name=f"{self.name}.W_ih")
        blocks = [orthogonal((hidden_size, hidden_size), rng, dtype) for _ in range(self.gates)]
        self.W_hh = variable(np.concatenate(blocks, axis=1), name=f"{self.name}.W_hh")
        self.b = variable(self._bias(), name=f"{self.name}.b")

    def _bias(self) -> np.ndarray:
        return np.zeros(self.gates * self.hidden_size, self.dtype)

    def cell(self, state: State, z: Tensor) -> State:
        """One time step from the state and the projected input z_t = x_t @ W_ih + b."""
        raise NotImplementedError

    def __call__(self, x: Tensor, initial_state=None, training: bool | None = None) -> Tensor:
        """Run over x (N, T, F); initial_state is h0 (an LSTM's: (h0, c0)), zeros if None."""
        training = self.training if training is None else training
        with scope(self.name):
            return self._called(self.forward(x, training, initial_state))

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}"
                + (", return_sequences=True" if self.return_sequences else "")
                + (", unroll=True" if self.unroll else ""))

    def forward(self, x: Tensor, training: bool, initial_state=None) -> Tensor:
        name = type(self).__name__
        if x.ndim != 3 or (isinstance(x.shape[2], int) and x.shape[2] != self.input_size):
            raise ShapeError(f"{name}: expects input (batch, time, {self.input_size}), got "
                             f"{shape_str(x.shape)}")
        state = self._initial_state(x, initial_state)
        return self._unrolled(x, state) if self.unroll else self._scanned(x, state)

    def _scanned(self, x: Tensor, state: State) -> Tensor:
        """One gc.scan node over time, its step the cell.

        The whole sequence's projection is one product before the loop, (T * N, F) @ (F,
        gates * H): time-major, as the scan reads it and its gradient comes back, so only x
        (F wide) is transposed, not z (gates * H wide), both ways; and 2-D, one GEMM over all
        rows (a transposed 3-D x would be T products of N rows). The bias is added in the
        step, where the step's product is added anyway (not in a pass of its own over z); its
        gradient is still summed after the loop.
        """
        rows = reshape(transpose(x, (1, 0, 2)), (-1, x.shape[2]))
        z = reshape(rows @ self.W_ih, (x.shape[1], x.shape[0], -1))

        def step(s: State, z_t: Tensor):
            new = self.cell(s, z_t + self.b)
            return new, (new[0] if self.return_sequences else None)
        final, hs = scan(step, state, z)
        return transpose(hs, (1, 0, 2)) if self.return_sequences else final[0]

    def _unrolled(self, x: Tensor, state: State) -> Tensor:
        """T copies of the cell; the projection one product, (N, T, F) @ (F, gates * H),
        before them: one GEMM over all N * T rows."""
        steps = x.shape[1]
        if not isinstance(steps, int):
            raise ShapeError(f"{type(self).__name__}: unroll=True needs a static sequence "
                             f"length, got {shape_str(x.shape)}; use unroll=False (gc.scan)")
        z = x @ self.W_ih + self.b
        # NOTE: step t reads z[:, t], a view; the gradient's per-step pieces (unslices)
        # merge into one concatenate (graphc/passes/unslices.py), so W_ih's gradient is
        # one product too (the matmul gradient folds the batch into the rows).
        outputs = []
        for t in range(steps):
            state = self.cell(state, z[:, t])
            outputs.append(state[0])
        return stack(outputs, axis=1) if self.return_sequences else state[0]

    def _initial_state(self, x: Tensor, given) -> State:
        shape = (x.shape[0], self.hidden_size)
        if given is None:
            zeros = broadcast_to(constant(0, self.dtype), shape)
            return (zeros,) * self.num_states
        given = tuple(given) if isinstance(given, (list, tuple)) else (given,)
        if len(given) != self.num_states:
            raise ShapeError(f"{type(self).__name__}: initial_state needs {self.num_states} "
                             f"tensors, got {len(given)}")
        for s in given:
            if s.ndim != 2 or s.shape[1] != self.hidden_size:
                raise ShapeError(f"{type(self).__name__}: an initial state must be (batch, "
                                 f"{self.hidden_size}), got {shape_str(s.shape)}")
        return given


class SimpleRNN(Recurrent):
    """Elman RNN: h' = tanh(x W_ih + b + h W_hh)."""

    def cell(self, state: State, z: Tensor) -> State:
        (h,) = state
        return (tanh(z + h @ self.W_hh),)


class LSTM(Recurrent):
    """LSTM: gates i, f, o = sigmoid(.), g = tanh(.); c' = f c + i g; h' = o tanh(c')."""

    gates, num_states = 4, 2

    def __init__(self, input_size: int, hidden_size: int, forget_bias: float = 1.0, **kw):
        self.forget_bias = forget_bias
        super().__init__(input_size, hidden_size, **kw)

    def _bias(self) -> np.ndarray:
        b = super()._bias()
        b[self.hidden_size:2 * self.hidden_size] = self.forget_bias
        return b

    def cell(self, state: State, z: Tensor) -> State:
        h, c = state
        i, f, g, o = split(z + h @ self.W_hh, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * tanh(g)
        return sigmoid(o) * tanh(c), c


class GRU(Recurrent):
    """GRU: r, z = sigmoid(.); n = tanh(x W_in + b_in + r (h W_hn + b_hn)); h' = (1-z) n + z h."""

    gates = 3

    def __init__(self, input_size: int, hidden_size: int, **kw):
        super().__init__(input_size, hidden_size, **kw)
        self.b_hh = variable(np.zeros(3 * hidden_size, self.dtype), name=f"{self.name}.b_hh")

    def cell(self, state: State, z: Tensor) -> State:
        (h,) = state
        x_r, x_z, x_n = split(z, 3, axis=-1)
        h_r, h_z, h_n = split(h @ self.W_hh + self.b_hh, 3, axis=-1)
        r, u = sigmoid(x_r + h_r), sigmoid(x_z + h_z)
        n = tanh(x_n + r * h_n)
        return ((1 - u) * n + u * h,)
