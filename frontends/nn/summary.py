"""Layer.summary(): a Keras-style table of a model's parts, output shapes and parameter counts."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from frontends.graphinfo import human_bytes

if TYPE_CHECKING:
    from frontends.nn.base import Layer


def shape_text(shape: tuple | None) -> str:
    """(None, 128) as Keras shows it: a symbolic dim (the batch) is None; "?" before a call."""
    if shape is None:
        return "?"
    dims = ["None" if isinstance(d, str) else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _params(layer: Layer) -> str:
    return f"{layer.count_params():,}" if layer.built else "? (unbuilt)"


def summary_table(model: Layer) -> str:
    """One row per direct part of `model` (the model itself when it has none), then totals."""
    parts = list(model.named_sublayers()) or [(model.name, model)]
    rows = [("Layer (type)", "Output shape", "Params")]
    rows += [(f"{key} ({type(layer).__name__}"
              + (f": {layer.extra_repr()}" if type(layer).__name__ == "Activation" else "")
              + ")", shape_text(layer.output_shape), _params(layer)) for key, layer in parts]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]

    def line(row: tuple[str, str, str]) -> str:
        return f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}"
    rule = "-" * (sum(widths) + 4)
    variables = model.variables
    trainable = {id(v) for v in model.trainable_variables}
    total = sum(math.prod(v.shape) for v in variables)
    size = sum(math.prod(v.shape) * v.value.itemsize for v in variables)
    learned = sum(math.prod(v.shape) for v in variables if id(v) in trainable)
    lines = [f'Model: "{model.name}" ({type(model).__name__})', rule, line(rows[0]), rule]
    lines += [line(row) for row in rows[1:]]
    lines += [rule, f"Total params: {total:,} ({human_bytes(size)})",
              f"Trainable params: {learned:,}", f"Non-trainable params: {total - learned:,}"]
    if not model.built:
        lines.append("Some layers are unbuilt: they make their variables on their first call.")
    return "\n".join(lines)
