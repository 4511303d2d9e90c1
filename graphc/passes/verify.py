"""Verify mode: the interpreter runs the graph after every pass and must give the same results.

A pass that changes a result beyond tolerance is a compiler bug; the error names the pass,
and from the replacements the pass logged, the first rule and node whose value changed.
The graphs run without their updates, so verifying never assigns a variable: the new values
are compared like outputs, each by its variable (a pass may drop an update that does nothing).
"""
from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

from graphc.errors import FeedError, GraphcError, VerifyError
from graphc.graph import Graph
from graphc.printing import DimNames
from graphc.tensor import Tensor

TOLERANCE = {"float32": (1e-4, 1e-6), "float64": (1e-9, 1e-12)}   # rtol, atol
MAX_DIM_TRIALS = 256       # assignments of values to symbolic dims random_feeds tries


class Verifier:
    """Holds the feeds and the expected values of one graph's outputs and updates."""

    def __init__(self, graph: Graph, feeds: Sequence | bool):
        self.random = feeds is True
        if not self.random and not isinstance(feeds, (list, tuple)):
            raise FeedError("verify takes True (random feeds) or a list with one array per "
                            f"input, got {type(feeds).__name__}")
        self.feeds = random_feeds(graph) if self.random else list(feeds)
        self.variables = {id(var): var for var, _ in graph.updates}
        self.dims = DimNames(graph)
        for t in graph.inputs:          # number anonymous dims ?1, ?2, ... as the text IR does
            self.dims.type(t.type)
        results = _results(graph)
        try:
            values = _run(graph, [node for _, node in results.values()], self.feeds)
        except FeedError as exc:
            raise FeedError(f"verify: {exc}") from None
        except Exception as exc:     # NOTE: the interpreter raises NumPy's errors as they are
            where = "random feeds (ints 0 or 1)" if self.random else "feeds"
            raise VerifyError(f"verify: the graph fails on the {where} before any pass ran: "
                              f"{type(exc).__name__}: {exc}; give feeds as verify=[...]") from exc
        self.expected = dict(zip(results, values))
        self.described = {key: f"{label} ({self._describe(node)})"
                          for key, (label, node) in results.items()}

    def check(self, run, before: Graph, after: Graph) -> None:
        results = _results(after)
        if len(after.outputs) != len(before.outputs) or not results.keys() <= self.expected.keys():
            raise VerifyError(f"pass {run.label} changed which outputs and updates the graph "
                              f"has: {len(before.outputs)} outputs became {len(after.outputs)}, "
                              f"{len(before.updates)} updates became {len(after.updates)}")
        try:
            values = _run(after, [node for _, node in results.values()], self.feeds)
        except Exception as exc:
            raise VerifyError(f"pass {run.label} made the graph fail: {type(exc).__name__}: "
                              f"{exc}{self._culprit(run, before) or self._rules(run)}") from exc
        got = dict(zip(results, values))
        for key, want in self.expected.items():
            if key in got:
                have, what = got[key], self.described[key]
            else:                                    # the update was dropped: a no-op?
                have = np.asarray(self.variables[key[1]].value)
                what = f"{self.described[key]}, dropped"
            problem = mismatch(want, have, want.dtype.name)
            if problem:
                raise VerifyError(f"pass {run.label} changed {what}: {problem}"
                                  f"{self._culprit(run, before) or self._rules(run)}")

    def _culprit(self, run, before: Graph) -> str:
        """The first logged replacement whose old and new nodes disagree on the feeds, else the
        first made inside a subgraph (whose nodes cannot run on the graph's feeds alone)."""
        inside = ""
        for rule, old, new in run.log:
            replaced = (f"rule {rule!r} replaced {self._describe(old)} by {new.op} "
                        f"{self.dims.type(new.type)}")
            try:
                want, have = _run(before, [old, new], self.feeds)
            except GraphcError:
                inside = inside or f"\n  {replaced} inside a subgraph"
                continue
            except Exception as exc:
                return f"\n  {replaced}, which fails: {type(exc).__name__}: {exc}"
            problem = mismatch(want, have, old.dtype)
            if problem:
                return f"\n  {replaced}: {problem}"
        return inside

    def _describe(self, node: Tensor) -> str:
        where = f" at {node.loc}" if node.loc else ""
        return f"{node.op} {self.dims.type(node.type)}{where}"

    @staticmethod
    def _rules(run) -> str:
        if not run.fired:
            return ""
        fired = ", ".join(f"{name!r} ({count})" for name, count in run.fired.most_common())
        return f"\n  rules that fired: {fired}"


def _results(graph: Graph) -> dict[tuple, tuple[str, Tensor]]:
    """The values a pass must keep: outputs by position, new values of variables by variable."""
    results = {("output", i): (f"output {i}", t) for i, t in enumerate(graph.outputs)}
    for var, value in graph.updates:
        results["update", id(var)] = (f"the update of {var.name or 'a variable'}", value)
    return results


def _run(graph: Graph, outputs: list[Tensor], feeds: list) -> list[np.ndarray]:
    """The outputs' values on the feeds, with variables left as they are."""
    from backends.numpy import compile_graph  # NOTE: the reference, loaded on use
    fn = compile_graph(Graph(graph.inputs, outputs))
    with np.errstate(all="ignore"):      # random feeds reach log(-1): not the user's concern
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
    at = f" at [{', '.join(str(int(i)) for i in index)}]" if index else ""
    return (f"{str(want[index])} became {str(have[index])}{at} "
            f"({int(bad.sum())} of {bad.size} values differ)")


def random_feeds(graph: Graph, seed: int = 0) -> list[np.ndarray]:
    """Feeds of the inputs' types: normal floats, ints 0 or 1, bools, symbolic dims 3 where the
    graph's assumptions allow it (else another value they name, or 1)."""
    rng = np.random.default_rng(seed)
    env = graph.dims
    bindings = dim_values(graph)
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


def dim_values(graph: Graph) -> dict[str, int]:
    """Values of the input symbols the graph's assumptions accept, preferring 3 for each.

    "?n is 1 or 4" rules 3 out: the candidates are 3, the ints the assumptions name, and 1,
    tried for the signature's symbols in turn (the first symbol's value changes last).
    """
    env = graph.dims
    named = {d for a, _ in env.assumptions for d in (a.a, a.b) if isinstance(d, int) and d > 1}
    candidates = [3, *sorted(named - {3}), 1]
    names = [t.name or "" for t in graph.inputs]
    first = None
    for values in itertools.islice(itertools.product(candidates, repeat=len(env.signature)),
                                   MAX_DIM_TRIALS):
        chosen = dict(zip(env.signature, values))
        bindings = {}
        for sym in env.bound_at:
            rep = env.resolve(sym)
            bindings[sym] = rep if isinstance(rep, int) else chosen[rep]
        first = first or bindings
        try:
            env.check(bindings, names)
            return bindings
        except GraphcError:
            continue
    return first or {}        # nothing fits: running on these explains what does not
