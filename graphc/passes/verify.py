"""Verify mode: the interpreter runs the graph after every pass and must give the same results.

A pass that changes a result beyond tolerance is a compiler bug; the error names the pass,
and from the replacements the pass logged, the first rule and node whose value changed.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from graphc.errors import GraphcError, VerifyError
from graphc.graph import Graph
from graphc.tensor import Tensor

TOLERANCE = {"float32": (1e-4, 1e-6), "float64": (1e-9, 1e-12)}   # rtol, atol


class Verifier:
    """Holds the feeds and the expected values of one graph's outputs and updates."""

    def __init__(self, graph: Graph, feeds: Sequence | bool):
        self.feeds = random_feeds(graph) if feeds is True else list(feeds)
        self.expected = _run(graph, _results(graph), self.feeds)

    def check(self, run, before: Graph, after: Graph) -> None:
        got = _run(after, _results(after), self.feeds)
        for i, (want, have, node) in enumerate(zip(self.expected, got, _results(before))):
            problem = mismatch(want, have, node.dtype)
            if problem:
                raise VerifyError(f"pass {run.name} changed result {i} ({_describe(node)}): "
                                  f"{problem}{self._culprit(run, before)}")

    def _culprit(self, run, before: Graph) -> str:
        """The first logged replacement whose old and new nodes disagree on the feeds."""
        for rule, old, new in run.log:
            try:
                want, have = _run(before, [old, new], self.feeds)
            except GraphcError:
                continue       # a node inside a subgraph: its inputs are not the graph's
            problem = mismatch(want, have, old.dtype)
            if problem:
                return f"; rule {rule} replaced {_describe(old)} by {_describe(new)}: {problem}"
        return ""


def _results(graph: Graph) -> list[Tensor]:
    return list(graph.outputs) + [value for _, value in graph.updates]


def _run(graph: Graph, outputs: list[Tensor], feeds: list) -> list[np.ndarray]:
    """The outputs' values on the feeds, with variables left as they are."""
    from backends.numpy import compile_graph  # NOTE: the reference, loaded on use
    fn = compile_graph(Graph(graph.inputs, outputs))
    return [np.array(v) for v in fn(*feeds)]


def mismatch(want: np.ndarray, have: np.ndarray, dtype: str) -> str:
    """Why two results differ beyond tolerance ("" when they agree; NaNs equal)."""
    if want.shape != have.shape:
        return f"shape {want.shape} became {have.shape}"
    if dtype not in TOLERANCE:
        bad = want != have
    else:
        rtol, atol = TOLERANCE[dtype]
        with np.errstate(all="ignore"):
            close = np.isclose(have, want, rtol=rtol, atol=atol)
            bad = ~(close | (np.isnan(want) & np.isnan(have)))
    if not bad.any():
        return ""
    index = np.unravel_index(np.argmax(bad), bad.shape) if bad.ndim else ()
    return f"{want[index]!r} became {have[index]!r} at {index} ({int(bad.sum())} differ)"


def _describe(node: Tensor) -> str:
    where = f" at {node.loc}" if node.loc else ""
    return f"{node.op} {node.type}{where}"


def random_feeds(graph: Graph, seed: int = 0) -> list[np.ndarray]:
    """Feeds of the inputs' types: normal floats, small non-negative ints, symbols as 3."""
    rng = np.random.default_rng(seed)
    env = graph.dims
    bindings = {s: 3 for s in env.bound_at}
    for _ in range(2):         # an assumption "?n is 1 or 4" may need another value
        for sym in env.bound_at:
            rep = env.resolve(sym)
            bindings[sym] = rep if isinstance(rep, int) else bindings.get(rep, 3)
        try:
            env.check(bindings, [t.name or "" for t in graph.inputs])
            break
        except GraphcError:
            bindings = {s: 1 for s in env.bound_at}
    feeds = []
    for t in graph.inputs:
        shape = tuple(env.value(d, bindings) for d in t.shape)
        if t.dtype.startswith("float"):
            feeds.append(rng.standard_normal(shape).astype(t.dtype))
        elif t.dtype == "bool":
            feeds.append(rng.random(shape) < 0.5)
        else:
            feeds.append(rng.integers(0, 2, shape).astype(t.dtype))
    return feeds
