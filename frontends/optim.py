"""gc.optim: gradient-descent optimizers and learning-rate schedules, all as graph updates.

`Optimizer.updates(loss, params)` differentiates the loss with gc.grad and returns the
(variable, new value) pairs to pass to gc.compile(updates=...): the parameters, the
optimizer's slot variables (velocities, moment estimates) and its step counter, so a compiled
step carries the whole optimizer state. The formulas are PyTorch's (torch.optim docs).

`lr` is a float, a scalar Tensor (e.g. a variable the host sets), or a `Schedule`: a schedule
builds the learning rate from the step counter inside the graph, so the compiled step
computes its current learning rate itself. Schedules see t = the number of updates already
applied (0 on the first step) and compose: a schedule's base `lr` may be another schedule.
A float becomes a variable, `optimizer.learning_rate`, that the host may change between steps
(gc.train.ReduceLROnPlateau does).

Gradients may be clipped before the step, as in PyTorch's clip_grad_value_ and
clip_grad_norm_: `clip_value` limits each element to [-clip_value, clip_value], `clip_norm`
scales all gradients together so their global L2 norm is at most clip_norm.
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
from graphc.ops.reductions import sum as sum_all
from graphc.tensor import Tensor

__all__ = ["Schedule", "StepDecay", "ExponentialDecay", "CosineDecay", "Warmup",
           "Optimizer", "SGD", "Adagrad", "RMSProp", "Adam", "clip_by_value",
           "clip_by_global_norm", "global_norm"]


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


# ---- gradient clipping ------------------------------------------------------------------------

def clip_by_value(grads: Sequence[Tensor], limit: float) -> list[Tensor]:
    """Each gradient element limited to [-limit, limit] (PyTorch's clip_grad_value_)."""
    if not limit > 0:
        raise ValueError(f"clip_by_value: the limit must be > 0, got {limit}")
    return [ew.clip(g, -limit, limit) for g in grads]


def global_norm(grads: Sequence[Tensor]) -> Tensor:
    """The L2 norm of all gradients together, as a float64 scalar."""
    squares = [ew.cast(sum_all(ew.square(g)), "float64") for g in grads]
    total = squares[0]
    for s in squares[1:]:
        total = total + s
    return ew.sqrt(total)


def clip_by_global_norm(grads: Sequence[Tensor], max_norm: float) -> list[Tensor]:
    """All gradients scaled by min(1, max_norm / norm) (PyTorch's clip_grad_norm_)."""
    if not max_norm > 0:
        raise ValueError(f"clip_by_global_norm: max_norm must be > 0, got {max_norm}")
    scale = ew.minimum(max_norm / (global_norm(grads) + 1e-6), 1.0)
    return [g * ew.cast(scale, g.dtype) for g in grads]


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

    Every optimizer takes, besides its own settings: weight_decay (L2, added to the gradient),
    clip_value and clip_norm (see the module doc). After `updates()`, `iterations` is the
    step-counter variable (int64) and `variables` lists every variable the optimizer created
    (with `lr_variable` when lr is a float). Each `updates()` call creates fresh state.
    """

    def __init__(self, lr: LearningRate, weight_decay: float = 0.0,
                 clip_value: float | None = None, clip_norm: float | None = None):
        name = type(self).__name__
        if weight_decay < 0:
            raise ValueError(f"{name}: weight_decay must be >= 0, got {weight_decay}")
        for what, limit in (("clip_value", clip_value), ("clip_norm", clip_norm)):
            if limit is not None and not limit > 0:
                raise ValueError(f"{name}: {what} must be > 0, got {limit}")
        self.lr, self.weight_decay = lr, weight_decay
        self.clip_value, self.clip_norm = clip_value, clip_norm
        self.iterations: Tensor | None = None
        self.lr_variable: Tensor | None = None
        self.slots: list[Tensor] = []
        self._slot_updates: list[Update] = []

    @property
    def variables(self) -> list[Tensor]:
        """The slot variables, step counter and learning rate of the latest `updates()`."""
        state = [v for v in (self.iterations, self.lr_variable) if v is not None]
        return self.slots + state

    @property
    def learning_rate(self) -> float:
        """The current learning rate: a float lr's variable, or the variable given as lr."""
        held = self._held_rate()
        return float(held.value) if isinstance(held, Tensor) else float(held)

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        held = self._held_rate()
        if isinstance(held, Tensor):
            held.value = np.asarray(value, held.dtype)
        else:
            self.lr = float(value)

    def _held_rate(self) -> Tensor | float:
        held = self.lr_variable if self.lr_variable is not None else self.lr
        if isinstance(held, (int, float)) or (isinstance(held, Tensor) and held.op == "variable"):
            return held
        raise GraphError(f"{type(self).__name__}'s learning rate is a {type(held).__name__} "
                         "computed in the graph: it has no one value to read or set")

    def updates(self, loss: Tensor, params) -> list[Update]:
        """(variable, new value) pairs: one optimizer step on `params` to lower `loss`."""
        params = _parameters(params)
        grads = grad(loss, params)
        if self.clip_value is not None:
            grads = clip_by_value(grads, self.clip_value)
        if self.clip_norm is not None:
            grads = clip_by_global_norm(grads, self.clip_norm)
        name = type(self).__name__.lower()
        self.iterations = variable(np.int64(0), name=f"{name}.iterations")
        self.slots, self._slot_updates = [], []
        t = ew.cast(self.iterations, "float64")
        lr = self.lr
        if isinstance(lr, (int, float)):
            # NOTE: a variable, not a constant, so the host can lower it between steps.
            self.lr_variable = lr = variable(np.float64(lr), name=f"{name}.lr")
        lr = _lr_at(lr, t)
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
                 **options):
        super().__init__(lr, **options)
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
                 initial_accumulator_value: float = 0.0, **options):
        super().__init__(lr, **options)
        self.eps, self.initial = eps, initial_accumulator_value

    def _step(self, p, g, lr, t):
        s = self._slot(p, "sum_sq")
        s.value = np.full_like(p.value, self.initial)
        s = self._assign(s, s + ew.square(g))
        return p - lr * g / (ew.sqrt(s) + self.eps)


class RMSProp(Optimizer):
    """v = alpha v + (1 - alpha) g^2, p -= lr * g / (sqrt(v) + eps); momentum, centered optional."""

    def __init__(self, lr: LearningRate = 0.01, alpha: float = 0.99, eps: float = 1e-8,
                 momentum: float = 0.0, centered: bool = False, **options):
        super().__init__(lr, **options)
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
                 eps: float = 1e-8, **options):
        super().__init__(lr, **options)
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
