"""The Graphviz renderer: the SVG it writes holds the nodes, clusters and labels it should."""
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
from backends.graphviz import style
from graphc.printing import value_names
from graphc.registry import Kind
from tests.ir_models import grouped, load_example, lstm_training_graph, mlp_graphs, rnn_graph

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's `dot` is not installed (`make system-deps` "
                                      "installs it with apt-get)")


def failing_dot(directory: Path, monkeypatch) -> None:
    """A `dot` first on the PATH that fails as dot 2.43 did on scans: its error line, then 300
    lines of rank tables."""
    directory.mkdir(parents=True, exist_ok=True)
    dot = directory / "dot"
    dot.write_text("#!/bin/sh\ncat > /dev/null\necho 'Error: trouble in init_rank' >&2\n"
                   "i=0; while [ $i -lt 300 ]; do printf '\\t%%0 1\\n' >&2; i=$((i+1)); done\n"
                   "exit 1\n")
    dot.chmod(0o755)
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ.get('PATH', '')}")


needs_sh = pytest.mark.skipif(os.name != "posix", reason="the stand-in `dot` is a shell script")


class Picture:
    """The nodes, clusters and edges of an SVG written by Graphviz, by their <title>."""

    def __init__(self, path: Path):
        root = ET.parse(path).getroot()
        self.nodes, self.clusters, self.edges = {}, {}, {}
        for group in root.iter(f"{SVG}g"):
            kind = group.get("class")
            if kind in ("node", "cluster", "edge"):
                title = group.find(f"{SVG}title").text
                getattr(self, kind + "s" if kind != "cluster" else "clusters")[title] = group

    @staticmethod
    def texts(group) -> list[str]:
        return [t.text for t in group.iter(f"{SVG}text")]

    @staticmethod
    def shape(group):
        """The outline of a node or cluster (its first polygon or path)."""
        return next(e for e in group.iter() if e.tag in (f"{SVG}polygon", f"{SVG}path",
                                                          f"{SVG}ellipse"))

    @staticmethod
    def tooltip(group) -> str:
        return next(a.get(f"{XLINK}title") for a in group.iter(f"{SVG}a"))

    def label(self, title: str) -> list[str]:
        return self.texts(self.nodes[title])

    def bbox(self, group) -> tuple[float, float, float, float]:
        outline = self.shape(group)
        numbers = [float(v) for v in re.findall(r"-?\d+\.?\d*",
                                                outline.get("points") or outline.get("d"))]
        xs, ys = numbers[0::2], numbers[1::2]
        return min(xs), min(ys), max(xs), max(ys)

    def inside(self, node: str, cluster: str) -> bool:
        x0, y0, x1, y1 = self.bbox(self.nodes[node])
        c0, d0, c1, d1 = self.bbox(self.clusters[cluster])
        return c0 <= x0 and x1 <= c1 and d0 <= y0 and y1 <= d1


def draw(tmp_path: Path, graph, **options) -> Picture:
    return Picture(gc.render(graph, tmp_path / "g.svg", **options))


@pytest.fixture(scope="module")
def mlp() -> dict[str, gc.Graph]:
    return mlp_graphs()


@needs_dot
def test_forward_graph_nodes_clusters_and_edge_labels(tmp_path: Path, mlp) -> None:
    pic = draw(tmp_path, mlp["forward"])
    assert pic.label("x") == ["x", "f32[?1,64]"] and pic.label("W1") == ["W1", "f32[64,32]"]
    assert {"cluster_dense1", "cluster_dense2"} <= set(pic.clusters)
    assert pic.texts(pic.clusters["cluster_dense1"]) == ["dense1"]
    assert pic.inside("W1", "cluster_dense1") and pic.inside("W2", "cluster_dense2")
    assert not pic.inside("x", "cluster_dense1")
    matmul = next(t for t, g in pic.nodes.items() if pic.texts(g) == ["matmul"]
                  and pic.inside(t, "cluster_dense1"))
    assert pic.texts(pic.edges[f"x->{matmul}"]) == ["f32[?1,64]"]
    assert pic.tooltip(pic.nodes[matmul]).startswith(f"%{matmul} = matmul(%x, %W1) : f32[?1,32]")
    assert pic.label("output 0") == ["output 0", "%9"]
    assert len([t for t in pic.nodes if " " not in t]) == len(mlp["forward"].nodes)


@needs_dot
def test_ops_are_coloured_by_kind_and_leaves_drawn_apart(tmp_path: Path, mlp) -> None:
    pic = draw(tmp_path, mlp["training"])
    fills = {}
    for title, group in pic.nodes.items():
        fills.setdefault(pic.texts(group)[0].removeprefix(style.GRAD_MARK),
                         pic.shape(group).get("fill"))
    assert fills["matmul"] == style.KIND_FILL[Kind.CONTRACTION]
    assert fills["exp"] == style.KIND_FILL[Kind.ELEMENTWISE]
    assert fills["sum"] == style.KIND_FILL[Kind.REDUCTION]
    assert fills["broadcast_to"] == style.KIND_FILL[Kind.LAYOUT]
    assert fills["take_along_axis"] == style.KIND_FILL[Kind.INDEXING]
    assert pic.shape(pic.nodes["x"]).get("fill") == style.PLACEHOLDER["fillcolor"]
    assert pic.shape(pic.nodes["W1"]).get("fill") == style.VARIABLE["fillcolor"]
    constants = [g for t, g in pic.nodes.items() if "/const " in t]
    assert {pic.texts(g)[0] for g in constants} >= {"0.1", "1.0", "0.0"}
    assert all(g.find(f".//{SVG}text").get("font-size") == "8.00" for g in constants)


@needs_dot
def test_gradient_nodes_are_marked_and_can_sit_beside_the_forward_pass(tmp_path: Path,
                                                                       mlp) -> None:
    graph = mlp["training"]
    pic = draw(tmp_path, graph)
    assert {"cluster_grad", "cluster_grad/dense1", "cluster_grad/dense2"} <= set(pic.clusters)
    grads = [n for n in graph.nodes if n.grad_of is not None and n.op != "constant"]
    ids = value_names(graph)      # the drawn nodes are named as in the text IR
    for node in grads:
        group = pic.nodes[ids[id(node)]]
        assert pic.texts(group)[0].startswith(style.GRAD_MARK)
        outline = pic.shape(group)
        assert outline.get("stroke") == style.GRAD_COLOR and outline.get("stroke-dasharray")
    plain = gc.to_dot(graph, grads_beside=True).pipe(format="plain").decode()
    y = {line.split()[1].strip('"'): float(line.split()[3]) for line in plain.splitlines()
         if line.startswith("node ")}
    pairs = [(ids[id(n.grad_of)], ids[id(n)]) for n in grads if id(n.grad_of) in ids
             and n.grad_of.op != "constant"]
    assert len(pairs) > 10
    assert all(y[forward] == y[backward] for forward, backward in pairs)


@needs_dot
def test_scopes_collapse_by_name_and_by_depth(tmp_path: Path, mlp) -> None:
    graph = mlp["training"]
    pic = draw(tmp_path, graph, collapse=["dense1", "grad/dense2"])
    assert "W1" not in pic.nodes and "cluster_dense1" not in pic.clusters
    assert pic.label("scope dense1") == ["dense1", "5 nodes"]
    assert pic.shape(pic.nodes["scope dense1"]).get("fill") == style.BOX["fillcolor"]
    assert "scope grad/dense2" in pic.nodes and "cluster_grad" in pic.clusters
    assert pic.inside("scope grad/dense2", "cluster_grad")
    assert "x->scope dense1" in pic.edges
    top = draw(tmp_path, graph, collapse=1)
    boxes = {t for t in top.nodes if t.startswith("scope ")}
    assert boxes == {"scope dense1", "scope dense2", "scope loss", "scope grad"}
    assert not top.clusters
    assert len(top.nodes) < len(pic.nodes) < len(draw(tmp_path, graph).nodes)
    inner = draw(tmp_path, graph, collapse=2)
    assert set(inner.clusters) == {"cluster_dense1", "cluster_dense2", "cluster_loss",
                                   "cluster_grad"}
    assert {"scope grad/loss", "scope grad/dense1"} <= set(inner.nodes) and "W1" in inner.nodes
    with pytest.raises(gc.GraphError, match="no scope 'dense3'.*dense1"):
        gc.to_dot(graph, collapse=["dense3"])
    with pytest.raises(gc.GraphError, match="depth"):
        gc.to_dot(graph, collapse=0)


@needs_dot
def test_highlight_marks_chosen_nodes(tmp_path: Path, mlp) -> None:
    graph = mlp["forward"]
    relu = next(n for n in graph.nodes if n.op == "relu")
    pic = draw(tmp_path, graph, highlight=[relu, "W2"])
    highlighted = {t for t, g in pic.nodes.items()
                   if pic.shape(g).get("stroke") == style.HIGHLIGHT["color"]}
    assert highlighted == {"5", "W2"}
    boxed = draw(tmp_path, graph, collapse=["dense1"], highlight=[relu])
    assert boxed.shape(boxed.nodes["scope dense1"]).get("stroke") == style.HIGHLIGHT["color"]
    with pytest.raises(gc.GraphError, match="no value named 'nope'"):
        gc.to_dot(graph, highlight=["nope"])
    with pytest.raises(gc.GraphError, match="not a node of this graph"):
        gc.to_dot(graph, highlight=[gc.placeholder((1,))])


@needs_dot
def test_nodes_holding_subgraphs_expand_or_collapse(tmp_path: Path) -> None:
    x = gc.placeholder((None, 4), name="x")
    b = gc.variable(np.ones(4, np.float32), name="b")
    y = grouped([x, b], lambda u, v: gc.relu(u + v) * 2.0)
    graph = gc.Graph([x], [gc.sum(y)])
    pic = draw(tmp_path, graph)
    assert pic.texts(pic.clusters["cluster_2"]) == ["test_group"]
    assert {"2/in0", "2/in1", "2"} <= set(pic.nodes)
    assert all(pic.inside(n, "cluster_2") for n in ("2/in0", "2/in1", "2"))
    assert {"relu", "add", "multiply"} <= {pic.texts(pic.nodes[t])[0] for t in pic.nodes
                                            if t.startswith("2/")}
    assert {"x->2/in0", "b->2/in1"} <= set(pic.edges)
    folded = draw(tmp_path, graph, expand_groups=False)
    assert not folded.clusters and folded.label("2") == ["test_group", "6 nodes"]


@needs_dot
def test_a_scan_body_is_a_cluster(tmp_path: Path) -> None:
    pic = draw(tmp_path, rnn_graph())
    scans = [t for t, g in pic.clusters.items() if pic.texts(g) == ["scan"]]
    assert len(scans) >= 2          # the loop and the loop of its gradient
    assert any(pic.texts(pic.nodes[t])[0] == "tanh" and pic.inside(t, scans[0])
               for t in pic.nodes if t.startswith(scans[0][len("cluster_"):] + "/"))


@needs_dot
@pytest.mark.parametrize("graph, options", [("lstm", {}), ("lstm", {"grads_beside": True}),
                                            ("lstm", {"rankdir": "LR"}),
                                            ("rnn", {"grads_beside": True})])
def test_scans_and_their_gradients_lay_out(tmp_path: Path, graph: str, options: dict) -> None:
    """dot failed ("trouble in init_rank") on labelled edges leaving the scans' clusters."""
    pic = draw(tmp_path, lstm_training_graph() if graph == "lstm" else rnn_graph(), **options)
    scans = [t[len("cluster_"):] for t, g in pic.clusters.items() if pic.texts(g) == ["scan"]]
    assert len(scans) >= 2                      # the loop and the loop of its gradient
    for scan in scans:                          # each body is drawn inside its cluster
        body = [t for t in pic.nodes if t.startswith(f"{scan}/")]
        assert len(body) > 5 and all(pic.inside(t, f"cluster_{scan}") for t in body)
        # the values it returns reach the scan node, their types written beside the edges
        returned = [pic.texts(e) for t, e in pic.edges.items() if t.startswith(f"{scan}/")
                    and t.endswith(f"->{scan}")]
        assert returned and all(re.fullmatch(r"(\d+: )?[fib]\d*\[.*\]", text[0])
                                for text in returned)
    if graph == "lstm":
        forward = next(s for s in scans if not pic.texts(pic.nodes[s])[0].startswith(
            style.GRAD_MARK))
        ops = {pic.texts(pic.nodes[t])[0] for t in pic.nodes if t.startswith(f"{forward}/")}
        assert {"sigmoid", "tanh", "matmul"} <= ops


@needs_sh
def test_a_dot_failure_is_one_short_line(tmp_path: Path, monkeypatch, mlp) -> None:
    failing_dot(tmp_path / "bin", monkeypatch)
    with pytest.raises(gc.GraphcError) as caught:
        gc.render(mlp["forward"], tmp_path / "g.svg")
    assert str(caught.value) == ("Graphviz's `dot` could not draw this graph as SVG: Error: "
                                 "trouble in init_rank (and 300 more lines of dot's output)")
    assert not (tmp_path / "g.svg").exists()


@needs_dot
def test_diff_marks_removed_and_added_nodes(tmp_path: Path) -> None:
    x = gc.placeholder((None, 3), name="x")
    w = gc.variable(np.ones((3, 2), np.float32), name="w")
    h = x @ w
    before = gc.Graph([x], [gc.relu(h) * 2.0])
    after = gc.Graph([x], [gc.sigmoid(h) * 2.0])
    pic = Picture(gc.render_diff(before, after, tmp_path / "d.svg"))
    assert pic.texts(pic.clusters["cluster_before"]) == ["before: 6 nodes, 1 removed"]
    assert pic.texts(pic.clusters["cluster_after"]) == ["after: 6 nodes, 1 added"]
    marked = {t: pic.texts(g)[0] for t, g in pic.nodes.items() if pic.texts(g)[0][0] in "\u2212+"}
    assert sorted(marked.values()) == ["+ sigmoid", "\u2212 relu"]   # the multiply is the same
    relu = next(t for t, text in marked.items() if text == "\u2212 relu")
    assert pic.shape(pic.nodes[relu]).get("fill") == style.DIFF["removed"]["fillcolor"]
    assert pic.label("before/w") == pic.label("after/w") == ["w", "f32[3,2]"]
    assert all(pic.inside(t, "cluster_before") for t in pic.nodes if t.startswith("before/"))


def test_diff_matches_by_structure_not_identity(tmp_path: Path, mlp) -> None:
    graph = mlp["training"]
    copy = gc.load(gc.save(graph, tmp_path / "t.gcir"))
    source = gc.diff_to_dot(graph, copy).source
    count = len(graph.nodes)
    assert f"{count} nodes, 0 removed" in source and f"{count} nodes, 0 added" in source


def test_tensors_render_without_a_graph(tmp_path: Path) -> None:
    x = gc.placeholder((2,), name="x")
    y = gc.exp(x)
    source = gc.to_dot([y, gc.sum(y)]).source
    assert '"output 1"' in source and "exp" in source
    assert '"output 0"' in gc.to_dot(y).source and '"output 1"' not in gc.to_dot(y).source
    with pytest.raises(gc.GraphError, match="draw a gc.Graph"):
        gc.to_dot([1, 2])


def test_labels_show_odd_names_literally(tmp_path: Path) -> None:
    x = gc.placeholder((2,), name='<b>"x"\\n</b>')
    source = gc.to_dot(gc.Graph([x], [gc.exp(x)])).source
    assert 'label="<b>\\"x\\"\\\\n</b>\\nf32[2]"' in source


@needs_dot
@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".pdf", b"%PDF")])
def test_png_and_pdf(tmp_path: Path, mlp, suffix: str, magic: bytes) -> None:
    path = gc.render(mlp["forward"], tmp_path / f"g{suffix}")
    assert path.read_bytes().startswith(magic)


def test_dot_source_needs_no_graphviz_and_other_formats_say_how_to_install(
        tmp_path: Path, mlp, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))          # no `dot` on the PATH
    path = gc.render(mlp["forward"], tmp_path / "g.dot")
    assert path.read_text().startswith("digraph {") and "\tW1 [label=" in path.read_text()
    with pytest.raises(gc.GraphcError, match="apt-get install graphviz"):
        gc.render(mlp["forward"], tmp_path / "g.svg")
    assert mlp["forward"]._repr_svg_() is None
    assert mlp["forward"]._repr_mimebundle_() == {"text/plain": str(mlp["forward"])}
    with pytest.raises(gc.GraphcError, match="use a .svg, .png, .pdf or .dot file"):
        gc.render(mlp["forward"], tmp_path / "g.jpeg")


@needs_dot
def test_jupyter_shows_svg(mlp) -> None:
    bundle = mlp["forward"]._repr_mimebundle_()
    assert bundle["text/plain"] == str(mlp["forward"])
    root = ET.fromstring(bundle["image/svg+xml"])
    assert root.tag == f"{SVG}svg"
    assert mlp["forward"]._repr_svg_() == bundle["image/svg+xml"]


def test_importing_graphc_loads_no_backend() -> None:
    code = ("import sys, graphc as gc; gc.Graph; "
            "print(sorted(m for m in sys.modules if m.startswith(('backends', 'frontends'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).parents[1], check=True).stdout
    assert out.strip() == "[]"


@needs_dot
def test_the_visualize_example_draws_its_four_pictures(tmp_path: Path) -> None:
    paths = load_example("visualize").main(tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.svg")) == [
        "mlp_diff.svg", "mlp_forward.svg", "mlp_optimized.svg", "mlp_training.svg"]
    training = Picture(paths["training"])
    assert "cluster_grad/dense1" in training.clusters and "W1" in training.nodes
    diff = Picture(paths["diff"])
    assert {"cluster_before", "cluster_after"} <= set(diff.clusters)
    assert "(grad of %" in paths["ir"].read_text() and len(gc.load(paths["ir"]).updates) == 4
