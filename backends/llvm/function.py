"""A compiled graph as a Python callable: check feeds, size buffers, one native call.

Per call, Python only checks the feeds (gc.FeedError before any native code runs), computes
the dim signature's values and the output and arena sizes, allocates the outputs (they are
the caller's), and makes one foreign call that releases the GIL. A nonzero status becomes a
GraphcError naming the node and the user's line; variables are then unchanged, because the
native code assigns them only after every kernel succeeded. Calls are serialized per
function (they share the arena and update the same variables).
"""
from __future__ import annotations

import threading

import numpy as np

from backends.llvm.call import EntryFunction
from backends.llvm.lower import Plan
from graphc.dims import python_source
from graphc.errors import GraphcError
from graphc.feeds import FeedChecker, arrange_feeds


class NativeRunError(GraphcError, IndexError):
    """Native code stopped on a bad value (an index out of range), naming the node."""


class NativeFunction:
    """Call with one array per input; returns the outputs; variables update after success."""

    def __init__(self, plan: Plan, loaded, context: int, single_output: bool = False):
        graph = plan.graph
        self.graph, self.plan, self.loaded = graph, plan, loaded
        self.single_output = single_output
        self._check = FeedChecker(graph.inputs, graph.dims)
        self._variables = [v.attrs["var"] for v in graph.variables]
        self._signature = list(graph.dims.signature)
        self._sizes = _size_function(graph, plan)
        self._dtypes = [np.dtype(t.dtype) for t in graph.outputs]
        self._entry = EntryFunction(loaded["entry"], len(graph.inputs), len(self._variables),
                                    len(graph.outputs), len(self._signature), context, loaded)
        self._arena = np.empty(0, np.uint8)
        self._lock = threading.Lock()

    def __call__(self, *args, **named):
        if named:
            args = arrange_feeds([t.name for t in self.graph.inputs], args, named)
        arrays, bindings = self._check(args)
        arrays = [a if a.flags.c_contiguous and a.flags.aligned else np.ascontiguousarray(a)
                  for a in arrays]
        dims = [bindings[s] for s in self._signature]
        shapes, arena_bytes = self._sizes(bindings)
        outputs = [np.empty(shape, dtype) for shape, dtype in zip(shapes, self._dtypes)]
        with self._lock:
            if self._arena.size < arena_bytes:
                self._arena = np.empty(arena_bytes, np.uint8)
            values = [v._value for v in self._variables]
            status = self._entry(arrays, values, outputs, self._arena, dims)
        if status:
            step, message = self.plan.error(status)
            raise NativeRunError(f"{step.what}: {message}")
        return outputs[0] if self.single_output else outputs

    def llvm_ir(self, optimized: bool = True) -> str:
        return self.loaded.llvm_ir(optimized)

    def asm(self) -> str:
        return self.loaded.asm()


def _size_function(graph, plan: Plan):
    """A generated function of the bindings: the outputs' shapes and the arena's bytes."""
    env = graph.dims

    def value(d) -> str:
        return python_source(env.resolve(d), lambda s: f"b[{s!r}]")
    shapes = ", ".join("(" + "".join(f"{value(d)}, " for d in t.shape) + ")"
                       for t in graph.outputs)
    source = f"def sizes(b):\n    return [{shapes}], {value(plan.arena_size)}\n"
    namespace: dict = {"__builtins__": {"max": max, "min": min}}
    exec(compile(source, "<graphc-llvm-sizes>", "exec"), namespace)  # noqa: S102 (our code)
    return namespace["sizes"]
