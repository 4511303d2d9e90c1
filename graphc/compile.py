"""compile(): graph -> optimized graph -> a backend's callable."""
from __future__ import annotations

import contextlib
import gc as python_gc
import importlib
import inspect
import os
import threading
from typing import Iterable, Iterator, Sequence

from graphc.errors import CompileError
from graphc.graph import Graph, Update
from graphc.tensor import Tensor

# Backends are found by name and imported on first use, so the core never imports them.
BACKENDS = {"numpy": "backends.numpy", "llvm": "backends.llvm"}
# Passes a backend runs after the default pipeline: code generators fuse (elementwise ops read
# by slices computed by slice first, so that each piece fuses into its readers).
BACKEND_PASSES = {"llvm": ["splits", "fusion", "row_groups"]}


def compile(inputs: Graph | Sequence[Tensor] = (), outputs: Sequence[Tensor] | Tensor = (),
            updates: Iterable[Update] | None = (), backend: str | None = None,
            optimize: bool | Sequence[str] = True, verify=None,
            check_finite: bool | None = None):
    """A callable taking one numpy array per input and returning the outputs' values.

    Inputs are given in order, or by their placeholders' names as keywords: f(x=..., y=...).
    It returns one array when `outputs` is a single Tensor, else a list. After computing all
    outputs and new values, it assigns the `updates` (variable, new value) to the variables;
    updates=None means none.
    `optimize` is True (the default pipeline), False, or a list of pass names; `verify`
    (True or feeds) checks every pass against the interpreter (see gc.optimize). `backend`
    is "numpy" (the interpreter) or "llvm" (native code); None means the GRAPHC_BACKEND
    environment variable, else "numpy". check_finite=True (default: on when the environment
    sets GRAPHC_CHECK_FINITE=1) checks every node's result and raises NonFiniteError at the
    first NaN or infinity; off, it costs nothing.
    """
    with _collection_paused():
        return _compile(inputs, outputs, updates, backend, optimize, verify, check_finite)


def _compile(inputs, outputs, updates, backend, optimize, verify, check_finite):
    backend = backend or os.environ.get("GRAPHC_BACKEND") or "numpy"
    if check_finite is None:
        check_finite = os.environ.get("GRAPHC_CHECK_FINITE", "") not in ("", "0")
    if isinstance(inputs, Graph):
        graph, single = inputs, False
    else:
        graph = Graph(inputs, outputs, () if updates is None else updates)
        single = isinstance(outputs, Tensor)
    if backend not in BACKENDS:
        raise CompileError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
    module = importlib.import_module(BACKENDS[backend])
    backend_passes = BACKEND_PASSES.get(backend, []) if optimize is True else []

    def lower() -> tuple[Graph, Graph]:
        """The optimized graph, and that graph after the backend's own passes."""
        if optimize is False:
            return graph, graph
        from graphc.passes import optimize as run_pipeline
        optimized, _ = run_pipeline(graph, None if optimize is True else list(optimize),
                                    verify=verify)
        if not backend_passes:
            return optimized, optimized
        return optimized, run_pipeline(optimized, backend_passes, verify=verify)[0]

    # NOTE: a backend that caches by the graph as built (native code) is handed the pipeline
    # to run only when its cache does not know the graph; verify mode and check_finite (whose
    # guard re-runs the optimized graph) always optimize.
    recognize = getattr(module, "compile_source", None)
    if recognize is not None and verify is None and not check_finite:
        recipe = f"optimize={optimize if isinstance(optimize, bool) else list(optimize)} " \
                 f"backend={backend_passes}"
        return recognize(graph, recipe, lambda: lower()[1], single_output=single)
    optimized, lowered = lower()
    if not check_finite:
        return module.compile_graph(lowered, single_output=single)
    if "check_finite" in inspect.signature(module.compile_graph).parameters:
        return module.compile_graph(lowered, single_output=single, check_finite=True)
    # NOTE: a backend without per-node checks has its results checked, and the interpreter
    # names the node, on the graph before the backend's own passes (fusion), as users wrote it.
    guard = importlib.import_module("backends.numpy.finite").ResultGuard
    return guard(module.compile_graph(lowered, single_output=single), optimized, single)


_pause_lock = threading.Lock()
_compiling = 0
_collecting_before = False


@contextlib.contextmanager
def _collection_paused() -> Iterator[None]:
    """Python's cyclic garbage collector held off while any thread compiles.

    NOTE: a compile allocates enough objects (graphs, plans, LLVM IR) to set off full
    collections, and each walks every object in the process: where torch and jax are
    imported, 50-140 ms apiece, which made W2's cold compile 430-540 ms instead of 360-390.
    Garbage made meanwhile is collected after the last compile ends, as it would have been.
    """
    global _compiling, _collecting_before
    with _pause_lock:
        if _compiling == 0:
            _collecting_before = python_gc.isenabled()
            python_gc.disable()
        _compiling += 1
    try:
        yield
    finally:
        with _pause_lock:
            _compiling -= 1
            if _compiling == 0 and _collecting_before:
                python_gc.enable()
