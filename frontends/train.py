"""gc.train: a small fit loop around a compiled training step, with validation and history.

    loss = gc.losses.cross_entropy(model(x), y)           # per example or already a mean
    trainer = gc.train.Trainer([x, y], loss, model, gc.optim.Adam(1e-3),
                               metrics={"accuracy": gc.train.accuracy(model(x), y)})
    history = trainer.fit(X, Y, epochs=20, batch_size=32, validation=(Xv, Yv),
                          callbacks=[gc.train.EarlyStopping(patience=3)])
    history.plot("curves.png"); trainer.save("params.npz")

The training step (loss, metrics, optimizer and state updates) and the evaluation function
are compiled once. Metrics are Tensors over a batch (per example, or a batch mean) and are
averaged over a whole epoch or validation set, weighted by batch size. Models whose training
and evaluation graphs differ (dropout, batch norm) pass eval_loss/eval_metrics built with
`training=False`. A fit shows a progress bar on a terminal and logs one line per epoch
elsewhere (verbose=); callbacks (frontends/callbacks.py) stop it early, lower the learning
rate on a plateau or save checkpoints.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from frontends import data
from frontends.callbacks import Callback, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau
from frontends.files import MAX_BYTES, ArchiveError, NpzReader, write_npz
from frontends.nn.base import Layer
from frontends.optim import Optimizer, _parameters
from graphc.compile import compile as compile_graph
from graphc.errors import GraphcError, NonFiniteError
from graphc.graph import Update, topological_order
from graphc.ops import elementwise as ew
from graphc.ops.reductions import argmax, mean
from graphc.tensor import Tensor

__all__ = ["Trainer", "History", "Callback", "EarlyStopping", "ReduceLROnPlateau",
           "ModelCheckpoint", "accuracy", "confusion_matrix", "save_params", "load_params",
           "ParameterFileError"]


# ---- metrics ----------------------------------------------------------------------------------

def accuracy(logits: Tensor, labels: Tensor) -> Tensor:
    """Per-example correctness (float32 0/1) of logits against integer or one-hot labels.

    A single logit per example (shape (N,) or (N, 1)) is a binary classifier: it predicts the
    positive class where the logit is > 0, and labels > 0 (1 in {0, 1} or {-1, 1}) are positive.
    """
    if logits.ndim == 1 or logits.shape[-1] == 1:
        hit = ew.equal(logits > 0, labels > 0)
        return ew.cast(hit if hit.ndim == 1 else hit[:, 0], "float32")
    predicted = argmax(logits, axis=-1)
    if labels.ndim == logits.ndim:
        labels = argmax(labels, axis=-1)
    return ew.cast(ew.equal(predicted, ew.cast(labels, "int64")), "float32")


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """Counts[i, j] of examples of class i predicted as class j (scikit-learn's layout)."""
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"confusion_matrix: {y_true.shape} labels vs {y_pred.shape} predictions")
    if num_classes is None:
        num_classes = int(max(y_true.max(initial=0), y_pred.max(initial=0))) + 1
    counts = np.bincount(y_true * num_classes + y_pred, minlength=num_classes ** 2)
    return counts.reshape(num_classes, num_classes)


# ---- parameters on disk -----------------------------------------------------------------------

class ParameterFileError(GraphcError, ValueError):
    """A parameter file is unreadable or does not match the variables it is loaded into."""


def _named(params: Sequence[Tensor]) -> dict[str, Tensor]:
    """Variables by name (unnamed ones by position, '#3'); names must be unique."""
    named: dict[str, Tensor] = {}
    for i, p in enumerate(params):
        key = p.name or f"#{i}"
        if key in named:
            raise ParameterFileError(f"two variables are named {key!r}; give them unique names")
        named[key] = p
    return named


def _npz_path(path: str | os.PathLike) -> Path:
    """`path` with the .npz suffix numpy gives archives (as np.savez adds it)."""
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def save_params(path: str | os.PathLike, params: Sequence[Tensor] | Mapping[str, Tensor]
                ) -> Path:
    """Write the variables' values to an .npz file atomically; returns the path written.

    params: variables (keyed by name) or {key: variable}. `.npz` is added to a path without it.
    A save that fails, or a process killed mid-save, leaves the previous file as it was.
    """
    named = params if isinstance(params, Mapping) else _named(params)
    arrays = {key: np.asarray(p.value) for key, p in named.items()}
    try:
        return write_npz(_npz_path(path), arrays)
    except ArchiveError as exc:
        raise ParameterFileError(f"cannot save parameters to {str(path)!r}: {exc}") from None


def load_params(path: str | os.PathLike, params: Sequence[Tensor] | Mapping[str, Tensor],
                max_bytes: int = MAX_BYTES) -> None:
    """Set the variables from an .npz file, after checking every name, shape and dtype.

    Nothing is assigned unless the whole file matches. A path without `.npz` that does not
    exist is looked up with the suffix (as save_params wrote it).
    """
    named = dict(params) if isinstance(params, Mapping) else _named(params)
    path = Path(path)
    if not path.exists() and _npz_path(path).exists():
        path = _npz_path(path)
    problems: list[str] = []

    def check(key: str):
        def compare(dtype: np.dtype, shape: tuple) -> None:
            want = named[key].type
            if tuple(want.shape) != tuple(shape) or np.dtype(want.dtype) != dtype:
                problems.append(f"{key!r} is {dtype}{list(shape)} in the file, but the "
                                f"variable is {want}")
                raise _Skip
        return compare

    arrays = {}
    try:
        with NpzReader(path, max_bytes) as stored:
            problems += [f"missing {key!r}" for key in named if key not in stored]
            problems += [f"unexpected {key!r}" for key in stored if key not in named]
            for key in named:
                if key in stored:
                    try:
                        arrays[key] = stored.read(key, check(key))
                    except _Skip:
                        pass
    except ArchiveError as exc:
        raise ParameterFileError(f"cannot read parameters from {str(path)!r}: {exc}") from None
    if problems:
        raise ParameterFileError(f"parameters in {str(path)!r} do not match: "
                                 + "; ".join(sorted(problems)))
    for key, p in named.items():
        p.value = arrays[key]


class _Skip(Exception):
    """A member whose header does not match its variable: reported, not read."""


# ---- history ------------------------------------------------------------------------------

@dataclass
class History:
    """What a fit recorded: per step, per epoch (means) and per validation, by metric name."""

    step: dict[str, list[float]] = field(default_factory=dict)
    epoch: dict[str, list[float]] = field(default_factory=dict)
    epoch_end_steps: list[int] = field(default_factory=list)
    val: dict[str, list[float]] = field(default_factory=dict)
    val_steps: list[int] = field(default_factory=list)
    best_step: int | None = None
    stopped_early: bool = False

    def _record(self, where: dict[str, list[float]], values: dict[str, float]) -> None:
        for key, value in values.items():
            where.setdefault(key, []).append(value)

    def plot(self, path: str | os.PathLike, title: str | None = None) -> Path:
        """Write loss and metric curves (train per step and per epoch, validation) to a PNG."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        names = list(self.step) or list(self.val)
        if not names:
            raise ValueError("History.plot: nothing was recorded yet")
        fig = Figure(figsize=(5 * len(names), 3.6), layout="constrained")
        FigureCanvasAgg(fig)
        for ax, name in zip(fig.subplots(1, len(names), squeeze=False)[0], names):
            if name in self.step:
                ax.plot(np.arange(1, len(self.step[name]) + 1), self.step[name], lw=0.6,
                        alpha=0.35, color="C0", label="train (step)")
            if name in self.epoch:
                ax.plot(self.epoch_end_steps, self.epoch[name], "o-", ms=3, color="C0",
                        label="train (epoch mean)")
            if name in self.val:
                ax.plot(self.val_steps, self.val[name], "s-", ms=3, color="C1",
                        label="validation")
            if self.best_step is not None:
                ax.axvline(self.best_step, color="gray", ls=":", lw=1, label="best")
            ax.set(xlabel="step", ylabel=name, title=name)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        if title:
            fig.suptitle(title)
        fig.savefig(path, dpi=100)
        return Path(path)


# ---- the trainer ------------------------------------------------------------------------------

def _batch_mean(t: Tensor) -> Tensor:
    return t if t.ndim == 0 else mean(t)


class Trainer:
    """Compiles a training step and an evaluation function once, then fits on NumPy arrays.

    inputs: the placeholders, fed in order by fit/evaluate (e.g. [x, y]). loss: a scalar or
    per-example Tensor. params: a gc.nn layer (its trainable variables) or a list of
    variables. metrics: {name: Tensor} per example or per batch. state_updates: extra
    (variable, value) updates of each step; by default those of `params` when it is a layer.
    eval_loss/eval_metrics: evaluation-mode versions (default: the training ones).
    outputs: a Tensor that `predict` computes (e.g. the logits). check_finite: stop at the
    first NaN or infinity a node produces, naming the node, the step and the batch.
    """

    def __init__(self, inputs: Sequence[Tensor], loss: Tensor, params, optimizer: Optimizer,
                 metrics: dict[str, Tensor] | None = None,
                 state_updates: Sequence[Update] | None = None, eval_loss: Tensor | None = None,
                 eval_metrics: dict[str, Tensor] | None = None, outputs: Tensor | None = None,
                 backend: str | None = None, check_finite: bool | None = None):
        self.inputs = list(inputs)
        if state_updates is None:
            state_updates = getattr(params, "state_updates", [])
        self.params = _parameters(params)
        self.model = params if isinstance(params, Layer) else None
        self.optimizer = optimizer
        metrics = dict(metrics or {})
        eval_metrics = metrics if eval_metrics is None else dict(eval_metrics)
        self.metric_names = ["loss", *metrics]
        if list(eval_metrics) != list(metrics):
            raise ValueError(f"eval_metrics {list(eval_metrics)} must name the same metrics as "
                             f"metrics {list(metrics)}")
        loss = _batch_mean(loss)
        updates = optimizer.updates(loss, self.params) + list(state_updates)
        state = [v for v, _ in state_updates] + list(getattr(params, "state_variables", []))
        self.variables = list({id(v): v for v in [*self.params, *state]}.values())
        self.backend = backend
        self._step = compile_graph(self.inputs, [loss] + [_batch_mean(m) for m in metrics.values()],
                                   updates=updates, backend=backend, check_finite=check_finite)
        eval_outputs = [_batch_mean(loss if eval_loss is None else eval_loss)]
        self._eval = compile_graph(self.inputs, eval_outputs + [_batch_mean(m) for m in
                                                                eval_metrics.values()],
                                   backend=backend, check_finite=check_finite)
        self._outputs = outputs

    def _batch_size(self, arrays: Sequence[np.ndarray]) -> int:
        if len(arrays) != len(self.inputs):
            names = ", ".join(t.name or "?" for t in self.inputs)
            raise ValueError(f"expected {len(self.inputs)} arrays (for {names}), got "
                             f"{len(arrays)}")
        return data._length(arrays)

    def evaluate(self, *arrays: np.ndarray, batch_size: int = 1024) -> dict[str, float]:
        """The loss and metrics over whole arrays (batch-size-weighted means over chunks)."""
        n = self._batch_size(arrays)
        totals = np.zeros(len(self.metric_names))
        for batch in data.batches(*arrays, batch_size=batch_size, shuffle=False):
            totals += len(batch[0]) * np.array([float(v) for v in self._eval(*batch)])
        return dict(zip(self.metric_names, (totals / n).tolist()))

    def predict(self, *arrays: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """`outputs` for the arrays of the inputs it depends on, computed in chunks."""
        if self._outputs is None:
            raise ValueError("predict needs the Trainer to be given outputs=")
        if not hasattr(self, "_predict"):
            needed = {id(n) for n in topological_order([self._outputs])}
            self._predict_inputs = [t for t in self.inputs if id(t) in needed]
            self._predict = compile_graph(self._predict_inputs, self._outputs,
                                          backend=self.backend)
        if len(arrays) != len(self._predict_inputs):
            names = ", ".join(t.name or "?" for t in self._predict_inputs)
            raise ValueError(f"predict expects {len(self._predict_inputs)} arrays (for "
                             f"{names}), got {len(arrays)}")
        chunks = [self._predict(*b) for b in data.batches(*arrays, batch_size=batch_size,
                                                         shuffle=False)]
        return np.concatenate(chunks)

    def fit(self, *arrays: np.ndarray, epochs: int = 1, batch_size: int = 32,
            shuffle: bool = True, seed: data.Seed = 0, drop_last: bool = False,
            validation: Sequence[np.ndarray] | None = None, validation_split: float = 0.0,
            eval_every: int | None = None, early_stopping: EarlyStopping | int | None = None,
            callbacks: Sequence[Callback] = (),
            augment: Callable[[np.ndarray], np.ndarray] | None = None,
            verbose: int | str = "auto") -> History:
        """Train for `epochs` over mini-batches of the arrays (one per input); a History.

        validation: arrays to evaluate, or validation_split: a seeded fraction held out.
        eval_every: evaluate every N steps (default: at the end of each epoch).
        early_stopping: an EarlyStopping, or an int patience on the validation loss (the
        same as passing EarlyStopping in callbacks). callbacks: gc.train.Callback objects
        (ModelCheckpoint, ReduceLROnPlateau, ...).
        augment: applied to each training batch of the first input (e.g. gc.data.Augment).
        verbose: 0 silent, 1 a progress bar, 2 one line per epoch on stdout; "auto" (the
        default) is 1 when stderr is a terminal, else 2 (logs, CI, notebooks' files).
        """
        self._batch_size(arrays)
        rng = np.random.default_rng(seed) if not isinstance(seed, np.random.Generator) else seed
        if validation_split:
            if validation is not None:
                raise ValueError("give validation or validation_split, not both")
            arrays, validation = data.train_test_split(*arrays, test_size=validation_split,
                                                       seed=rng)
        callbacks = list(callbacks)
        if isinstance(early_stopping, int):
            early_stopping = EarlyStopping(patience=early_stopping)
        if early_stopping is not None:
            callbacks.append(early_stopping)
        if verbose == "auto":
            verbose = 1 if sys.stderr.isatty() else 2
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
        n = data._length(arrays)
        per_epoch = n // batch_size if drop_last else -(-n // batch_size)
        loop = _FitLoop(self, validation, eval_every, callbacks, int(verbose), epochs)
        return loop.run(lambda: data.batches(*arrays, batch_size=batch_size, shuffle=shuffle,
                                             seed=rng, drop_last=drop_last),
                        per_epoch, augment)

    def state_dict(self) -> dict[str, Tensor]:
        """The parameters and state variables by key: a model's structural keys (`0.W`,
        `encoder.dense.b`, see gc.nn.Layer.named_variables), else the variables' names."""
        if self.model is None:
            return _named(self.variables)
        wanted = {id(v) for v in self.variables}
        keyed = {k: v for k, v in self.model.named_variables().items() if id(v) in wanted}
        found = {id(v) for v in keyed.values()}
        rest = _named([v for v in self.variables if id(v) not in found])
        clash = keyed.keys() & rest.keys()
        if clash:
            raise ParameterFileError(f"variable names {sorted(clash)} clash with the model's "
                                     "keys; give them other names")
        return {**keyed, **rest}

    def save(self, path: str | os.PathLike) -> Path:
        """Save the parameters and state variables atomically (see save_params)."""
        return save_params(path, self.state_dict())

    def load(self, path: str | os.PathLike) -> None:
        """Load parameters saved by `save`, into this or a model built the same way."""
        load_params(path, self.state_dict())


class _FitLoop:
    """One fit run: steps, periodic validation, callbacks, and the progress bar or log lines."""

    def __init__(self, trainer: Trainer, validation, eval_every: int | None,
                 callbacks: list[Callback], verbose: int, epochs: int):
        self.trainer, self.validation = trainer, validation
        self.eval_every, self.callbacks = eval_every, callbacks
        self.verbose, self.epochs = verbose, epochs
        self.history = History()
        self.stop = False                     # a callback sets it to end the fit
        self.postfix: dict[str, float] = {}
        self.bar = None

    def say(self, message: str) -> None:
        """A line for the user (beside the bar, or in the epoch log), unless silent."""
        if self.verbose == 1 and self.bar is not None:
            self.bar.write(message)
        elif self.verbose == 2:
            print(message, flush=True)

    def run(self, make_batches: Callable, per_epoch: int, augment) -> History:
        """Train for `epochs` passes over make_batches(), validating and calling callbacks."""
        for callback in self.callbacks:
            callback.on_train_begin(self)
        names, step = self.trainer.metric_names, 0
        self.bar = tqdm(total=self.epochs * per_epoch, disable=self.verbose != 1, unit="step",
                        dynamic_ncols=True)
        try:
            for epoch in range(1, self.epochs + 1):
                started = time.perf_counter()
                self.bar.set_description(f"epoch {epoch}/{self.epochs}")
                totals, seen, validated = np.zeros(len(names)), 0, {}
                for number, batch in enumerate(make_batches(), 1):
                    if augment is not None:
                        batch = (augment(batch[0]), *batch[1:])
                    step += 1
                    try:
                        values = [float(v) for v in self.trainer._step(*batch)]
                    except NonFiniteError as exc:
                        raise NonFiniteError(f"at training step {step} (epoch {epoch}, batch "
                                             f"{number} of {per_epoch}): {exc}") from None
                    totals += len(batch[0]) * np.array(values)
                    seen += len(batch[0])
                    self.history._record(self.history.step, dict(zip(names, values)))
                    self.bar.update()
                    self.postfix.update(zip(names, values))
                    self.bar.set_postfix(self.postfix, refresh=False)
                    if self.eval_every and step % self.eval_every == 0:
                        validated = self._validate(step)
                        if self.stop:
                            return self.history
                means = dict(zip(names, (totals / max(seen, 1)).tolist()))
                self.history._record(self.history.epoch, means)
                self.history.epoch_end_steps.append(step)
                if not self.eval_every:
                    validated = self._validate(step)
                logs = {**means, **{f"val_{k}": v for k, v in validated.items()}}
                self.say(_epoch_line(epoch, self.epochs, time.perf_counter() - started, logs))
                for callback in self.callbacks:
                    callback.on_epoch_end(self, epoch, logs)
                if self.stop:
                    return self.history
            return self.history
        finally:
            self.bar.close()
            for callback in self.callbacks:
                callback.on_train_end(self)

    def _validate(self, step: int) -> dict[str, float]:
        """Evaluate on the validation set and tell the callbacks; the values, if any."""
        if self.validation is None:
            return {}
        values = self.trainer.evaluate(*self.validation)
        self.history._record(self.history.val, values)
        self.history.val_steps.append(step)
        self.postfix.update((f"val_{k}", v) for k, v in values.items())
        for callback in self.callbacks:
            callback.on_validation(self, step, values)
        return values


def _epoch_line(epoch: int, epochs: int, seconds: float, logs: dict[str, float]) -> str:
    """`epoch 3/20 - 0.4s - loss 0.4123 - accuracy 0.8812 - val_loss 0.4521 - ...`."""
    parts = [f"epoch {epoch}/{epochs}", f"{seconds:.1f}s"]
    parts += [f"{key} {value:.4g}" for key, value in logs.items()]
    return " - ".join(parts)
