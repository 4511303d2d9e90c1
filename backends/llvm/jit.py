"""LLVM IR to object code for the host (new pass manager, O3, vectorizers), and object code into
memory (ORC), where entry points stay valid as long as their `Library` is referenced.

ORC rather than MCJIT: loading object code costs ~0.4 ms instead of ~1 ms, an unresolved symbol
raises instead of leaving a null call target, and a library is freed when its tracker is
collected. (MCJIT also takes ownership of the target machine it is given.)
"""
from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable
from dataclasses import dataclass

import llvmlite.binding as llvm
from llvmlite import ir

from backends.llvm import parallel
from backends.llvm.target import LLVM_LOCK, host_target_machine


@dataclass(frozen=True)
class Pipeline:
    """How LLVM optimizes a module: the speed level, and whether to size it for huge functions."""

    speed_level: int = 3
    # NOTE: without loop unrolling and interleaving, loops still vectorize (one vector per
    # iteration). For one function of 300 elementwise loops, optimization then takes ~2x less
    # time, code generation ~5x less, the object is 5x smaller, and the (memory-bound) loops
    # run as fast (benchmarks/llvm_compile_time.py).
    large_functions: bool = False

    def tag(self) -> str:
        """A stable description for cache keys."""
        return f"O{self.speed_level}{'-large' if self.large_functions else ''}"

    def tuning_options(self) -> llvm.PipelineTuningOptions:
        """The new pass manager's tuning options for this pipeline."""
        options = llvm.create_pipeline_tuning_options(speed_level=self.speed_level)
        options.loop_vectorization = True
        options.slp_vectorization = True
        if self.large_functions:
            options.loop_unrolling = False
            options.loop_interleaving = False
        return options


DEFAULT_PIPELINE = Pipeline()

_compilations = 0


def compile_count() -> int:
    """How many modules LLVM has optimized in this process (a cache hit must add none)."""
    return _compilations


def _optimized(module: ir.Module | str, pipeline: Pipeline) -> llvm.ModuleRef:
    """Parse and verify the IR for the host, then run the optimization pipeline on it."""
    global _compilations
    machine = host_target_machine()
    with LLVM_LOCK:
        _compilations += 1
        parsed = llvm.parse_assembly(str(module))
        parsed.triple = machine.triple
        parsed.data_layout = str(machine.target_data)
        parsed.verify()
        passes = llvm.create_pass_builder(machine, pipeline.tuning_options())
        passes.getModulePassManager().run(parsed, passes)
        return parsed


def compile_object(module: ir.Module | str, pipeline: Pipeline = DEFAULT_PIPELINE) -> bytes:
    """Optimized object code for the host, loadable by `load_object` in any process."""
    optimized = _optimized(module, pipeline)
    with LLVM_LOCK:
        return host_target_machine().emit_object(optimized)


def optimized_ir(module: ir.Module | str, pipeline: Pipeline = DEFAULT_PIPELINE) -> str:
    """The IR as LLVM's optimizer leaves it, for inspection."""
    optimized = _optimized(module, pipeline)
    with LLVM_LOCK:
        return str(optimized)


def assembly(module: ir.Module | str, pipeline: Pipeline = DEFAULT_PIPELINE) -> str:
    """The host assembly of the optimized module, for inspection."""
    optimized = _optimized(module, pipeline)
    with LLVM_LOCK:
        return host_target_machine().emit_assembly(optimized)


class Library:
    """Object code linked into this process: entry-point addresses, valid while it is alive."""

    def __init__(self, tracker: llvm.ResourceTracker, addresses: dict[str, int]):
        self._tracker = tracker
        self.addresses = addresses

    def __getitem__(self, name: str) -> int:
        return self.addresses[name]

    def __del__(self, _lock=LLVM_LOCK, _finalizing=sys.is_finalizing) -> None:
        # NOTE: unloading the code goes through the JIT too, so it takes the LLVM lock rather
        # than run whenever the collector happens to drop the tracker. At interpreter exit
        # (when module globals may be gone) the process takes everything down anyway.
        if not _finalizing():
            with _lock:
                self._tracker.close()


_jit: llvm.LLJIT | None = None
_library_ids = itertools.count()


def load_object(object_code: bytes, entries: Iterable[str]) -> Library:
    """Link object code into the process (libm and other process symbols resolve here, and
    the thread team's runtime record)."""
    global _jit
    entries = list(entries)
    runtime = parallel.runtime_address()
    with LLVM_LOCK:
        if _jit is None:
            _jit = llvm.create_lljit_compiler(host_target_machine())
        builder = llvm.JITLibraryBuilder().add_object_img(object_code).add_current_process()
        builder.import_symbol(parallel.RUNTIME_SYMBOL, runtime)
        for name in entries:
            builder.export_symbol(name)
        # NOTE: a library name can never be reused within one LLJIT, even after unloading.
        tracker = builder.link(_jit, f"graphc{next(_library_ids)}")
    return Library(tracker, {name: tracker[name] for name in entries})
