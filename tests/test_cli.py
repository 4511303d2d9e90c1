"""The `graphc` command line, run as a user would: exit status, stdout, stderr."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from frontends import cli
from graphc.passes import DEFAULT, PASSES
from graphc.passes.manager import rule_pass
from graphc.pattern import P, RuleSet
from graphc.printing import value_names
from tests.ir_models import mlp_graphs
from tests.test_pass_manager import expected_dump_files
from tests.test_render import Picture, needs_dot

ROOT = Path(__file__).resolve().parents[1]
BAD_IR = Path(__file__).parent / "data" / "bad_ir"


def graphc(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "frontends.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env=None if env is None else {**os.environ, **env})


def assert_user_error(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("graphc: error: ") and message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """examples/visualize.py's training step, saved with gc.save."""
    folder = tmp_path_factory.mktemp("cli")
    return gc.save(mlp_graphs()["training"], folder / "mlp.gcir")


@pytest.fixture(scope="module")
def feeds(saved: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    paths = {"x": saved.parent / "x.npy", "y": saved.parent / "y.npy"}
    np.save(paths["x"], rng.standard_normal((6, 64)).astype(np.float32))
    np.save(paths["y"], np.arange(6) % 10)
    return paths


def test_help_for_every_command() -> None:
    result = graphc("--help")
    assert result.returncode == 0
    for command in ("render", "show", "run", "info", "optimize"):
        assert command in result.stdout
        sub = graphc(command, "--help")
        assert sub.returncode == 0 and f"usage: graphc {command}" in sub.stdout


def test_command_line_mistakes_exit_2() -> None:
    assert graphc().returncode == 2
    result = graphc("show")
    assert result.returncode == 2 and "usage: graphc show" in result.stderr
    assert graphc("explode", "x").returncode == 2


def test_show_prints_the_text_ir(saved: Path) -> None:
    result = graphc("show", saved)
    assert result.returncode == 0, result.stderr
    assert result.stdout == saved.read_text()


def test_info_counts_ops_and_estimates_cost(saved: Path) -> None:
    result = graphc("info", saved, "--batch", "32")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    graph = gc.load(saved)
    matmuls = sum(n.op == "matmul" for n in graph.nodes)
    assert re.search(rf"^  matmul +{matmuls}$", out, re.M)
    assert "parameters     2,410 in 4 variables (9.4 KiB)" in out
    flops = int(re.search(r"FLOPs +([\d,]+) per call with \?1, \?2 = 32", out).group(1)
                .replace(",", ""))
    # forward 32x64x32 + 32x32x10, backward the weight and hidden gradients, 2 FLOPs each
    matmul_flops = 2 * 32 * (64 * 32 + 32 * 10) + 2 * 32 * (32 * 10 + 32 * 10 + 64 * 32)
    assert matmul_flops < flops < 1.2 * matmul_flops
    assert re.search(r"memory +parameters 9\.4 KiB, .*inputs 8\.2 KiB, peak intermediates", out)


@needs_dot
def test_render_writes_svg_with_options(saved: Path, tmp_path: Path) -> None:
    result = graphc("render", saved, "-o", tmp_path / "full.svg")
    assert result.returncode == 0 and "wrote" in result.stdout
    assert "W1" in Picture(tmp_path / "full.svg").nodes
    out = tmp_path / "folded.svg"
    result = graphc("render", saved, "-o", out, "--collapse", "dense1,grad", "--highlight", "b2")
    assert result.returncode == 0, result.stderr
    pic = Picture(out)
    assert {"scope dense1", "scope grad", "b2"} <= set(pic.nodes) and "W1" not in pic.nodes
    assert pic.shape(pic.nodes["b2"]).get("stroke") == "#e63946"
    assert graphc("render", saved, "-o", out, "--collapse", "1").returncode == 0
    assert {t for t in Picture(out).nodes if t.startswith("scope ")} == {
        "scope dense1", "scope dense2", "scope loss", "scope grad"}


def test_render_default_output_and_dot_source(saved: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model.gcir"
    copy.write_text(saved.read_text())
    result = graphc("render", copy, "-o", tmp_path / "model.dot", "--grads-beside")
    assert result.returncode == 0
    assert "rank=same" in (tmp_path / "model.dot").read_text()
    if shutil.which("dot"):                           # the default: FILE with .svg
        assert graphc("render", copy).returncode == 0
        assert ET.parse(tmp_path / "model.svg").getroot().tag.endswith("svg")


def test_run_prints_and_saves_outputs(saved: Path, feeds: dict, tmp_path: Path) -> None:
    args = ["--input", f"x={feeds['x']}", "--input", f"%y={feeds['y']}"]
    graph = gc.load(saved)
    expected = gc.compile(graph)(np.load(feeds["x"]), np.load(feeds["y"]))[0]
    loss = value_names(graph)[id(graph.outputs[0])]
    result = graphc("run", saved, *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"%{loss}: float32 ()"
    assert float(result.stdout.splitlines()[1]) == pytest.approx(float(expected), rel=1e-6)
    assert "4 variable updates computed, not saved" in result.stderr
    out = tmp_path / "outputs.npz"
    assert graphc("run", saved, *args, "-o", out).returncode == 0
    with np.load(out) as archive:
        assert archive.files == [loss] and archive[loss].shape == ()
        assert archive[loss] == expected


def test_run_reports_bad_inputs_without_traceback(saved: Path, feeds: dict,
                                                  tmp_path: Path) -> None:
    x, y = f"x={feeds['x']}", f"y={feeds['y']}"
    assert_user_error(graphc("run", saved, "--input", x), "missing --input for y")
    assert_user_error(graphc("run", saved, "--input", x, "--input", "q=a.npy"),
                      "the graph has no input 'q'; its inputs are x: f32[?1,64], y: i64[?2]")
    wide = tmp_path / "wide.npy"
    np.save(wide, np.zeros((6, 63), np.float32))
    assert_user_error(graphc("run", saved, "--input", f"x={wide}", "--input", y),
                      "input 'x' expects f32[?1,64], got shape (6, 63)")
    pickled = tmp_path / "pickled.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert_user_error(graphc("run", saved, "--input", f"x={pickled}", "--input", y),
                      "allow_pickle=False")
    assert_user_error(graphc("run", saved, "--input", x, "--input", y, "--backend", "nope"),
                      "unknown backend 'nope'")


def test_file_errors_exit_1_with_the_place(tmp_path: Path) -> None:
    bad = BAD_IR / "unknown_op.gcir"
    assert_user_error(graphc("show", bad), f"{bad}:4:8: unknown op 'matmull'")
    assert_user_error(graphc("info", tmp_path / "missing.gcir"), "No such file or directory")
    assert_user_error(graphc("render", tmp_path / "model.onnx"), "model.onnx: No such file")
    binary = tmp_path / "model.gcir"
    binary.write_bytes(b"\xff\xfe\x00")
    assert_user_error(graphc("show", binary), "not a text-IR file")


def report_rows(stdout: str) -> dict[str, str]:
    """The rows of the table `graphc optimize` prints, by pass (and "total")."""
    lines = stdout.splitlines()
    assert lines[0].split() == ["pass", "nodes", "kernels", "ms", "rules", "fired"]
    rows = {}
    for line in lines[1:]:
        if not line or line.startswith(("(", "verified", "dumped", "wrote")):
            continue
        rows[line.split("  ")[0]] = line
    return rows


def test_optimize_prints_the_report_and_saves_the_result(saved: Path, feeds: dict,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "mlp.opt.gcir"
    result = graphc("optimize", saved, "-o", out)
    assert result.returncode == 0, result.stderr
    graph = gc.load(saved)
    expected, report = gc.optimize(graph)
    rows = report_rows(result.stdout)
    assert list(rows) == [*DEFAULT, "total"]
    for p in report.passes[:len(DEFAULT)]:
        assert f"{p.nodes[0]} -> {p.nodes[1]}" in rows[p.name], rows[p.name]
    assert f"{len(graph.nodes)} -> {len(expected.nodes)}" in rows["total"]
    assert result.stdout.rstrip().endswith(f"wrote {out}")
    optimized = gc.load(out)
    assert str(optimized) == str(expected) and len(optimized.nodes) < len(graph.nodes)
    arrays = [np.load(feeds["x"]), np.load(feeds["y"])]
    for variable in [v for v, _ in optimized.updates]:
        original = next(v for v, _ in graph.updates if v.name == variable.name)
        np.testing.assert_array_equal(variable.value, original.value)
    got = gc.compile(optimized, backend="numpy")(*arrays)
    want = gc.compile(graph, backend="numpy", optimize=False)(*arrays)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-7)


def test_optimize_runs_the_passes_named(saved: Path) -> None:
    result = graphc("optimize", saved, "--passes", "simplify,fold", "--all")
    assert result.returncode == 0, result.stderr
    assert list(report_rows(result.stdout)) == ["simplify", "fold", "total"]
    assert "wrote" not in result.stdout
    assert_user_error(graphc("optimize", saved, "--passes", "fold,fusoin"),
                      "unknown pass 'fusoin'; passes: ")
    result = graphc("optimize")
    assert result.returncode == 2 and "optimize needs a FILE (or --list)" in result.stderr


def test_optimize_all_lists_every_round(saved: Path) -> None:
    _, report = gc.optimize(gc.load(saved))
    assert len(report.passes) > len(DEFAULT), "the test needs a second round"
    short = report_rows(graphc("optimize", saved).stdout)
    full = report_rows(graphc("optimize", saved, "--all").stdout)
    assert list(full) == [p.label for p in report.passes] + ["total"]
    assert len(short) < len(full)


def test_optimize_dump_and_verify(saved: Path, feeds: dict, tmp_path: Path) -> None:
    dump = tmp_path / "passes"
    result = graphc("optimize", saved, "--dump", dump, "--verify")
    assert result.returncode == 0, result.stderr
    assert "verified: every pass kept the results on random inputs" in result.stdout
    assert f"dumped the graph after each pass to {dump}" in result.stdout
    optimized, report = gc.optimize(gc.load(saved))
    names = sorted(p.name for p in dump.iterdir())
    assert names == expected_dump_files(report, drawings=shutil.which("dot") is not None)
    last = sorted(dump.glob("*.gcir"))[-1]
    assert gc.parse(last.read_text()).nodes and last.read_text() == str(optimized) + "\n"
    result = graphc("optimize", saved, "--verify", "--input", f"x={feeds['x']}",
                    "--input", f"y={feeds['y']}")
    assert result.returncode == 0, result.stderr
    assert "verified: every pass kept the results on the given inputs" in result.stdout
    assert_user_error(graphc("optimize", saved, "--input", f"x={feeds['x']}"),
                      "missing --input for y")


def test_optimize_verify_names_a_wrong_rule(saved: Path, monkeypatch, capsys) -> None:
    """In process, with a deliberately wrong pass registered: exit 1, the pass and rule named."""
    wrong = (P("relu", P.var("x")), gc.abs, "relu is abs")
    monkeypatch.setitem(PASSES, "wrong", rule_pass("wrong", RuleSet([wrong]), "Wrong."))
    assert cli.main(["optimize", str(saved), "--passes", "fold,wrong", "--verify"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("graphc: error: pass wrong changed output 0 (")
    assert "\n  rule 'relu is abs' replaced relu f32[?1,32] at " in err
    assert cli.main(["optimize", str(saved), "--passes", "fold,wrong"]) == 0   # unverified


def test_optimize_list_names_every_pass() -> None:
    result = graphc("optimize", "--list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    listed = {line.split()[0]: line.split(None, 1)[1] for line in lines if line[:1].isalpha()
              and not line.startswith("the default")}
    assert listed == {name: p.doc for name, p in PASSES.items()}
    assert [line.split()[0] for line in lines[:len(DEFAULT)]] == list(DEFAULT)  # in order
    assert f"the default pipeline: {', '.join(DEFAULT)}" in result.stdout


def test_graphc_dump_with_the_run_command(saved: Path, feeds: dict, tmp_path: Path) -> None:
    """GRAPHC_DUMP reaches gc.compile inside any program: here `graphc run`."""
    args = ["--input", f"x={feeds['x']}", "--input", f"y={feeds['y']}"]
    result = graphc("run", saved, *args, env={"GRAPHC_DUMP": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph-01"]
    dumped = sorted((tmp_path / "graph-01").glob("*.gcir"))
    assert dumped[0].name == "00-input.gcir" and len(dumped) > len(DEFAULT)
    assert dumped[0].read_text() == saved.read_text()


def test_console_script_is_installed() -> None:
    script = ROOT / ".venv" / "bin" / "graphc"
    if not script.exists():
        pytest.skip("the graphc console script is installed by `make venv` (pip install -e .)")
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "usage: graphc" in result.stdout


def test_onnx_models_are_read_wherever_gcir_files_are(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx", reason="reading .onnx files needs the onnx package")
    from tests.onnx_models import mlp
    path = tmp_path / "mlp.onnx"
    onnx.save_model(mlp(batch="batch"), path)
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    result = graphc("run", path, "--input", f"x={tmp_path / 'x.npy'}", "-o", tmp_path / "y.npy")
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"),
                               gc.compile(gc.onnx.load(path))(x)[0])
    info = graphc("info", path, "--batch", "5")
    assert info.returncode == 0 and "matmul" in info.stdout, info.stderr
    assert graphc("render", path, "-o", tmp_path / "mlp.dot").returncode == 0
    assert "matmul" in (tmp_path / "mlp.dot").read_text()
    assert "graph(%x: f32[batch,4])" in graphc("show", path).stdout
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07garbage")
    assert_user_error(graphc("info", tmp_path / "bad.onnx"), "bad.onnx")
