"""gc.optim: gradient-descent optimizers and learning-rate schedules, all as graph updates.

`Optimizer.updates(loss, params)` differentiates the loss with gc.grad and returns the
(variable, new value) pairs to pass to gc.compile(updates=...): the parameters, the
optimizer's slot variables (velocities, moment estimates) and its step counter, so a compiled
step carries the whole optimizer state. The formulas are PyTorch's (torch.optim docs).

`lr` is a float, a scalar Tensor (e.g. a variable the host sets), or a `Schedule`: a schedule
builds the learning rate from the step counter inside the graph, so the compiled step
computes its current learning rate itself. Schedules see t = the number of updates already
applied (0 on the first step) and compose: a schedule's base `lr` may be another schedule.
"""
from __future__ import annotations

import math
from typing import Sequence, Union

import numpy as np

from graphc.autodiff import grad
from graphc.dtypes import is_float
from graphc.errors import GraphError
from graphc.graph import Update
from graphc.ops import elementwise as ew
from graphc.ops.leaves import constant, placeholder, variable
from graphc.tensor import Tensor

__all__ = ["Schedule", "StepDecay", "ExponentialDecay", "CosineDecay", "Warmup",
           "Optimizer", "SGD", "Adagrad", "RMSProp", "Adam"]


# ---- learning-rate schedules ------------------------------------------------------------------

class Schedule:
    """A learning rate as a float64 scalar Tensor built from the step t (a float64 scalar)."""

    def __call__(self, t: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__")

    def values(self, steps: Sequence[int]) -> np.ndarray:
        """The learning rate at each step, computed by the graph (for plots and checks)."""
        from graphc.compile import compile as compile_graph
        t = placeholder((), "float64", name="t")
        fn = compile_graph([t], self(t))
        return np.array([float(fn(np.float64(s))) for s in steps])


LearningRate = Union[float, Tensor, Schedule]


def _lr_at(lr: LearningRate, t: Tensor) -> Tensor:
    """The learning rate at step t as a float64 scalar Tensor."""
    if isinstance(lr, Schedule):
        return lr(t)
    if isinstance(lr, Tensor):
        if lr.ndim != 0 or not is_float(lr.dtype):
            raise GraphError(f"a learning-rate Tensor must be a float scalar, got {lr.type}")
        return ew.cast(lr, "float64")
    return constant(float(lr), "float64")


class StepDecay(Schedule):
    """lr * gamma ** floor(t / step_size): divide the rate by 1/gamma every step_size steps."""

    def __init__(self, lr: LearningRate, step_size: int, gamma: float = 0.1):
        if step_size < 1:
            raise ValueError(f"StepDecay: step_size must be >= 1, got {step_size}")
        self.lr, self.step_size, self.gamma = lr, step_size, gamma

    def __call__(self, t: Tensor) -> Tensor:
        return _lr_at(self.lr, t) * self.gamma ** ew.floor(t / self.step_size)


class ExponentialDecay(Schedule):
    """lr * gamma ** (t / decay_steps): a smooth geometric decay."""

    def __init__(self, lr: LearningRate, gamma: float, decay_steps: int = 1):
        if decay_steps < 1:
            raise ValueError(f"ExponentialDecay: decay_steps must be >= 1, got {decay_steps}")
        self.lr, self.gamma, self.decay_steps = lr, gamma, decay_steps

    def __call__(self, t: Tensor) -> Tensor:
        return _lr_at(self.lr, t) * self.gamma ** (t / self.decay_steps)


class CosineDecay(Schedule):
    """min_lr + (lr - min_lr) * (1 + cos(pi * min(t, T) / T)) / 2, then min_lr after T steps."""

    def __init__(self, lr: LearningRate, total_steps: int, min_lr: float = 0.0):
        if total_steps < 1:
            raise ValueError(f"CosineDecay: total_steps must be >= 1, got {total_steps}")
        self.lr, self.total_steps, self.min_lr = lr, total_steps, min_lr

    def __call__(self, t: Tensor) -> Tensor:
        progress = ew.minimum(t, float(self.total_steps)) / self.total_steps
        return self.min_lr + (_lr_at(self.lr, t) - self.min_lr) * 0.5 * (
            ew.cos(progress * math.pi) + 1)


class Warmup(Schedule):
    """Linear warm-up: lr(t) * min(1, (t + 1) / steps), ramping another schedule (or float) up."""

    def __init__(self, lr: LearningRate, steps: int):
        if steps < 1:
            raise ValueError(f"Warmup: steps must be >= 1, got {steps}")
        self.lr, self.steps = lr, steps

    def __call__(self, t: Tensor) -> Tensor:
        return _lr_at(self.lr, t) * ew.minimum((t + 1) / self.steps, 1.0)


# ---- optimizers -------------------------------------------------------------------------------

def _parameters(params) -> list[Tensor]:
    """Check the parameters: float gc.variables, each once (a gc.nn layer gives its own)."""
    if hasattr(params, "trainable_variables"):
        params = params.trainable_variables
    params = [params] if isinstance(params, Tensor) else list(params)
    if not params:
        raise GraphError("an optimizer needs at least one parameter")
    for p in params:
        if not isinstance(p, Tensor) or p.op != "variable":
            raise GraphError(f"optimizers update gc.variables, got {p!r}")
        if not is_float(p.dtype):
            raise GraphError(f"parameter {p.name!r} is {p.dtype}; only float variables train")
    if len({id(p) for p in params}) != len(params):
        raise GraphError("a parameter is listed twice")
    return params


class Optimizer:
    """Base class: subclasses give `_step(p, g, lr, t)` -> the new p (and add slot updates).

    After `updates()`, `iterations` is the step-counter variable (int64) and `variables`
    lists every variable the optimizer created. Each `updates()` call creates fresh state.
    """

    def __init__(self, lr: LearningRate, weight_decay: float = 0.0):
        if weight_decay < 0:
            raise ValueError(f"{type(self).__name__}: weight_decay must be >= 0, got "
                             f"{weight_decay}")
        self.lr, self.weight_decay = lr, weight_decay
        self.iterations: Tensor | None = None
        self.slots: list[Tensor] = []
        self._slot_updates: list[Update] = []

    @property
    def variables(self) -> list[Tensor]:
        """The slot variables and the step counter of the latest `updates()` call."""
        return self.slots + ([self.iterations] if self.iterations is not None else [])

    def updates(self, loss: Tensor, params) -> list[Update]:
        """(variable, new value) pairs: one optimizer step on `params` to lower `loss`."""
        params = _parameters(params)
        grads = grad(loss, params)
        name = type(self).__name__.lower()
        self.iterations = variable(np.int64(0), name=f"{name}.iterations")
        self.slots, self._slot_updates = [], []
        t = ew.cast(self.iterations, "float64")
        lr = _lr_at(self.lr, t)
        result = []
        for p, g in zip(params, grads):
            if self.weight_decay:
                g = g + p * self.weight_decay
            result.append((p, self._step(p, g, ew.cast(lr, p.dtype), t)))
        return result + self._slot_updates + [(self.iterations, self.iterations + 1)]

    def _slot(self, p: Tensor, what: str) -> Tensor:
        """A zero-initialized variable shaped like p (a velocity, a moment estimate)."""
        slot = variable(np.zeros_like(p.value), name=f"{p.name or 'param'}.{what}")
        self.slots.append(slot)
        return slot

    def _assign(self, slot: Tensor, value: Tensor) -> Tensor:
        """Record the slot's new value for this step and return it."""
        self._slot_updates.append((slot, value))
        return value

    def _step(self, p: Tensor, g: Tensor, lr: Tensor, t: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement _step")


class SGD(Optimizer):
    """Gradient descent; momentum b = mu * b + g, then p -= lr * b (nesterov: g + mu * b)."""

    def __init__(self, lr: LearningRate = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        if nesterov and momentum <= 0:
            raise ValueError("SGD: nesterov needs momentum > 0")
        self.momentum, self.nesterov = momentum, nesterov

    def _step(self, p, g, lr, t):
        if self.momentum:
            b = self._slot(p, "velocity")
            b = self._assign(b, b * self.momentum + g)
            g = g + b * self.momentum if self.nesterov else b
        return p - lr * g


class Adagrad(Optimizer):
    """Per-coordinate rates: s += g^2, p -= lr * g / (sqrt(s) + eps)."""

    def __init__(self, lr: LearningRate = 0.01, eps: float = 1e-10,
                 initial_accumulator_value: float = 0.0, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.eps, self.initial = eps, initial_accumulator_value

    def _step(self, p, g, lr, t):
        s = self._slot(p, "sum_sq")
        s.value = np.full_like(p.value, self.initial)
        s = self._assign(s, s + ew.square(g))
        return p - lr * g / (ew.sqrt(s) + self.eps)


class RMSProp(Optimizer):
    """v = alpha v + (1 - alpha) g^2, p -= lr * g / (sqrt(v) + eps); momentum, centered optional."""

    def __init__(self, lr: LearningRate = 0.01, alpha: float = 0.99, eps: float = 1e-8,
                 momentum: float = 0.0, centered: bool = False, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.alpha, self.eps, self.momentum, self.centered = alpha, eps, momentum, centered

    def _step(self, p, g, lr, t):
        v = self._slot(p, "square_avg")
        v = self._assign(v, v * self.alpha + ew.square(g) * (1 - self.alpha))
        if self.centered:
            mean = self._slot(p, "grad_avg")
            mean = self._assign(mean, mean * self.alpha + g * (1 - self.alpha))
            v = v - ew.square(mean)
        direction = g / (ew.sqrt(v) + self.eps)
        if self.momentum:
            buf = self._slot(p, "momentum")
            direction = self._assign(buf, buf * self.momentum + direction)
        return p - lr * direction


class Adam(Optimizer):
    """Adam with bias-corrected moments: p -= lr * m_hat / (sqrt(v_hat) + eps)."""

    def __init__(self, lr: LearningRate = 0.001, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(lr, weight_decay)
        self.beta1, self.beta2 = betas
        self.eps = eps

    def _step(self, p, g, lr, t):
        m, v = self._slot(p, "m"), self._slot(p, "v")
        m = self._assign(m, m * self.beta1 + g * (1 - self.beta1))
        v = self._assign(v, v * self.beta2 + ew.square(g) * (1 - self.beta2))
        step = t + 1
        correction1 = ew.cast(1 - self.beta1 ** step, p.dtype)
        correction2 = ew.cast(1 - self.beta2 ** step, p.dtype)
        return p - lr * (m / correction1) / (ew.sqrt(v / correction2) + self.eps)
