"""The pass manager as a user meets it: the report table, dumps after every pass, the pass list.

Verify mode has its own file (test_verify.py); the `graphc optimize` command is in test_cli.py.
"""
from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc.errors import CompileError, GraphError
from graphc.passes import DEFAULT, PASSES, DumpWarning, manager
from graphc.passes.manager import PassRun, Report
from graphc.registry import OPS, Kind
from tests.ir_models import lstm_training_graph, mlp_graphs, rnn_graph
from tests.test_render import failing_dot, needs_dot, needs_sh


def mlp_training_step() -> gc.Graph:
    """A gc.nn MLP with dropout, cross-entropy and Adam: forward, backward and the updates."""
    x = gc.placeholder((None, 16), "float32", name="x")
    y = gc.placeholder((None,), "int64", name="y")
    model = gc.nn.Sequential(gc.nn.Dense(16, 32, activation=gc.relu, seed=0),
                             gc.nn.Dense(32, 32, activation=gc.tanh, seed=1),
                             gc.nn.Dense(32, 10, seed=2))
    loss = gc.mean(gc.losses.cross_entropy(model(x), y)) + 1e-4 * gc.losses.l2(model[0].W)
    updates = gc.optim.Adam(lr=1e-3).updates(loss, model.variables)
    return gc.Graph([x, y], [loss], updates)


def elementwise_nodes(graph: gc.Graph) -> int:
    return sum(OPS[n.op].kind is Kind.ELEMENTWISE for n in graph.nodes)


# ---- the report --------------------------------------------------------------------------------

def test_report_on_a_training_step_lists_every_pass_with_true_counts() -> None:
    graph = mlp_training_step()
    optimized, report = gc.optimize(graph)
    assert [p.label for p in report.passes[:len(DEFAULT)]] == list(DEFAULT)
    assert report.passes[0].nodes[0] == len(graph.nodes)
    assert report.passes[-1].nodes[1] == len(optimized.nodes) < len(graph.nodes)
    assert report.passes[0].kernels[0] == elementwise_nodes(graph)
    assert report.passes[-1].kernels[1] == elementwise_nodes(optimized)
    for earlier, later in zip(report.passes, report.passes[1:]):      # each starts where the
        assert later.nodes[0] == earlier.nodes[1]                       # one before it ended
    assert sum(report.fired.values()) > 0 and all(p.seconds >= 0 for p in report.passes)

    lines = str(report).splitlines()
    assert lines[0].split() == ["pass", "nodes", "kernels", "ms", "rules", "fired"]
    rows = {line.split()[0]: line for line in lines[1:] if not line.startswith("(")}
    for p in report.passes:
        if p.round == 1:
            row = rows[p.name]
            assert f"{p.nodes[0]} -> {p.nodes[1]}" in row
            assert f"{p.kernels[0]} -> {p.kernels[1]}" in row
            for rule, count in p.fired.items():
                assert f"{rule} ({count})" in row
    total = rows["total"]
    assert f"{len(graph.nodes)} -> {len(optimized.nodes)}" in total
    assert f"{sum(report.fired.values())} rewrites" in total
    # aligned: every row's node arrow, kernel arrow and time end in the same columns
    body = [line for line in lines[1:] if not line.startswith("(")]
    for pattern in (r"^\S+\s+\d+ ->", r"^\S+\s+\d+ -> +\d+\s+\d+ ->", r"\d+\.\d(?=\s|$)"):
        assert len({re.search(pattern, line).end() for line in body}) == 1, pattern


def test_later_rounds_that_changed_nothing_are_hidden_but_kept() -> None:
    _, report = gc.optimize(mlp_graphs()["training"])
    idle = [p for p in report.passes if p.round > 1 and not p.changed]
    assert idle, "the default pipeline runs a second round after a round that fired"
    short, full = str(report).splitlines(), report.table(full=True).splitlines()
    assert short[-1] == f"({len(idle)} passes of later rounds changed nothing)"
    assert len(full) == 1 + len(report.passes) + 1            # header, passes, total
    assert [line.split()[0] for line in full[1:-1]] == [p.label.split()[0] for p in
                                                        report.passes]
    assert any(line.startswith(f"{idle[0].name} (2)") for line in full)
    assert not any(line.startswith(f"{idle[0].name} (2)") for line in short)


def test_a_later_round_that_fired_is_shown() -> None:
    report = Report()
    report.passes = [PassRun("fold", (9, 7), (4, 3), Counter(fold=2), 0.001),
                     PassRun("simplify", (7, 7), (3, 3), Counter(), 0.002),
                     PassRun("fold", (7, 6), (3, 2), Counter(fold=1), 0.0005, round=2),
                     PassRun("simplify", (6, 6), (2, 2), Counter(), 0.001, round=2)]
    assert str(report).splitlines() == [
        "pass      nodes   kernels   ms  rules fired",
        "fold      9 -> 7  4 -> 3   1.0  fold (2)",
        "simplify  7 -> 7  3 -> 3   2.0",
        "fold (2)  7 -> 6  3 -> 2   0.5  fold (1)",
        "total     9 -> 6  4 -> 2   4.5  3 rewrites",
        "(1 passes of later rounds changed nothing)"]


def test_pass_names_are_checked() -> None:
    graph = mlp_graphs()["forward"]
    with pytest.raises(CompileError, match=r"unknown pass 'fusoin'; passes: .*simplify"):
        gc.optimize(graph, ["fold", "fusoin"])
    with pytest.raises(CompileError, match=r"a list of pass names, e.g. \['simplify'\]"):
        gc.optimize(graph, "simplify")
    with pytest.raises(GraphError, match="gc.optimize takes a gc.Graph, got Tensor"):
        gc.optimize(graph.outputs[0])
    _, report = gc.optimize(graph, ["simplify", "fold"])        # given passes run once, in order
    assert [p.label for p in report.passes] == ["simplify", "fold"]


def test_compile_runs_the_passes_it_is_given(monkeypatch) -> None:
    ran = []
    real = manager.optimize

    def spy(graph, passes=None, **kw):
        result = real(graph, passes, **kw)
        ran.append([p.label for p in result[1].passes])
        return result
    monkeypatch.setattr("graphc.passes.optimize", spy)
    x = gc.placeholder((None, 3), "float32", name="x")
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    step = gc.compile([x], gc.exp(x * 1.0), backend="numpy", optimize=["simplify"])
    np.testing.assert_allclose(step(data), np.exp(data), rtol=1e-6)
    gc.compile([x], x + 0.0, backend="numpy", optimize=False)
    assert ran == [["simplify"]]


def test_every_pass_has_a_one_line_doc() -> None:
    assert set(DEFAULT) <= set(PASSES) and gc.passes.PASSES is PASSES
    for name, p in PASSES.items():
        assert p.name == name
        assert "\n" not in p.doc and p.doc.endswith(".") and 20 < len(p.doc) <= 100, p.doc
    doc = gc.optimize.__doc__
    for word in ("passes", "dump", "GRAPHC_DUMP", "verify", "Report", "PASSES"):
        assert word in doc


# ---- dumps -------------------------------------------------------------------------------------

def expected_dump_files(report: Report, drawings: bool) -> list[str]:
    suffixes = [".gcir", ".svg"] if drawings else [".gcir"]
    stems = ["00-input"] + [f"{i:02d}-{p.name}" + (f"-{p.round}" if p.round > 1 else "")
                            for i, p in enumerate(report.passes, 1)]
    names = [stem + s for stem in stems for s in suffixes]
    if drawings:
        names += [stem + ".diff.svg" for stem in stems[1:]]
    return sorted(names)


def check_dumped_ir(folder: Path, report: Report, optimized: gc.Graph) -> None:
    """Every dumped IR parses back, with the node count the report gives after that pass."""
    dumps = sorted(folder.glob("*.gcir"))
    assert len(dumps) == len(report.passes) + 1
    counts = [report.passes[0].nodes[0]] + [p.nodes[1] for p in report.passes]
    for path, count in zip(dumps, counts):
        assert len(gc.parse(path.read_text(), source=str(path)).nodes) == count, path.name
    assert dumps[-1].read_text() == str(optimized) + "\n"


@needs_dot
def test_dump_writes_ir_drawing_and_diff_after_every_pass(tmp_path: Path) -> None:
    graph = mlp_graphs()["training"]
    optimized, report = gc.optimize(graph, dump=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == expected_dump_files(report, True)
    check_dumped_ir(tmp_path, report, optimized)
    for svg in tmp_path.glob("*.svg"):
        assert ET.parse(svg).getroot().tag.endswith("svg"), svg.name
    # a pass that changed the graph is drawn anew; one that did not gets the same drawing
    changed = next(i for i, p in enumerate(report.passes, 1) if p.nodes[0] != p.nodes[1])
    idle = next(i for i, p in enumerate(report.passes, 1) if i > changed and not p.changed)
    drawing = {i: next(tmp_path.glob(f"{i:02d}-*[a-z0-9].svg")).read_bytes()
               for i in (changed - 1, changed, idle)}
    assert drawing[changed] != drawing[changed - 1]
    assert drawing[idle] == drawing[changed]
    def diff_counts(index: int) -> tuple[int, int]:
        text = next(tmp_path.glob(f"{index:02d}-*.diff.svg")).read_text()
        before = report.passes[index - 1].nodes[0]
        removed = re.search(rf"before: {before} nodes, (\d+) removed", text).group(1)
        return int(removed), int(re.search(r"after: \d+ nodes, (\d+) added", text).group(1))
    assert diff_counts(changed)[0] > 0 and diff_counts(idle) == (0, 0)


def test_dump_without_graphviz_writes_the_text_ir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(manager.shutil, "which", lambda name: None)
    optimized, report = gc.optimize(mlp_graphs()["training"], dump=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == expected_dump_files(report, False)
    check_dumped_ir(tmp_path, report, optimized)


def test_dump_replaces_an_earlier_runs_files_only(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(manager.shutil, "which", lambda name: None)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "model.svg").write_text("<svg/>")
    graph = mlp_graphs()["training"]
    gc.optimize(graph, dump=tmp_path)
    assert len(list(tmp_path.glob("*.gcir"))) > 3
    gc.optimize(graph, ["fold"], dump=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "00-input.gcir", "01-fold.gcir", "model.svg", "notes.txt"]


def test_dump_names_stay_ordered_past_99_passes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(manager.shutil, "which", lambda name: None)
    gc.optimize(mlp_graphs()["forward"], ["dce"] * 120, dump=tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names[:3] == ["000-input.gcir", "001-dce.gcir", "002-dce.gcir"]
    assert names[-1] == "120-dce.gcir" and len(names) == 121


@needs_dot
def test_dump_of_a_graph_with_scan_bodies(tmp_path: Path) -> None:
    graph = rnn_graph()
    optimized, report = gc.optimize(graph, dump=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == expected_dump_files(report, True)
    check_dumped_ir(tmp_path, report, optimized)
    scans = sum(n.op == "scan" for n in graph.nodes)
    assert scans >= 2                                         # the loop and its gradient
    assert (tmp_path / "00-input.gcir").read_text().count("body=graph(") == scans
    assert "scan" in (tmp_path / "00-input.svg").read_text()


@needs_dot
def test_dump_of_an_lstm_training_step_draws_every_pass(tmp_path: Path) -> None:
    """W7's scan variant: dot could not draw its first graph, and GRAPHC_DUMP failed compiles."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DumpWarning)
        optimized, report = gc.optimize(lstm_training_graph(), [*DEFAULT, "fusion"],
                                        dump=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == expected_dump_files(report, True)
    check_dumped_ir(tmp_path, report, optimized)


@needs_sh
def test_dump_goes_on_when_dot_cannot_draw(tmp_path: Path, monkeypatch) -> None:
    training = mlp_graphs()["training"]
    failing_dot(tmp_path / "bin", monkeypatch)
    folder = tmp_path / "dump"
    with pytest.warns(DumpWarning) as caught:
        optimized, report = gc.optimize(training, dump=folder)
    assert sorted(p.name for p in folder.iterdir()) == expected_dump_files(report, False)
    check_dumped_ir(folder, report, optimized)
    messages = [str(w.message) for w in caught if w.category is DumpWarning]
    assert messages[0] == (f"no drawing {folder / '00-input.svg'} (its .gcir is written): "
                           "Graphviz's `dot` could not draw this graph as SVG: Error: trouble "
                           "in init_rank (and 300 more lines of dot's output)")
    assert all("\n" not in m and len(m) < 300 for m in messages)
    # a graph dot failed on is not drawn again for each pass that leaves it as it was
    assert len(messages) < 1 + 2 * len(report.passes)
    # and a compile with GRAPHC_DUMP set compiles, warning
    monkeypatch.setenv("GRAPHC_DUMP", str(tmp_path / "env"))
    with pytest.warns(DumpWarning):
        step = gc.compile(training, backend="numpy")
    assert callable(step) and list((tmp_path / "env").glob("graph-*/00-input.gcir"))


def test_graphc_dump_gives_each_optimize_call_its_folder(tmp_path: Path, monkeypatch) -> None:
    graphs = mlp_graphs()                   # (building them optimizes one: before the setenv)
    training, forward = graphs["training"], graphs["forward"]
    monkeypatch.setattr(manager.shutil, "which", lambda name: None)
    monkeypatch.setenv("GRAPHC_DUMP", str(tmp_path))
    gc.compile(training, backend="numpy")
    gc.optimize(forward, ["fold"])
    folders = sorted(tmp_path.iterdir())
    assert [re.fullmatch(r"graph-\d\d", f.name) is not None for f in folders] == [True, True]
    assert (folders[0] / "00-input.gcir").read_text() == str(training) + "\n"
    assert sorted(p.name for p in folders[1].iterdir()) == ["00-input.gcir", "01-fold.gcir"]
    gc.optimize(forward, dump=tmp_path / "mine")                # an explicit dump= wins
    assert (tmp_path / "mine" / "00-input.gcir").exists() and len(list(tmp_path.iterdir())) == 3
