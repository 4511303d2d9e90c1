"""Load-time folding: values computed from constants alone become constants.

Shape arithmetic (Shape -> Gather -> Concat -> Reshape) is common in exported models; folding
it as the graph is built gives later converters the static values they need. A value much
larger than the constants it comes from (a ConstantOfShape, an Expand) stays a graph node:
it would only cost memory, and the backend computes it as a cheap view.
"""
from __future__ import annotations

import numpy as np

import graphc as gc
from graphc.ops.shapes import num_elements
from graphc.registry import OPS, Kind
from graphc.tensor import Tensor

SMALL = 1 << 16     # a result this size may grow from smaller constants


def _leaves(t: Tensor, memo: dict[Tensor, int | None]) -> int | None:
    """The size of the largest constant t depends on; None if t depends on a non-constant."""
    stack = [t]
    while stack:
        node = stack[-1]
        if node in memo:
            stack.pop()
            continue
        if node.op == "constant":
            memo[node] = node.value.size
        elif not node.inputs or OPS[node.op].kind in (Kind.RANDOM, Kind.COMPOSITE):
            memo[node] = None
        else:
            pending = [i for i in node.inputs if i not in memo]
            if pending:
                stack.extend(pending)
                continue
            sizes = [memo[i] for i in node.inputs]
            memo[node] = None if None in sizes else max(sizes)
        stack.pop()
    return memo[t]


def fold(t: Tensor, memo: dict[Tensor, int | None] | None = None, force: bool = False) -> Tensor:
    """t as a constant when it depends on constants alone (and is not a blown-up view)."""
    if t.op == "constant":
        return t
    largest = _leaves(t, {} if memo is None else memo)
    size = num_elements(t.shape)
    if largest is None or size is None or (not force and size > max(SMALL, largest)):
        return t
    (value,) = gc.compile(gc.Graph((), [t]), optimize=False)()
    return gc.constant(np.asarray(value, dtype=t.dtype))


def static_value(t: Tensor) -> np.ndarray | None:
    """t's value when it is known at load time, else None."""
    t = fold(t, force=True)
    return t.value if t.op == "constant" else None
