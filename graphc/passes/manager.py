"""The pass manager: named passes run in order, each reported, dumped and verifiable.

`optimize(graph)` runs the default pipeline and returns the new graph with a `Report`: per
pass, the nodes and elementwise kernels before and after, the rules that fired and the time.
`dump=DIR` (or GRAPHC_DUMP=DIR) writes the text IR after every pass, and an SVG and a
before/after diff SVG where Graphviz is installed (a drawing dot cannot make is a DumpWarning,
never an error: the text IR is what a dump is for). `verify=feeds` runs the interpreter after
every pass and raises naming the first pass, rule and node whose result changed.
"""
from __future__ import annotations

import itertools
import os
import re
import shutil
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from graphc.errors import CompileError, GraphcError, GraphError
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
    round: int = 1

    @property
    def label(self) -> str:
        """The pass's name, with its round after the first: "simplify (2)"."""
        return self.name if self.round == 1 else f"{self.name} ({self.round})"

    @property
    def changed(self) -> bool:
        return (sum(self.fired.values()) > 0 or self.nodes[0] != self.nodes[1]
                or self.kernels[0] != self.kernels[1])


class Report:
    """Per-pass statistics of one optimize() call; str() is a table (see `table`)."""

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

    def table(self, full: bool = False) -> str:
        """One row per pass and a total; passes of later rounds that changed nothing are left
        out unless `full` (they are still in `passes`)."""
        shown = [p for p in self.passes if full or p.round == 1 or p.changed]
        rows = [(p.label, p.nodes, p.kernels, p.seconds, _rules(p.fired)) for p in shown]
        if self.passes:
            first, last = self.passes[0], self.passes[-1]
            rewrites = sum(self.fired.values())
            rows.append(("total", (first.nodes[0], last.nodes[1]),
                         (first.kernels[0], last.kernels[1]), self.seconds,
                         f"{rewrites} rewrite{'s' * (rewrites != 1)}"))
        nodes, kernels = _spans([r[1] for r in rows]), _spans([r[2] for r in rows])
        cells = [("pass", "nodes", "kernels", "ms", "rules fired")]
        cells += [(r[0], n, k, f"{1000 * r[3]:.1f}", r[4])
                  for r, n, k in zip(rows, nodes, kernels)]
        widths = [max(len(c[i]) for c in cells) for i in range(4)]
        lines = [f"{c[0]:<{widths[0]}}  {c[1]:<{widths[1]}}  {c[2]:<{widths[2]}}  "
                 f"{c[3]:>{widths[3]}}  {c[4]}".rstrip() for c in cells]
        hidden = len(self.passes) - len(shown)
        if hidden:
            lines.append(f"({hidden} passes of later rounds changed nothing)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _rules(fired: Counter) -> str:
    return ", ".join(f"{name} ({count})" for name, count in fired.most_common())


def _spans(pairs: list[tuple[int, int]]) -> list[str]:
    """"before -> after" cells with the numbers right-aligned in their columns."""
    wide = [max((len(str(p[i])) for p in pairs), default=0) for i in range(2)]
    return [f"{a:>{wide[0]}} -> {b:>{wide[1]}}" for a, b in pairs]


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
    if isinstance(passes, str):
        raise CompileError(f"passes is a list of pass names, e.g. [{passes!r}], not a string")
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
    """The graph rewritten by the passes, and a Report of what each pass did.

        g2, report = gc.optimize(g)                      # the default pipeline
        print(report)                                    # per pass: nodes, kernels, rules, ms
        g2, _ = gc.optimize(g, ["fold", "simplify"])     # these passes, once, in this order

    The new graph computes the same outputs and updates as `graph`, which is left unchanged.
    passes: names from gc.passes.PASSES (`graphc optimize --list` prints them with what they
    do); None runs DEFAULT in rounds until no rule fires, at most MAX_ROUNDS.
    dump: a directory that receives the text IR after every pass (NN-pass.gcir, numbered in
    the order the passes ran, 00-input first) and, where Graphviz's `dot` is installed, a
    drawing (.svg) and a before/after diff (.diff.svg), or a DumpWarning where dot fails to
    draw one; an earlier run's dumps there are replaced. GRAPHC_DUMP=DIR does the same for
    every optimize() of the process, gc.compile's included, each call in its own folder
    DIR/graph-NN.
    verify: True (random feeds) or one array per input: the interpreter runs the graph after
    every pass, and a VerifyError names the first pass, rule and node whose result changed.
    Verifying never assigns the variables.
    """
    from graphc.passes.verify import Verifier  # NOTE: it runs the NumPy backend
    if not isinstance(graph, Graph):
        raise GraphError(f"gc.optimize takes a gc.Graph, got {type(graph).__name__}; "
                         "wrap tensors as gc.Graph(inputs, outputs)")
    steps = pipeline(passes)
    rounds = MAX_ROUNDS if passes is None else 1
    report = Report()
    directory = _dump_directory(dump)
    dumper = _Dumper(directory, graph, rounds * len(steps)) if directory else None
    verifier = Verifier(graph, verify) if verify is not None and verify is not False else None
    for round_ in range(1, rounds + 1):
        graph, changed = _run_round(graph, steps, round_, report, dumper, verifier)
        if not changed:
            break
    return graph, report


def _run_round(graph: Graph, passes: list[Pass], round_: int, report: Report, dumper,
               verifier) -> tuple[Graph, bool]:
    """Run each pass once; whether any of them changed the graph."""
    changed = False
    for p in passes:
        fired: Counter = Counter()
        log: list | None = [] if verifier else None
        start = time.perf_counter()
        new = p.run(graph, fired, log)
        seconds = time.perf_counter() - start
        run = PassRun(p.name, (len(graph.nodes), len(new.nodes)),
                      (elementwise_kernels(graph), elementwise_kernels(new)), fired, seconds,
                      log or [], round_)
        report.passes.append(run)
        if verifier:
            verifier.check(run, graph, new)
        if dumper:
            dumper.write(len(report.passes), run.label, graph, new)
        changed = changed or sum(fired.values()) > 0
        graph = new
    return graph, changed


_dump_calls = itertools.count(1)      # numbers the folders GRAPHC_DUMP gets, in call order


def _dump_directory(dump) -> Path | None:
    if dump:
        return Path(dump)
    root = os.environ.get("GRAPHC_DUMP")
    return Path(root) / f"graph-{next(_dump_calls):02d}" if root else None


class DumpWarning(UserWarning):
    """A dump's drawing could not be made; the text IR beside it was written all the same."""


class _Dumper:
    """Writes NN-pass.gcir after every pass, with .svg and .diff.svg where Graphviz is found.

    A pass that left the graph as it was gets copies of the drawings already made of it. A
    drawing dot fails on is a DumpWarning naming the file, and the dump goes on: the text IR is
    the record, a picture only a view of it.
    """

    OWN_FILE = re.compile(r"\d{2,}-[\w-]+(\.diff)?\.(gcir|svg)")

    def __init__(self, directory: Path, graph: Graph, most_passes: int):
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.iterdir():
            if self.OWN_FILE.fullmatch(old.name) and old.is_file():
                old.unlink()
        self.directory = directory
        self.width = max(2, len(str(most_passes)))
        self.render = self._renderer()
        self.drawing: Path | None = None          # the drawing of the latest graph, if dot made it
        self.same_diff: Path | None = None        # its diff with itself, once drawn
        self.same_diff_tried = False              # (dot may have failed on that diff)
        self.write(0, "input", None, graph)

    @staticmethod
    def _renderer():
        if shutil.which("dot") is None:
            return None
        from backends.graphviz import render, render_diff  # NOTE: loaded on use only
        return render, render_diff

    def write(self, index: int, label: str, before: Graph | None, after: Graph) -> None:
        slug = re.sub(r"[^\w-]+", "-", label).strip("-")        # "dce (2)" -> dce-2
        stem = self.directory / f"{index:0{self.width}d}-{slug}"
        Path(f"{stem}.gcir").write_text(str(after) + "\n", encoding="utf-8")
        if not self.render:
            return
        render, render_diff = self.render
        svg, diff = Path(f"{stem}.svg"), Path(f"{stem}.diff.svg")
        unchanged = before is not None and _same_graph(before, after)
        if not unchanged:
            self.drawing = self._draw(svg, render, after)
            self.same_diff, self.same_diff_tried = None, False
        elif self.drawing:
            shutil.copyfile(self.drawing, svg)
        if before is None:
            return
        if not unchanged:
            self._draw(diff, render_diff, before, after)
        elif self.same_diff:
            shutil.copyfile(self.same_diff, diff)
        elif not self.same_diff_tried:              # a graph dot failed on is not tried again
            self.same_diff = self._draw(diff, render_diff, before, after)
            self.same_diff_tried = True

    @staticmethod
    def _draw(path: Path, draw: Callable, *graphs: Graph) -> Path | None:
        """Draw to `path`; on a Graphviz error, warn naming the file and go on (None)."""
        try:
            return draw(*graphs, path)
        except GraphcError as exc:
            warnings.warn(f"no drawing {path} (its .gcir is written): {exc}", DumpWarning)
            return None


def _same_graph(a: Graph, b: Graph) -> bool:
    """Whether two graphs are one: the same output and update nodes (nodes are hash-consed)."""
    return (len(a.outputs) == len(b.outputs) and len(a.updates) == len(b.updates)
            and all(x is y for x, y in zip(a.outputs, b.outputs))
            and all(x[0] is y[0] and x[1] is y[1] for x, y in zip(a.updates, b.updates)))
