"""The examples a newcomer runs first keep doing what they claim."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str) -> ModuleType:
    """Import examples/<name>.py by path: examples/ is a folder of scripts, not a package."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_xor_needs_a_hidden_layer(scripts_backend) -> None:
    results = load_example("xor").main(epochs=300, seed=0)
    assert results["perceptron"]["accuracy"] < 1.0
    assert results["mlp"]["accuracy"] == 1.0


def test_digits_mlp_reaches_95_percent(scripts_backend) -> None:
    results = load_example("digits_mlp").main(epochs=30, seed=0)
    assert results["mlp"]["test_accuracy"] >= 0.95
    assert results["softmax"]["test_accuracy"] >= 0.90
