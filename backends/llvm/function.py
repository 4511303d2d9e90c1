"""A compiled graph as a Python callable: check feeds, size buffers, one native call.

Per call, Python only checks the feeds (gc.FeedError before any native code runs), computes
the dim signature's values and the output and arena sizes, allocates the outputs (they are
the caller's), and makes one foreign call that releases the GIL. A nonzero status becomes a
GraphcError naming the node and the user's line; variables are then unchanged, because the
native code assigns them only after every kernel succeeded. Calls are serialized per
function (they share the arena and update the same variables).

The call path is generated per function (backends/llvm/callpath.py): feeds that are already
arrays of the exact dtype, rank and static dims, C-contiguous and aligned, are checked inline
and go straight to the native call; anything else (lists, other dtypes, strided or misaligned
arrays, a wrong shape) takes the general path through FeedChecker, which converts what it may
and raises FeedError with the full explanation otherwise.
"""
from __future__ import annotations

import numpy as np

from backends.llvm.call import EntryFunction
from backends.llvm.callpath import generate_call
from backends.llvm.lower import Plan
from graphc.errors import FeedError, GraphcError
from graphc.feeds import FeedChecker


class NativeRunError(GraphcError, IndexError):
    """Native code stopped on a bad value (an index out of range), naming the node."""


class NativeFunction:
    """Call with one array per input; returns the outputs; variables update after success."""

    def __init__(self, plan: Plan, loaded, context: int, single_output: bool = False):
        graph = plan.graph
        self.graph, self.plan, self.loaded = graph, plan, loaded
        self.single_output = single_output
        self._checker = FeedChecker(graph.inputs, graph.dims)
        variables = [v.attrs["var"] for v in graph.variables]
        entry = EntryFunction(loaded["entry"], len(graph.inputs), len(variables),
                              len(graph.outputs), len(graph.dims.signature), context, loaded)
        self.source, self._call = generate_call(plan, entry, variables, self._general,
                                                self._failed, _usable_value, single_output)

    def __call__(self, *args):
        return self._call(args)

    def _general(self, args) -> list:
        """The feeds FeedChecker accepts (converted, copied where needed) and their dims."""
        arrays, bindings = self._checker(args)
        arrays = [a if a.flags.c_contiguous and a.flags.aligned else np.ascontiguousarray(a)
                  for a in arrays]
        return arrays + [bindings[s] for s in self.graph.dims.signature]

    def _failed(self, status: int) -> None:
        step, message = self.plan.error(status)
        raise NativeRunError(f"{step.what}: {message}")

    def llvm_ir(self, optimized: bool = True) -> str:
        return self.loaded.llvm_ir(optimized)

    def asm(self) -> str:
        return self.loaded.asm()


def _usable_value(variable) -> np.ndarray:
    """The variable's array as native code needs it: exact dtype, C-contiguous, writeable.

    NOTE: any other array (one another backend left F-ordered, say) is replaced by a copy of
    the same values, so the native code can update it in place.
    """
    value, want = variable._value, variable.type
    if value.shape != want.shape:
        raise FeedError(f"variable {variable.name!r} holds an array of shape {value.shape}, "
                        f"but it is {want}")
    if not (type(value) is np.ndarray and value.dtype == want.dtype and value.flags.c_contiguous
            and value.flags.aligned and value.flags.writeable):
        value = variable._value = np.array(value, dtype=want.dtype, order="C")
    return value
