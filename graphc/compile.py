"""compile(): graph -> optimized graph -> a backend's callable."""
from __future__ import annotations

import importlib
import inspect
import os
from typing import Iterable, Sequence

from graphc.errors import CompileError
from graphc.graph import Graph, Update
from graphc.tensor import Tensor

# Backends are found by name and imported on first use, so the core never imports them.
BACKENDS = {"numpy": "backends.numpy", "llvm": "backends.llvm"}
# Passes a backend runs after the default pipeline: code generators fuse.
BACKEND_PASSES = {"llvm": ["fusion"]}


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
    lowered = graph
    if optimize is not False:
        from graphc.passes import optimize as run_pipeline
        passes = None if optimize is True else list(optimize)
        graph, _ = run_pipeline(graph, passes, verify=verify)
        lowered = graph
        if optimize is True and BACKEND_PASSES.get(backend):
            lowered, _ = run_pipeline(graph, BACKEND_PASSES[backend], verify=verify)
    module = importlib.import_module(BACKENDS[backend])
    if not check_finite:
        return module.compile_graph(lowered, single_output=single)
    if "check_finite" in inspect.signature(module.compile_graph).parameters:
        return module.compile_graph(lowered, single_output=single, check_finite=True)
    # NOTE: a backend without per-node checks has its results checked, and the interpreter
    # names the node, on the graph before the backend's own passes (fusion), as users wrote it.
    guard = importlib.import_module("backends.numpy.finite").ResultGuard
    return guard(module.compile_graph(lowered, single_output=single), graph, single)
