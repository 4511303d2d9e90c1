"""gc.train callbacks: code the fit loop runs after each validation and at the end of each epoch.

    trainer.fit(X, Y, epochs=50, validation=(Xv, Yv), callbacks=[
        gc.train.EarlyStopping(patience=5),
        gc.train.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2),
        gc.train.ModelCheckpoint("ckpt/model-{epoch:03d}.npz", every=5)])

A callback gets the running fit (`fit.trainer`, `fit.history`, `fit.epochs`) and may end it
by setting `fit.stop = True`. Epoch logs are the training means by metric name ("loss",
"accuracy") and, when the epoch was validated, the validation values as "val_loss", ...
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from frontends.train import _FitLoop

__all__ = ["Callback", "EarlyStopping", "ReduceLROnPlateau", "ModelCheckpoint"]


class Callback:
    """Base class: override the hooks you need (each does nothing by default)."""

    def on_train_begin(self, fit: _FitLoop) -> None:
        """Before the first step (raise here to refuse settings that cannot work)."""

    def on_validation(self, fit: _FitLoop, step: int, values: dict[str, float]) -> None:
        """After each evaluation on the validation set (values by metric name)."""

    def on_epoch_end(self, fit: _FitLoop, epoch: int, logs: dict[str, float]) -> None:
        """After each complete epoch (epoch counts from 1)."""

    def on_train_end(self, fit: _FitLoop) -> None:
        """After the last step, whether the fit ran its course or was stopped."""


def _default_mode(monitor: str, mode: str | None, who: str) -> str:
    mode = mode or ("min" if monitor.endswith("loss") else "max")
    if mode not in ("min", "max"):
        raise ValueError(f"{who}: mode must be 'min' or 'max', got {mode!r}")
    return mode


def _improved(mode: str, min_delta: float, value: float, best: float | None) -> bool:
    """Whether `value` beats `best` by more than min_delta (anything beats no best)."""
    if best is None:
        return not math.isnan(value)
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _logged(logs: dict[str, float], monitor: str, who: str) -> float:
    if monitor not in logs:
        raise ValueError(f"{who} monitors {monitor!r}, but the epoch logs hold "
                         f"{sorted(logs)} (validation values need validation=)")
    return logs[monitor]


@dataclass
class EarlyStopping(Callback):
    """Stop when the validation metric `monitor` has not improved for `patience` evaluations.

    monitor names a validation metric ("loss" and "val_loss" both mean the validation loss);
    mode is "min" or "max" (default: "min" for names ending in "loss", else "max"); with
    restore_best the parameters at the end of fit are those of the best evaluation.
    """

    patience: int = 5
    monitor: str = "loss"
    mode: str | None = None
    min_delta: float = 0.0
    restore_best: bool = True
    best: float | None = field(default=None, init=False)
    waited: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.mode = _default_mode(self.monitor, self.mode, "EarlyStopping")
        self._best_values: list[np.ndarray] | None = None

    def improved(self, value: float, best: float | None) -> bool:
        """Whether `value` beats `best` by more than min_delta."""
        return _improved(self.mode, self.min_delta, value, best)

    def on_train_begin(self, fit: _FitLoop) -> None:
        if fit.validation is None:
            raise ValueError("early stopping watches validation metrics: give validation= or "
                             "validation_split=")
        metric = self.monitor.removeprefix("val_")
        if metric not in fit.trainer.metric_names:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, but the metrics are "
                             f"{fit.trainer.metric_names}")
        self.best, self.waited, self._best_values = None, 0, None

    def on_validation(self, fit: _FitLoop, step: int, values: dict[str, float]) -> None:
        value = values[self.monitor.removeprefix("val_")]
        if self.improved(value, self.best):
            self.best, self.waited = value, 0
            fit.history.best_step = step
            self._best_values = [np.copy(v.value) for v in fit.trainer.variables]
            return
        self.waited += 1
        if self.waited >= self.patience:
            fit.history.stopped_early = fit.stop = True

    def on_train_end(self, fit: _FitLoop) -> None:
        if self.restore_best and self._best_values is not None:
            for var, value in zip(fit.trainer.variables, self._best_values):
                var.value = value


@dataclass
class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by `factor` when `monitor` stalls for `patience` epochs.

    As Keras's: monitor is an epoch log ("val_loss", "loss", "val_accuracy"); after a cut,
    `cooldown` epochs pass before counting again; the rate never goes below min_lr. The
    optimizer's lr must be a float or a variable (not a schedule). `changes` lists
    (epoch, new learning rate).
    """

    monitor: str = "val_loss"
    factor: float = 0.1
    patience: int = 10
    mode: str | None = None
    min_delta: float = 1e-4
    cooldown: int = 0
    min_lr: float = 0.0
    changes: list[tuple[int, float]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if not 0 < self.factor < 1:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {self.factor}")
        self.mode = _default_mode(self.monitor, self.mode, "ReduceLROnPlateau")

    def on_train_begin(self, fit: _FitLoop) -> None:
        fit.trainer.optimizer.learning_rate        # noqa: B018  (raises for a schedule)
        self.best, self.waited, self.cooling, self.changes = None, 0, 0, []

    def on_epoch_end(self, fit: _FitLoop, epoch: int, logs: dict[str, float]) -> None:
        value = _logged(logs, self.monitor, "ReduceLROnPlateau")
        if self.cooling:
            self.cooling -= 1
            self.waited = 0
        if _improved(self.mode, self.min_delta, value, self.best):
            self.best, self.waited = value, 0
            return
        if self.cooling:
            return
        self.waited += 1
        optimizer = fit.trainer.optimizer
        if self.waited >= self.patience and optimizer.learning_rate > self.min_lr:
            optimizer.learning_rate = max(optimizer.learning_rate * self.factor, self.min_lr)
            self.changes.append((epoch, optimizer.learning_rate))
            fit.say(f"epoch {epoch}: {self.monitor} has not improved for {self.waited} "
                    f"epochs; learning rate lowered to {optimizer.learning_rate:.4g}")
            self.cooling, self.waited = self.cooldown, 0


@dataclass
class ModelCheckpoint(Callback):
    """Save the trainer's parameters (atomically, see Trainer.save) every `every` epochs.

    path may hold format fields: {epoch} and any epoch log, e.g. "ckpt-{epoch:03d}.npz" or
    "best-{val_loss:.3f}.npz". With save_best_only, save only when `monitor` improves.
    `saved` lists the paths written.
    """

    path: str | os.PathLike
    every: int = 1
    save_best_only: bool = False
    monitor: str = "val_loss"
    mode: str | None = None
    saved: list[Path] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"ModelCheckpoint: every must be >= 1, got {self.every}")
        self.mode = _default_mode(self.monitor, self.mode, "ModelCheckpoint")

    def on_train_begin(self, fit: _FitLoop) -> None:
        self.best, self.saved = None, []

    def on_epoch_end(self, fit: _FitLoop, epoch: int, logs: dict[str, float]) -> None:
        if epoch % self.every:
            return
        if self.save_best_only:
            value = _logged(logs, self.monitor, "ModelCheckpoint")
            if not _improved(self.mode, 0.0, value, self.best):
                return
            self.best = value
        try:
            path = str(self.path).format(epoch=epoch, **logs)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"ModelCheckpoint: cannot fill in {str(self.path)!r} ({exc!r}); "
                             f"the fields are epoch and {sorted(logs)}") from None
        self.saved.append(fit.trainer.save(path))
