"""Reading the text IR back into a graph, and saving a graph with its parameters.

`gc.save(graph, "mlp.gcir")` writes two files: `mlp.gcir`, the text IR (what `str(graph)`
shows), and `mlp.gcir.npz` beside it, the variable values and non-scalar constants keyed by
value name. `gc.load("mlp.gcir")` reads both; `gc.parse(text)` reads text alone, in which case
variables and non-scalar constants start as zeros. Arrays are read with allow_pickle=False and
nothing in a file is executed: every node is rebuilt through make(), so the op's type rule
checks it again, and a malformed file raises gc.ParseError with its line and column.
Placeholders keep their names and types but not their source lines (the header has no room).
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np

from frontends.textir_parser import Parser
from frontends.textir_syntax import Source, tokenize
from graphc.errors import GraphError
from graphc.graph import Graph
from graphc.printing import graph_to_text, stored_arrays

__all__ = ["save", "load", "parse"]


def save(graph: Graph, path) -> Path:
    """Write the text IR to `path` and the variable values and stored constants to path.npz."""
    if not isinstance(graph, Graph):
        raise GraphError(f"gc.save takes a gc.Graph, got {type(graph).__name__}; "
                         "wrap tensors as gc.Graph(inputs, outputs)")
    path = Path(path)
    path.write_text(graph_to_text(graph) + "\n", encoding="utf-8")
    write_npz(arrays_path(path), stored_arrays(graph))
    return path


def write_npz(path, arrays: Mapping[str, np.ndarray]) -> None:
    """An .npz archive numpy.load reads, with any keys (np.savez reserves a few names)."""
    with zipfile.ZipFile(path, "w") as archive:
        for key, array in arrays.items():
            with archive.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(array, order="C"),
                                          allow_pickle=False)


def arrays_path(path) -> Path:
    """Where gc.save keeps the arrays of the graph saved at `path`."""
    path = Path(path)
    return path.with_name(path.name + ".npz")


def load(path) -> Graph:
    """Read a graph written by gc.save (the text IR and the .npz beside it)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise GraphError(f"{path} is not a text-IR file (not UTF-8 text: {exc.reason})") from None
    npz = arrays_path(path)
    arrays = _read_arrays(npz) if npz.exists() else {}
    return parse(text, arrays, source=str(path), arrays_source=str(npz))


def _read_arrays(npz: Path) -> dict[str, np.ndarray]:
    try:
        archive = np.load(npz, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not an .npz archive")
        with archive:
            return {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise GraphError(f"cannot read the arrays in {npz}: {exc}") from None


def parse(text: str, arrays: Mapping[str, np.ndarray] | None = None, *, source: str = "<text>",
          arrays_source: str = "the arrays") -> Graph:
    """The graph a text IR describes; `arrays` holds the values the text refers to by name.

    Without `arrays`, variables and non-scalar constants are zeros of their types.
    """
    src = Source(text, source)
    parser = Parser(src, tokenize(src), arrays, arrays_source)
    graph = parser.graph(prefix="")
    parser.end()
    return graph
