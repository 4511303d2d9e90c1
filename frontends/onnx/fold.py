"""Load-time folding: values computed from constants alone become constants.

Shape arithmetic (Shape -> Gather -> Concat -> Reshape) is common in exported models; folding
it as the graph is built gives later converters the static values they need.
"""
from __future__ import annotations

import numpy as np

import graphc as gc
from graphc.ops.shapes import num_elements
from graphc.registry import OPS, Kind
from graphc.tensor import Tensor

MAX_FOLDED = 1 << 24     # a folded value this large would rather be computed at run time


def _constant_only(t: Tensor, memo: dict[Tensor, bool]) -> bool:
    """Whether t depends on constants alone (no inputs, variables, random draws or loops)."""
    stack = [t]
    while stack:
        node = stack[-1]
        if node in memo:
            stack.pop()
            continue
        if node.op == "constant":
            memo[node] = True
        elif not node.inputs or OPS[node.op].kind in (Kind.RANDOM, Kind.COMPOSITE):
            memo[node] = False
        else:
            pending = [i for i in node.inputs if i not in memo]
            if pending:
                stack.extend(pending)
                continue
            memo[node] = all(memo[i] for i in node.inputs)
        stack.pop()
    return memo[t]


def fold(t: Tensor, memo: dict[Tensor, bool] | None = None) -> Tensor:
    """t as a constant when it depends on constants alone and is not huge; else t."""
    if t.op == "constant" or not _constant_only(t, {} if memo is None else memo):
        return t
    size = num_elements(t.shape)
    if size is None or size > MAX_FOLDED:
        return t
    (value,) = gc.compile(gc.Graph((), [t]), optimize=False)()
    return gc.constant(np.asarray(value, dtype=t.dtype))


def static_value(t: Tensor) -> np.ndarray | None:
    """t's value when it is known at load time, else None."""
    t = fold(t)
    return t.value if t.op == "constant" else None
