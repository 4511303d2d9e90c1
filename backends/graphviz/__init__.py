"""The Graphviz renderer: any graph (or the Tensors it computes) as a picture.

    gc.to_dot(graph)                      # a graphviz.Digraph
    gc.render(graph, "mlp.svg")           # .svg, .png or .pdf (needs Graphviz's `dot`), or .dot
    gc.render(graph, "mlp.svg", collapse=1, grads_beside=True, highlight=[loss])
    gc.render_diff(before, after, "diff.svg")

Ops are coloured by kind; inputs, variables and constants have shapes of their own (scalar
constants are drawn small, with their value, beside each use); edges carry the value's type;
name scopes are clusters, and `collapse` (scope names such as "block1" or "grad/dense1", or a
depth: 1 draws every top-level scope as one box) folds them; gradient nodes are dashed and
marked with a nabla, and `grads_beside` lays each beside the forward node it came from; a node
that holds a subgraph (a scan body, a fused group) is a cluster unless `expand_groups=False`.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import graphviz

from backends.graphviz import diff
from backends.graphviz.draw import Canvas, Drawer, as_graph, make_options, new_digraph
from graphc.errors import GraphcError

__all__ = ["to_dot", "render", "diff_to_dot", "render_diff", "repr_svg", "repr_mimebundle"]

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": None, ".gv": None}
INSTALL = ("Graphviz's `dot` program is not installed; install it with `apt-get install "
           "graphviz` (macOS: `brew install graphviz`), or render to .dot instead")
MAX_ERROR_TEXT = 200        # characters of dot's error line an error message shows


def to_dot(graph_or_tensors, *, collapse=None, highlight=(), grads_beside: bool = False,
           expand_groups: bool = True, rankdir: str = "TB",
           title: str | None = None) -> graphviz.Digraph:
    """The picture of a gc.Graph, a Tensor or a list of Tensors, as a graphviz.Digraph."""
    graph = as_graph(graph_or_tensors)
    options = make_options([graph], collapse, highlight, grads_beside, expand_groups)
    canvas = Canvas()
    Drawer(canvas, graph, options).draw()
    dot = new_digraph(title, rankdir)
    canvas.write(dot)
    return dot


def render(graph_or_tensors, path, **options) -> Path:
    """Draw a graph to `path`: .svg, .png, .pdf (through Graphviz's `dot`) or .dot source."""
    return write(to_dot(graph_or_tensors, **options), path)


def diff_to_dot(before, after, *, collapse=None, highlight=(), grads_beside: bool = False,
                expand_groups: bool = True, rankdir: str = "TB",
                titles: tuple[str, str] = ("before", "after")) -> graphviz.Digraph:
    """Two versions of a graph side by side; nodes only `before` has are marked removed, nodes
    only `after` has are marked added (matched by structure, not identity)."""
    graphs = [as_graph(before), as_graph(after)]
    options = make_options(graphs, collapse, highlight, grads_beside, expand_groups)
    return diff.diff_to_dot(*graphs, options, rankdir, titles)


def render_diff(before, after, path, **options) -> Path:
    """Draw diff_to_dot(before, after) to `path` (.svg, .png, .pdf or .dot)."""
    return write(diff_to_dot(before, after, **options), path)


def write(dot: graphviz.Digraph, path) -> Path:
    """Write a picture in the format its file suffix names."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise GraphcError(f"cannot render to {path.name}: use a .svg, .png, .pdf or .dot file")
    if FORMATS[suffix] is None:
        path.write_text(dot.source, encoding="utf-8")
    else:
        path.write_bytes(pipe(dot, FORMATS[suffix]))
    return path


def pipe(dot: graphviz.Digraph, fmt: str) -> bytes:
    """The picture in `fmt`, made by Graphviz's `dot`."""
    try:
        return dot.pipe(format=fmt, quiet=True)     # NOTE: dot's warnings are its internals
    except graphviz.ExecutableNotFound:
        raise GraphcError(f"rendering {fmt.upper()} needs {INSTALL}") from None
    except graphviz.CalledProcessError as exc:
        raise GraphcError(f"Graphviz's `dot` could not draw this graph as {fmt.upper()}: "
                          f"{dot_error(exc)}") from None


def dot_error(exc: graphviz.CalledProcessError) -> str:
    """dot's first error line, not the hundreds of lines of rank tables it may print after."""
    text = exc.stderr.decode(errors="replace") if exc.stderr else ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return f"exit status {exc.returncode}"
    first = next((line for line in lines if line.startswith("Error")), lines[0])
    if len(first) > MAX_ERROR_TEXT:
        first = first[:MAX_ERROR_TEXT - 1] + "\u2026"
    more = len(lines) - 1
    return first + (f" (and {more} more line{'s' * (more != 1)} of dot's output)" if more else "")


def repr_svg(graph) -> str | None:
    """The SVG Jupyter shows for a graph, or None without `dot` (Jupyter then shows text)."""
    if shutil.which("dot") is None:
        return None
    return pipe(to_dot(graph), "svg").decode("utf-8")


def repr_mimebundle(graph) -> dict[str, str]:
    """Jupyter's rich display: the SVG when `dot` is there, and the text IR always."""
    bundle = {"text/plain": str(graph)}
    svg = repr_svg(graph)
    if svg is not None:
        bundle["image/svg+xml"] = svg
    return bundle
