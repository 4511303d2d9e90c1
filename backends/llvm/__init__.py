"""The native backend: the whole optimized graph lowered through llvmlite into one function."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from backends.llvm import cache, native_call
from backends.llvm.function import NativeFunction
from backends.llvm.lower import Plan, emit, updates_as_outputs
from graphc.graph import Graph
from graphc.printing import stored_arrays


def structural_key(graph: Graph) -> str:
    """What the generated code depends on: the text IR and the constants' bytes."""
    digest = hashlib.sha256(str(graph).encode())
    for name, array in sorted(stored_arrays(graph).items()):
        if not any(v.name == name for v in graph.variables):
            digest.update(name.encode() + array.dtype.str.encode() + str(array.shape).encode()
                          + array.tobytes())
    return digest.hexdigest()


def compile_graph(graph: Graph, single_output: bool = False) -> NativeFunction:
    plan = Plan(updates_as_outputs(graph))
    # NOTE: the module also holds the native call path when this process can run it (it
    # can wherever the C API and NumPy's array layout are found; else Python calls entry).
    native = native_call.available()
    key = structural_key(graph) + ("+" + native_call.NAME if native else "")

    def build():
        module = emit(plan)
        if native:
            native_call.emit(module, plan, len(graph.updates))
        return module

    loaded = cache.load_or_build(key, build, ["entry", native_call.NAME] if native else ["entry"])
    context = 0
    if _calls_blas(plan):
        from backends.llvm.blas import context_address
        context = context_address()
    function = NativeFunction(graph, plan, loaded, context, single_output)
    dump = os.environ.get("GRAPHC_DUMP")
    if dump:
        _dump(Path(dump), key, function)
    return function


def _dump(directory: Path, key: str, function: NativeFunction) -> None:
    """GRAPHC_DUMP also gets the generated code: IR as generated and optimized, assembly."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / f"native-{key[:12]}"
    stem.with_suffix(".ll").write_text(function.llvm_ir(optimized=False), encoding="utf-8")
    stem.with_suffix(".opt.ll").write_text(function.llvm_ir(), encoding="utf-8")
    stem.with_suffix(".s").write_text(function.asm(), encoding="utf-8")


BLAS_OPS = ("matmul", "conv", "conv_input_grad", "conv_weight_grad")


def _calls_blas(plan: Plan) -> bool:
    """Whether a step (or a step of a scan's body) may call BLAS, which needs the context."""
    return any(s.node is not None and s.node.op in BLAS_OPS
               or isinstance(s.scratch.get("plan"), Plan) and _calls_blas(s.scratch["plan"])
               for s in plan.steps)
