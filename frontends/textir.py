"""Reading the text IR back into a graph, and saving a graph with its parameters.

`gc.save(graph, "mlp.gcir")` writes two files: `mlp.gcir`, the text IR (what `str(graph)`
shows), and `mlp.gcir.npz` beside it, the variable values and non-scalar constants keyed by
value name. `gc.load("mlp.gcir")` reads both; `gc.parse(text)` reads text alone, in which case
variables and non-scalar constants start as zeros. Nothing in a file is executed or
unpickled: every node is rebuilt through make(), so the op's type rule checks it again; only the
arrays the text refers to are read, each after its declared type is checked; and the arrays a
file declares may total `max_bytes` at most. A malformed file raises a gc.GraphcError: a
gc.ParseError with its line and column for the text, a gc.GraphError for the arrays.
Both files are written atomically (see frontends/files.py). Placeholders keep their names and
types but not their source lines (the header has no room).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from frontends.files import MAX_BYTES, ArchiveError, NpzReader, atomic_write, write_npz
from frontends.textir_parser import Parser
from frontends.textir_syntax import Source, tokenize
from graphc.errors import GraphError
from graphc.graph import Graph
from graphc.printing import graph_to_text, stored_arrays

__all__ = ["save", "load", "parse", "write_npz"]


def save(graph: Graph, path) -> Path:
    """Write the text IR to `path` and the variable values and stored constants to path.npz.

    Nothing is written unless both can be: a name no file can hold is refused first.
    """
    if not isinstance(graph, Graph):
        raise GraphError(f"gc.save takes a gc.Graph, got {type(graph).__name__}; "
                         "wrap tensors as gc.Graph(inputs, outputs)")
    path = Path(path)
    text = graph_to_text(graph) + "\n"
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start:exc.end]
        line = text.count("\n", 0, exc.start) + 1
        raise GraphError(f"cannot save: line {line} of the text IR holds {bad!r}, a lone "
                         "surrogate that is not Unicode text; rename what holds it") from None
    try:
        # NOTE: the arrays first: a crash between the two renames leaves new arrays beside
        # the old text, which loads or fails to load cleanly, never a text without its arrays.
        write_npz(arrays_path(path), stored_arrays(graph))
    except ArchiveError as exc:
        raise GraphError(f"cannot save {path}: {exc}") from None
    atomic_write(path, lambda file: file.write(data))
    return path


def arrays_path(path) -> Path:
    """Where gc.save keeps the arrays of the graph saved at `path`."""
    path = Path(path)
    return path.with_name(path.name + ".npz")


def load(path, *, max_bytes: int = MAX_BYTES) -> Graph:
    """Read a graph written by gc.save (the text IR and the .npz beside it).

    max_bytes caps the bytes of arrays the file may declare (1 GiB unless given).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise GraphError(f"{path} is not a text-IR file (not UTF-8 text: {exc.reason})") from None
    npz = arrays_path(path)
    if not npz.exists():
        return parse(text, {}, source=str(path), arrays_source=str(npz), max_bytes=max_bytes)
    try:
        with NpzReader(npz, max_bytes) as arrays:
            return parse(text, arrays, source=str(path), arrays_source=str(npz),
                         max_bytes=max_bytes)
    except ArchiveError as exc:
        raise GraphError(f"cannot read the arrays in {npz}: {exc}") from None


def parse(text: str, arrays: Mapping[str, np.ndarray] | NpzReader | None = None, *,
          source: str = "<text>", arrays_source: str = "the arrays",
          max_bytes: int = MAX_BYTES) -> Graph:
    """The graph a text IR describes; `arrays` holds the values the text refers to by name.

    Without `arrays`, variables and non-scalar constants are zeros of their types (the
    variables' zeros take no memory until written). max_bytes caps the bytes of the arrays the
    text declares.
    """
    src = Source(text, source)
    parser = Parser(src, tokenize(src), arrays, arrays_source, max_bytes)
    graph = parser.graph(prefix="")
    parser.end()
    return graph
