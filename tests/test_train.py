"""gc.train: the fit loop (history, validation, early stopping that restores the best
parameters, progress bar), metrics, history plots and atomic parameter files."""
from __future__ import annotations

import os

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

import graphc as gc

RNG = np.random.default_rng(0)
N, D, C = 240, 5, 3
CENTERS = RNG.standard_normal((C, D)) * 2.5
Y_ALL = RNG.integers(0, C, N)
X_ALL = (CENTERS[Y_ALL] + RNG.standard_normal((N, D))).astype(np.float32)


def softmax_model(seed: int = 0, optimizer=None, **kwargs):
    """A linear softmax classifier on blobs: (trainer, W, b, x, y)."""
    x = gc.placeholder((None, D), "float32", name="x")
    y = gc.placeholder((None,), "int64", name="y")
    init = np.random.default_rng(seed)
    W = gc.variable(init.standard_normal((D, C)).astype(np.float32) * 0.1, name="W")
    b = gc.variable(np.zeros(C, np.float32), name="b")
    logits = x @ W + b
    trainer = gc.train.Trainer(
        [x, y], gc.losses.cross_entropy(logits, y), [W, b], optimizer or gc.optim.SGD(0.1),
        metrics={"accuracy": gc.train.accuracy(logits, y)}, outputs=logits, **kwargs)
    return trainer, W, b


def test_fit_records_history_and_learns() -> None:
    trainer, _, _ = softmax_model()
    before = trainer.evaluate(X_ALL, Y_ALL)
    history = trainer.fit(X_ALL[:200], Y_ALL[:200], epochs=4, batch_size=32,
                          validation=(X_ALL[200:], Y_ALL[200:]), seed=0)
    assert len(history.step["loss"]) == 4 * 7 and len(history.step["accuracy"]) == 28
    assert history.epoch_end_steps == [7, 14, 21, 28] and len(history.epoch["loss"]) == 4
    assert history.val_steps == [7, 14, 21, 28] and set(history.val) == {"loss", "accuracy"}
    assert history.epoch["loss"][-1] < history.epoch["loss"][0]
    after = trainer.evaluate(X_ALL, Y_ALL)
    assert after["loss"] < before["loss"] and after["accuracy"] > 0.9
    assert not history.stopped_early


def test_fit_is_reproducible_from_its_seed() -> None:
    runs = []
    for _ in range(2):
        trainer, W, _ = softmax_model()
        trainer.fit(X_ALL, Y_ALL, epochs=2, batch_size=16, seed=5)
        runs.append(W.value.copy())
    np.testing.assert_array_equal(runs[0], runs[1])


def test_evaluate_weights_batches_by_size() -> None:
    trainer, _, _ = softmax_model()
    whole = trainer.evaluate(X_ALL, Y_ALL, batch_size=N)
    chunked = trainer.evaluate(X_ALL, Y_ALL, batch_size=50)   # last chunk of 40
    for key in whole:
        assert whole[key] == pytest.approx(chunked[key], rel=1e-5)


def test_eval_every_and_validation_split() -> None:
    trainer, _, _ = softmax_model()
    history = trainer.fit(X_ALL, Y_ALL, epochs=2, batch_size=20, validation_split=0.25,
                          eval_every=5)
    assert len(history.step["loss"]) == 2 * 9       # 180 training examples, batches of 20
    assert history.val_steps == [5, 10, 15]


def test_early_stopping_triggers_and_restores_the_best_parameters() -> None:
    # Validation labels are permuted, so fitting the training set makes validation worse.
    x_val, y_val = X_ALL[200:], (Y_ALL[200:] + 1) % C
    trainer, W, b = softmax_model(optimizer=gc.optim.SGD(0.2))
    stop = gc.train.EarlyStopping(patience=2)
    history = trainer.fit(X_ALL[:200], Y_ALL[:200], epochs=50, batch_size=20,
                          validation=(x_val, y_val), early_stopping=stop, eval_every=2)
    losses = history.val["loss"]
    assert history.stopped_early and len(losses) < 50 * 10 // 2
    best = int(np.argmin(losses))
    assert len(losses) == best + 1 + stop.patience
    assert history.best_step == history.val_steps[best]
    assert trainer.evaluate(x_val, y_val)["loss"] == pytest.approx(losses[best], rel=1e-6)

    trainer, W, b = softmax_model(optimizer=gc.optim.SGD(0.2))
    history = trainer.fit(X_ALL[:200], Y_ALL[:200], epochs=50, batch_size=20,
                          validation=(x_val, y_val), eval_every=2,
                          early_stopping=gc.train.EarlyStopping(patience=2, restore_best=False))
    assert trainer.evaluate(x_val, y_val)["loss"] == pytest.approx(history.val["loss"][-1],
                                                                   rel=1e-6)


def test_early_stopping_on_a_maximized_metric_and_errors() -> None:
    assert gc.train.EarlyStopping(monitor="accuracy").mode == "max"
    trainer, _, _ = softmax_model()
    with pytest.raises(ValueError, match="validation"):
        trainer.fit(X_ALL, Y_ALL, early_stopping=3)
    with pytest.raises(ValueError, match="metrics are"):
        trainer.fit(X_ALL, Y_ALL, validation=(X_ALL, Y_ALL),
                    early_stopping=gc.train.EarlyStopping(monitor="f1"))
    with pytest.raises(ValueError, match="expected 2 arrays"):
        trainer.fit(X_ALL)


def test_progress_bar_shows_loss_and_can_be_disabled(capsys) -> None:
    trainer, _, _ = softmax_model()
    trainer.fit(X_ALL, Y_ALL, epochs=1, batch_size=60, verbose=1)
    assert "loss=" in capsys.readouterr().err
    trainer.fit(X_ALL, Y_ALL, epochs=1, batch_size=60, verbose=0)
    assert capsys.readouterr() == ("", "")
    trainer.fit(X_ALL, Y_ALL, epochs=1, batch_size=60)     # stderr is not a terminal here
    assert capsys.readouterr().err == ""


def test_accuracy_metric_and_confusion_matrix() -> None:
    logits = gc.placeholder((None, C), "float32")
    labels = gc.placeholder((None,), "int64")
    scores = RNG.standard_normal((50, C)).astype(np.float32)
    ys = RNG.integers(0, C, 50)
    got = gc.compile([logits, labels], gc.train.accuracy(logits, labels))(scores, ys)
    np.testing.assert_array_equal(got, (scores.argmax(1) == ys).astype(np.float32))
    onehot = gc.placeholder((None, C), "float32")
    got = gc.compile([logits, onehot], gc.train.accuracy(logits, onehot))(
        scores, np.eye(C, dtype=np.float32)[ys])
    np.testing.assert_array_equal(got, scores.argmax(1) == ys)
    z = gc.placeholder((None, 1), "float32")
    t = gc.placeholder((None, 1), "float32")
    got = gc.compile([z, t], gc.train.accuracy(z, t))(
        np.array([[2.0], [-1.0], [0.5]], np.float32), np.array([[1.0], [1.0], [-1.0]], np.float32))
    np.testing.assert_array_equal(got, [1, 0, 0])
    pred = RNG.integers(0, 4, 80)
    true = RNG.integers(0, 4, 80)
    np.testing.assert_array_equal(gc.train.confusion_matrix(true, pred),
                                  sk_confusion_matrix(true, pred))
    assert gc.train.confusion_matrix([0, 1], [1, 1], num_classes=3).shape == (3, 3)


def test_predict_gives_the_outputs() -> None:
    trainer, W, b = softmax_model()
    np.testing.assert_allclose(trainer.predict(X_ALL, batch_size=64), X_ALL @ W.value + b.value,
                               rtol=1e-5, atol=1e-6)


def test_history_plot_writes_a_png(tmp_path) -> None:
    from PIL import Image
    trainer, _, _ = softmax_model()
    history = trainer.fit(X_ALL, Y_ALL, epochs=3, batch_size=40, validation_split=0.2,
                          early_stopping=5)
    path = history.plot(tmp_path / "curves.png", title="blobs")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as img:
        width, height = img.size
    assert width >= 800 and height >= 300, "one panel each for loss and accuracy"


def test_save_and_load_round_trip_atomically(tmp_path) -> None:
    trainer, W, b = softmax_model()
    trainer.fit(X_ALL, Y_ALL, epochs=1, batch_size=40)
    saved = [W.value.copy(), b.value.copy()]
    path = trainer.save(tmp_path / "params.npz")
    assert sorted(os.listdir(tmp_path)) == ["params.npz"], "no temporary file is left behind"
    W.value, b.value = np.zeros_like(saved[0]), np.ones_like(saved[1])
    trainer.load(path)
    np.testing.assert_array_equal(W.value, saved[0])
    np.testing.assert_array_equal(b.value, saved[1])


def test_a_failed_save_keeps_the_old_file(tmp_path, monkeypatch) -> None:
    W = gc.variable(np.ones(3, np.float32), name="W")
    path = gc.train.save_params(tmp_path / "p.npz", [W])
    original = path.read_bytes()

    def broken_write(f, array, **kwargs):
        f.write(b"partial")
        raise OSError("disk full")
    monkeypatch.setattr(np.lib.format, "write_array", broken_write)
    with pytest.raises(OSError, match="disk full"):
        gc.train.save_params(path, [W])
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["p.npz"]


def test_loading_a_mismatched_file_raises_a_clear_error(tmp_path) -> None:
    W = gc.variable(np.ones((2, 3), np.float32), name="W")
    b = gc.variable(np.zeros(3, np.float32), name="b")
    np.savez(tmp_path / "shape.npz", W=np.ones((3, 2), np.float32), b=np.zeros(3, np.float32))
    with pytest.raises(gc.train.ParameterFileError, match=r"'W' is float32\[3, 2\]"):
        gc.train.load_params(tmp_path / "shape.npz", [W, b])
    np.savez(tmp_path / "dtype.npz", W=np.ones((2, 3)), b=np.zeros(3, np.float32))
    with pytest.raises(gc.train.ParameterFileError, match="float64"):
        gc.train.load_params(tmp_path / "dtype.npz", [W, b])
    np.savez(tmp_path / "names.npz", W=np.ones((2, 3), np.float32), c=np.zeros(3, np.float32))
    with pytest.raises(gc.train.ParameterFileError, match="missing 'b'.*unexpected 'c'"):
        gc.train.load_params(tmp_path / "names.npz", [W, b])
    assert np.all(W.value == 1), "nothing is assigned when the file does not match"
    np.savez(tmp_path / "pickled.npz", W=np.array([{"evil": 1}], dtype=object), b=np.zeros(3))
    with pytest.raises(gc.train.ParameterFileError, match="pickle"):
        gc.train.load_params(tmp_path / "pickled.npz", [W, b])
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(gc.train.ParameterFileError, match="cannot read"):
        gc.train.load_params(tmp_path / "junk.npz", [W, b])
    with pytest.raises(gc.train.ParameterFileError, match="unique names"):
        gc.train.save_params(tmp_path / "dup.npz", [W, gc.variable(np.ones(2), name="W")])


def test_layer_model_with_dropout_and_eval_graph() -> None:
    x = gc.placeholder((None, D), "float32", name="x")
    y = gc.placeholder((None,), "int64", name="y")
    model = gc.nn.Sequential(gc.nn.Dense(D, 16, seed=0), gc.relu, gc.nn.Dropout(0.3, seed=1),
                             gc.nn.Dense(16, C, seed=2))
    train_logits = model(x)
    eval_logits = model(x, training=False)
    trainer = gc.train.Trainer(
        [x, y], gc.losses.cross_entropy(train_logits, y), model, gc.optim.Adam(0.01),
        metrics={"accuracy": gc.train.accuracy(train_logits, y)},
        eval_loss=gc.mean(gc.losses.cross_entropy(eval_logits, y)),
        eval_metrics={"accuracy": gc.train.accuracy(eval_logits, y)})
    rng_state = model.layers[2].state
    assert any(v is rng_state for v in trainer.variables), "layer state is saved and restored"
    trainer.fit(X_ALL, Y_ALL, epochs=3, batch_size=40)
    assert int(rng_state.value[1]) == 3 * 6, "the dropout state advanced once per step"
    first, second = trainer.evaluate(X_ALL, Y_ALL), trainer.evaluate(X_ALL, Y_ALL)
    assert first == second and first["accuracy"] > 0.9, "evaluation is deterministic"


def test_augment_is_applied_to_training_batches() -> None:
    seen = []

    def augment(batch):
        seen.append(len(batch))
        return batch
    trainer, _, _ = softmax_model()
    trainer.fit(X_ALL, Y_ALL, epochs=1, batch_size=100, augment=augment)
    assert seen == [100, 100, 40]
