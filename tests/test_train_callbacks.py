"""gc.train logging and callbacks, and gradient clipping in gc.optim (issue 11, item 12)."""
from __future__ import annotations

import os
import re

import numpy as np
import pytest

import graphc as gc
from tests.test_train import X_ALL, Y_ALL, C, softmax_model

X_TRAIN, Y_TRAIN = X_ALL[:200], Y_ALL[:200]
X_BAD_VAL, Y_BAD_VAL = X_ALL[200:], (Y_ALL[200:] + 1) % C   # fitting makes these worse


def test_one_log_line_per_epoch_when_not_on_a_terminal(capsys) -> None:
    trainer, _, _ = softmax_model()
    history = trainer.fit(X_TRAIN, Y_TRAIN, epochs=3, batch_size=50,
                          validation=(X_BAD_VAL, Y_BAD_VAL))
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert err == "" and len(lines) == 3
    for epoch, line in enumerate(lines, start=1):
        match = re.fullmatch(rf"epoch {epoch}/3 - [\d.]+s - loss (\S+) - accuracy (\S+) - "
                             r"val_loss (\S+) - val_accuracy (\S+)", line)
        assert match, line
        assert float(match.group(1)) == pytest.approx(history.epoch["loss"][epoch - 1],
                                                      rel=1e-3)
        assert float(match.group(3)) == pytest.approx(history.val["loss"][epoch - 1], rel=1e-3)


@pytest.mark.parametrize("verbose, lines", [(0, 0), (2, 2)])
def test_verbose_levels(capsys, verbose: int, lines: int) -> None:
    trainer, _, _ = softmax_model()
    trainer.fit(X_TRAIN, Y_TRAIN, epochs=2, batch_size=100, verbose=verbose)
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == lines and err == ""
    with pytest.raises(ValueError, match="verbose"):
        trainer.fit(X_TRAIN, Y_TRAIN, verbose=3)


def test_early_stopping_is_a_callback() -> None:
    trainer, _, _ = softmax_model(optimizer=gc.optim.SGD(0.2))
    stop = gc.train.EarlyStopping(patience=2, monitor="val_loss")
    history = trainer.fit(X_TRAIN, Y_TRAIN, epochs=40, batch_size=20, verbose=0,
                          validation=(X_BAD_VAL, Y_BAD_VAL), callbacks=[stop])
    losses = history.val["loss"]
    assert history.stopped_early and len(losses) == int(np.argmin(losses)) + 1 + 2
    assert trainer.evaluate(X_BAD_VAL, Y_BAD_VAL)["loss"] == pytest.approx(min(losses), rel=1e-6)


class Snapshots(gc.train.Callback):
    """The parameters at the end of every epoch."""

    def __init__(self):
        self.values: dict[int, list[np.ndarray]] = {}

    def on_epoch_end(self, fit, epoch, logs):
        self.values[epoch] = [v.value.copy() for v in fit.trainer.variables]


def test_checkpoints_every_n_epochs_hold_that_epochs_parameters(tmp_path) -> None:
    trainer, W, b = softmax_model()
    checkpoint = gc.train.ModelCheckpoint(tmp_path / "ckpt-{epoch:02d}.npz", every=2)
    snapshots = Snapshots()
    trainer.fit(X_TRAIN, Y_TRAIN, epochs=5, batch_size=50, verbose=0,
                callbacks=[snapshots, checkpoint])
    assert sorted(os.listdir(tmp_path)) == ["ckpt-02.npz", "ckpt-04.npz"]
    assert checkpoint.saved == [tmp_path / "ckpt-02.npz", tmp_path / "ckpt-04.npz"]
    for epoch in (2, 4):
        trainer.load(tmp_path / f"ckpt-{epoch:02d}.npz")
        np.testing.assert_array_equal(W.value, snapshots.values[epoch][0])
        np.testing.assert_array_equal(b.value, snapshots.values[epoch][1])


def test_checkpoint_save_best_only_and_format_fields(tmp_path) -> None:
    trainer, _, _ = softmax_model(optimizer=gc.optim.SGD(0.2))
    checkpoint = gc.train.ModelCheckpoint(tmp_path / "best-{epoch}-{val_loss:.4f}.npz",
                                          save_best_only=True)
    history = trainer.fit(X_TRAIN, Y_TRAIN, epochs=6, batch_size=20, verbose=0,
                          validation=(X_BAD_VAL, Y_BAD_VAL), callbacks=[checkpoint])
    losses = history.val["loss"]
    improving = [e for e in range(1, 7) if losses[e - 1] < min(losses[:e - 1], default=np.inf)]
    assert [int(p.name.split("-")[1]) for p in checkpoint.saved] == improving
    assert checkpoint.saved[-1].name == f"best-{improving[-1]}-{losses[improving[-1] - 1]:.4f}.npz"
    with pytest.raises(ValueError, match="the fields are epoch and"):
        trainer.fit(X_TRAIN, Y_TRAIN, epochs=1, verbose=0,
                    callbacks=[gc.train.ModelCheckpoint(tmp_path / "{nope}.npz")])


def test_reduce_lr_on_plateau_lowers_the_rate_the_step_uses(capsys) -> None:
    optimizer = gc.optim.SGD(0.2)
    trainer, W, _ = softmax_model(optimizer=optimizer)
    plateau = gc.train.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1)
    trainer.fit(X_TRAIN, Y_TRAIN, epochs=6, batch_size=20, verbose=2,
                validation=(X_BAD_VAL, Y_BAD_VAL), callbacks=[plateau])
    assert plateau.changes, "the validation loss rises, so the rate is cut"
    assert optimizer.learning_rate == pytest.approx(0.2 * 0.5 ** len(plateau.changes))
    assert [lr for _, lr in plateau.changes] == pytest.approx(
        [0.2 * 0.5 ** k for k in range(1, len(plateau.changes) + 1)])
    assert "learning rate lowered to 0.1" in capsys.readouterr().out
    optimizer.learning_rate = 0.0                       # the compiled step reads the variable
    before = W.value.copy()
    trainer.fit(X_TRAIN, Y_TRAIN, epochs=1, verbose=0)
    np.testing.assert_array_equal(W.value, before)


def test_reduce_lr_needs_a_rate_it_can_set() -> None:
    trainer, _, _ = softmax_model(optimizer=gc.optim.SGD(gc.optim.CosineDecay(0.1, 100)))
    with pytest.raises(gc.GraphError, match="CosineDecay computed in the graph"):
        trainer.fit(X_TRAIN, Y_TRAIN, callbacks=[gc.train.ReduceLROnPlateau()], verbose=0)
    trainer, _, _ = softmax_model()
    with pytest.raises(ValueError, match="monitors 'val_loss'.*need validation"):
        trainer.fit(X_TRAIN, Y_TRAIN, callbacks=[gc.train.ReduceLROnPlateau()], verbose=0)


# ---- gradient clipping --------------------------------------------------------------------------

def one_sgd_step(coefficients: list[np.ndarray], **clip) -> list[np.ndarray]:
    """The change one SGD(lr=1) step makes to variables whose gradients are `coefficients`."""
    params = [gc.variable(np.zeros_like(c), name=f"p{i}") for i, c in enumerate(coefficients)]
    loss = sum(gc.sum(p * gc.constant(c)) for p, c in zip(params, coefficients))
    gc.compile([], loss, updates=gc.optim.SGD(1.0, **clip).updates(loss, params))()
    return [-p.value for p in params]


def test_clip_value_limits_each_gradient_element() -> None:
    grads = [np.array([-3.0, 0.05, 2.0]), np.array([[0.5], [-0.01]])]
    steps = one_sgd_step(grads, clip_value=0.1)
    for step, g in zip(steps, grads):
        np.testing.assert_allclose(step, np.clip(g, -0.1, 0.1), rtol=1e-12)


@pytest.mark.parametrize("max_norm", [1.0, 100.0])
def test_clip_norm_scales_all_gradients_by_their_global_norm(max_norm: float) -> None:
    grads = [np.array([3.0, 0.0]), np.array([[4.0], [12.0]])]       # global norm 13
    steps = one_sgd_step(grads, clip_norm=max_norm)
    scale = min(1.0, max_norm / (13.0 + 1e-6))
    for step, g in zip(steps, grads):
        np.testing.assert_allclose(step, g * scale, rtol=1e-12)


def test_clipping_options_are_checked() -> None:
    with pytest.raises(ValueError, match="clip_norm must be > 0"):
        gc.optim.Adam(clip_norm=0)
    with pytest.raises(ValueError, match="clip_value must be > 0"):
        gc.optim.SGD(0.1, clip_value=-1)
