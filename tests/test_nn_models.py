"""Models as a Keras or PyTorch user writes them (issue 11, items 10 and 11): Dense(units) sized
by its first input, Sequential of a list, print(model) and summary(), structural parameter
keys, and Trainer files that load into a model built the same way."""
from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

RNG = np.random.default_rng(0)


def test_dense_with_units_infers_its_input_size_on_first_call() -> None:
    layer = gc.nn.Dense(3, activation="relu", seed=0, dtype="float64")
    assert layer.W is None and layer.variables == [] and not layer.built
    x = gc.placeholder((None, 5), "float64")
    f = gc.compile([x], layer(x))
    assert layer.W.shape == (5, 3) and layer.b.shape == (3,) and layer.built
    feed = RNG.normal(size=(4, 5))
    np.testing.assert_allclose(f(feed), np.maximum(feed @ layer.W.value + layer.b.value, 0))
    eager = gc.nn.Dense(5, 3, activation="relu", seed=0, dtype="float64")
    np.testing.assert_array_equal(eager.W.value, layer.W.value)      # same seed, same weights


def test_dense_refuses_what_it_cannot_size() -> None:
    with pytest.raises(gc.ShapeError, match=r"Dense\(4\) infers its input size.*Dense\(in_"):
        gc.nn.Dense(4)(gc.placeholder((2, None)))
    with pytest.raises(ValueError, match="unknown activation 'rellu'"):
        gc.nn.Dense(4, activation="rellu")
    with pytest.raises(ValueError, match="positive ints"):
        gc.nn.Dense(4, 0)


@pytest.mark.parametrize("name, reference", [
    ("relu", lambda v: np.maximum(v, 0)), ("tanh", np.tanh),
    ("sigmoid", lambda v: 1 / (1 + np.exp(-v))), ("linear", lambda v: v),
    ("softmax", lambda v: np.exp(v) / np.exp(v).sum(-1, keepdims=True))])
def test_activations_by_name(name: str, reference) -> None:
    x = gc.placeholder((2, 3), "float64")
    model = gc.nn.Sequential([gc.nn.Dense(3, 3, seed=1, dtype="float64"), name])
    feed = RNG.normal(size=(2, 3))
    dense = model[0]
    expected = reference(feed @ dense.W.value + dense.b.value)
    np.testing.assert_allclose(gc.compile([x], model(x))(feed), expected, rtol=1e-12)


def mlp() -> gc.nn.Sequential:
    return gc.nn.Sequential([gc.nn.Dense(16, activation="relu", seed=0), gc.nn.Dropout(0.2),
                             gc.nn.Dense(3, seed=1)])


def test_print_shows_the_layers_and_their_settings() -> None:
    model = mlp()
    assert str(model) == ("Sequential(\n  (0): Dense(? -> 16, activation=relu)\n"
                          "  (1): Dropout(rate=0.2)\n  (2): Dense(? -> 3)\n)")
    model(gc.placeholder((None, 5)))
    assert "(0): Dense(5 -> 16, activation=relu)" in repr(model)
    assert "(2): Dense(16 -> 3)" in repr(model)


def test_summary_shows_output_shapes_and_parameter_counts() -> None:
    model = mlp()
    assert "? (unbuilt)" in model.summary(print_fn=None)
    model(gc.placeholder((None, 5)))
    lines = model.summary(print_fn=None).splitlines()
    rows = {line.split()[0]: line.split() for line in lines if line[:1].isdigit()}
    assert rows["0"][1:] == ["(Dense)", "(None,", "16)", str(5 * 16 + 16)]
    assert rows["1"][1:] == ["(Dropout)", "(None,", "16)", "2"]     # its random state
    assert rows["2"][1:] == ["(Dense)", "(None,", "3)", str(16 * 3 + 3)]
    total = 5 * 16 + 16 + 16 * 3 + 3
    assert f"Total params: {total + 2:,}" in lines[-3] and lines[-2] == f"Trainable params: {total}"
    assert lines[-1] == "Non-trainable params: 2"


def test_summary_prints(capsys) -> None:
    model = mlp()
    model(gc.placeholder((None, 5)))
    text = model.summary()
    assert capsys.readouterr().out == text + "\n"


class AutoEncoder(gc.nn.Layer):
    def __init__(self, seed: int = 0):
        super().__init__()
        self.encoder = gc.nn.Sequential(gc.nn.Dense(6, 2, seed=seed), gc.nn.BatchNorm(2))
        self.decoder = gc.nn.Dense(2, 6, activation=gc.sigmoid, seed=seed + 1)

    def forward(self, x, training):
        return self.decoder(self.encoder(x, training=training))


def test_parameter_keys_follow_the_model_structure() -> None:
    assert list(mlp().named_variables()) == ["1.state"]   # the Dense layers are unbuilt
    model = mlp()
    model(gc.placeholder((None, 5)))
    assert list(model.named_variables()) == ["0.W", "0.b", "1.state", "2.W", "2.b"]
    assert list(AutoEncoder().named_variables()) == [
        "encoder.0.W", "encoder.0.b", "encoder.1.gamma", "encoder.1.beta",
        "encoder.1.running_mean", "encoder.1.running_var", "decoder.W", "decoder.b"]


def trainer_for(model) -> tuple[gc.train.Trainer, gc.Tensor]:
    x = gc.placeholder((None, 6), "float32", name="x")
    loss = gc.losses.mse(model(x), x)
    return gc.train.Trainer([x], loss, model, gc.optim.Adam(0.01),
                            eval_loss=gc.mean(gc.losses.mse(model(x, training=False), x))), x


def test_a_saved_trainer_loads_into_the_same_architecture_built_again(tmp_path) -> None:
    data = RNG.uniform(size=(64, 6)).astype(np.float32)
    first, _ = trainer_for(AutoEncoder(seed=0))
    first.fit(data, epochs=2, batch_size=16)
    path = first.save(tmp_path / "ae")
    assert path.name == "ae.npz"
    second_model = AutoEncoder(seed=5)
    second, _ = trainer_for(second_model)
    assert second_model.name != first.model.name, "layer names differ (global counters)"
    second.load(path)
    for key, v in first.state_dict().items():
        np.testing.assert_array_equal(second.state_dict()[key].value, v.value)
    assert second.evaluate(data) == first.evaluate(data)
