"""The native backend: the whole optimized graph lowered through llvmlite into one function."""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from llvmlite import ir

from backends.llvm import cache, native_call
from backends.llvm.function import NativeFunction
from backends.llvm.interface import Interface
from backends.llvm.lower import Plan, emit, updates_as_outputs
from graphc.graph import Graph
from graphc.printing import Printer


def structural_key(graph: Graph) -> str:
    """What the generated code depends on: the text IR and the constants' bytes."""
    return _printed_key(graph)[0]


def _printed_key(graph: Graph) -> tuple[str, dict[str, str]]:
    """structural_key(graph), and how the text names the graph's symbolic dims."""
    printer = Printer(graph)
    digest = hashlib.sha256(printer.text().encode())
    variables = {printer.names[id(v)] for v in graph.variables}   # NOTE: read when called
    for name, array in sorted(printer.arrays.items()):
        if name not in variables:
            digest.update(name.encode() + array.dtype.str.encode() + str(array.shape).encode()
                          + array.tobytes())
    return digest.hexdigest(), printer.dims.names


def compile_graph(graph: Graph, single_output: bool = False) -> NativeFunction:
    """Native code for an optimized (lowered) graph."""
    return _compiled(graph, single_output)[0]


def compile_source(graph: Graph, recipe: str, lower: Callable[[], Graph],
                   single_output: bool = False) -> NativeFunction:
    """Native code for `lower()`, the graph as the user built it optimized by the passes
    `recipe` names: a graph this process or the disk cache has seen with the same recipe is
    neither optimized nor planned again (cache.load_graph), its interface read from the record.
    """
    if os.environ.get("GRAPHC_DUMP"):
        return compile_graph(lower(), single_output)    # NOTE: dumps every pass's graph too
    native = native_call.available()
    text_key, names = _printed_key(graph)
    key = f"graph {text_key}\nrecipe={recipe}" + ("+" + native_call.NAME if native else "")
    lowered_once: list = []

    def lowered() -> tuple[Graph, Plan]:
        if not lowered_once:
            lowered_graph = lower()
            lowered_once.append((lowered_graph, Plan(updates_as_outputs(lowered_graph))))
        return lowered_once[0]

    def build() -> ir.Module:
        return _module(lowered()[1], native, len(lowered()[0].updates))

    hit = cache.load_graph(key, lambda data: Interface.decode(data, graph, names), build)
    if hit is not None:
        interface, loaded = hit
        function = NativeFunction(interface, loaded, _context(interface), single_output,
                                  lowered, graph)
    else:
        function, interface = _compiled(lower(), single_output, graph)
        data = interface.encode(graph, names)
        if data is not None:
            # NOTE: decoded as a hit would decode it, so a record that does not serve its
            # graph fails here, at once, rather than in another process.
            Interface.decode(data, graph, names)
            cache.remember_graph(key, data, function.loaded)
    return function


def _compiled(graph: Graph, single_output: bool,
              source: Graph | None = None) -> tuple[NativeFunction, Interface]:
    """Native code for a lowered graph; `source`, the graph as built, if not that one."""
    plan = Plan(updates_as_outputs(graph))
    # NOTE: the module also holds the native call path when this process can run it (it
    # can wherever the C API and NumPy's array layout are found; else Python calls entry).
    native = native_call.available()
    key = structural_key(graph) + ("+" + native_call.NAME if native else "")
    loaded = cache.load_or_build(key, lambda: _module(plan, native, len(graph.updates)),
                                 ["entry", native_call.NAME] if native else ["entry"])
    interface = Interface.from_plan(plan, tuple(var.attrs["var"] for var, _ in graph.updates))
    function = NativeFunction(interface, loaded, _context(interface), single_output,
                              lambda: (graph, plan), graph if source is None else source)
    _maybe_dump(function)
    return function, interface


def _module(plan: Plan, native: bool, updates: int) -> ir.Module:
    """The plan's module: its entry, and the native call path when this process can run it."""
    module = emit(plan)
    if native:
        native_call.emit(module, plan, updates)
    return module


def _context(interface: Interface) -> int:
    if not interface.blas:
        return 0
    from backends.llvm.blas import context_address
    return context_address()


def _maybe_dump(function: NativeFunction) -> None:
    dump = os.environ.get("GRAPHC_DUMP")
    if dump:
        _dump(Path(dump), function.loaded.digest, function)


def _dump(directory: Path, key: str, function: NativeFunction) -> None:
    """GRAPHC_DUMP also gets the generated code: IR as generated and optimized, assembly."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / f"native-{key[:12]}"
    stem.with_suffix(".ll").write_text(function.llvm_ir(optimized=False), encoding="utf-8")
    stem.with_suffix(".opt.ll").write_text(function.llvm_ir(), encoding="utf-8")
    stem.with_suffix(".s").write_text(function.asm(), encoding="utf-8")
