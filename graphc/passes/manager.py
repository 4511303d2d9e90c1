"""The pass manager: named passes run in order, each reported, dumped and verifiable.

`optimize(graph)` runs the default pipeline and returns the new graph with a `Report`: per
pass, the nodes and elementwise kernels before and after, the rules that fired and the time.
`dump=DIR` (or GRAPHC_DUMP=DIR) writes the text IR after every pass, and an SVG and a
before/after diff SVG where Graphviz is installed. `verify=feeds` runs the interpreter after
every pass and raises naming the first pass, rule and node whose result changed.
"""
from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from graphc.errors import CompileError
from graphc.graph import Graph
from graphc.pattern import RuleSet
from graphc.registry import OPS, Kind
from graphc.rewrite import Rewriter


@dataclass
class PassRun:
    """What one pass did to the graph it was given."""

    name: str
    nodes: tuple[int, int]              # before, after
    kernels: tuple[int, int]            # elementwise kernels before, after
    fired: Counter
    seconds: float
    log: list = field(default_factory=list, repr=False)   # (rule, old node, new node)


class Report:
    """Per-pass statistics of one optimize() call; str() is a table."""

    def __init__(self) -> None:
        self.passes: list[PassRun] = []

    @property
    def fired(self) -> Counter:
        total: Counter = Counter()
        for p in self.passes:
            total.update(p.fired)
        return total

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.passes)

    def __str__(self) -> str:
        rows = [("pass", "nodes", "kernels", "ms", "rules fired")]
        for p in self.passes:
            rules = ", ".join(f"{name} x{count}" for name, count in p.fired.most_common())
            rows.append((p.name, f"{p.nodes[0]} -> {p.nodes[1]}",
                         f"{p.kernels[0]} -> {p.kernels[1]}", f"{1000 * p.seconds:.1f}",
                         rules or "-"))
        if self.passes:
            first, last = self.passes[0], self.passes[-1]
            rows.append(("total", f"{first.nodes[0]} -> {last.nodes[1]}",
                         f"{first.kernels[0]} -> {last.kernels[1]}",
                         f"{1000 * self.seconds:.1f}", ""))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r[:4], widths)) + "  " + r[4]
                         for r in rows).rstrip()


@dataclass(frozen=True)
class Pass:
    """A named graph -> graph transformation; `run(graph, fired, log)` does it."""

    name: str
    run: Callable[[Graph, Counter, list | None], Graph]
    doc: str


def rule_pass(name: str, rules: RuleSet, doc: str) -> Pass:
    """A pass that rewrites the graph with one rule set to a fixpoint."""
    def run(graph: Graph, fired: Counter, log: list | None) -> Graph:
        return Rewriter(rules, fired, log)(graph)
    return Pass(name, run, doc)


PASSES: dict[str, Pass] = {}


def register(p: Pass) -> Pass:
    PASSES[p.name] = p
    return p


# The default pipeline, run in rounds until no rule fires (at most MAX_ROUNDS); backends that
# generate code append fusion (and a memory plan).
DEFAULT = ("dce", "stability", "fold", "simplify", "layout", "cse")
MAX_ROUNDS = 3


def pipeline(passes: Iterable[str] | None) -> list[Pass]:
    names = DEFAULT if passes is None else tuple(passes)
    unknown = [n for n in names if n not in PASSES]
    if unknown:
        raise CompileError(f"unknown pass {unknown[0]!r}; passes: {', '.join(PASSES)}")
    return [PASSES[n] for n in names]


def elementwise_kernels(graph: Graph) -> int:
    """How many elementwise loops the graph runs: unfused elementwise nodes plus fused groups."""
    return sum(OPS[n.op].kind is Kind.ELEMENTWISE or n.op == "fused" for n in graph.nodes)


def optimize(graph: Graph, passes: Sequence[str] | None = None, dump=None,
             verify=None) -> tuple[Graph, Report]:
    """Run the passes (default: DEFAULT, in rounds) and return the new graph and a Report.

    dump: a directory for the text IR (and SVGs) after every pass; GRAPHC_DUMP sets it too.
    verify: feeds (one array per input) or True (random feeds) to check every pass against
    the interpreter.
    """
    from graphc.passes.verify import Verifier  # NOTE: it runs the NumPy backend
    report = Report()
    dump = dump or os.environ.get("GRAPHC_DUMP") or None
    dumper = _Dumper(Path(dump), graph) if dump else None
    verifier = Verifier(graph, verify) if verify is not None and verify is not False else None
    rounds = MAX_ROUNDS if passes is None else 1
    for round_ in range(rounds):
        graph, changed = _run_round(graph, pipeline(passes), report, dumper, verifier,
                                    f" ({round_ + 1})" if round_ else "")
        if not changed:
            break
    return graph, report


def _run_round(graph: Graph, passes: list[Pass], report: Report, dumper, verifier,
               suffix: str) -> tuple[Graph, bool]:
    """Run each pass once; whether any of them changed the graph."""
    changed = False
    for p in passes:
        fired: Counter = Counter()
        log: list | None = [] if verifier else None
        start = time.perf_counter()
        new = p.run(graph, fired, log)
        seconds = time.perf_counter() - start
        run = PassRun(p.name + suffix, (len(graph.nodes), len(new.nodes)),
                      (elementwise_kernels(graph), elementwise_kernels(new)), fired, seconds,
                      log or [])
        report.passes.append(run)
        if verifier:
            verifier.check(run, graph, new)
        if dumper:
            dumper.write(len(report.passes), p.name, graph, new)
        changed = changed or sum(fired.values()) > 0
        graph = new
    return graph, changed


class _Dumper:
    """Writes NN-pass.gcir after every pass, with .svg and .diff.svg where Graphviz is found."""

    def __init__(self, directory: Path, graph: Graph):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "00-input.gcir").write_text(str(graph) + "\n", encoding="utf-8")
        self.render = self._renderer()
        if self.render:
            self.render[0](graph, directory / "00-input.svg")

    @staticmethod
    def _renderer():
        import shutil
        if shutil.which("dot") is None:
            return None
        from backends.graphviz import render, render_diff  # NOTE: loaded on use only
        return render, render_diff

    def write(self, index: int, name: str, before: Graph, after: Graph) -> None:
        stem = self.directory / f"{index:02d}-{name}"
        stem.with_suffix(".gcir").write_text(str(after) + "\n", encoding="utf-8")
        if self.render:
            render, render_diff = self.render
            render(after, stem.with_suffix(".svg"))
            render_diff(before, after, self.directory / f"{index:02d}-{name}.diff.svg")
