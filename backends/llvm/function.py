"""A compiled graph as a Python callable: check feeds, size buffers, one native call.

Per call, only the feeds are checked (gc.FeedError before any native code runs), the dim
signature's values and the output and arena sizes computed, the outputs allocated (they are
the caller's), and one native call made with the GIL released. A nonzero status becomes the
error the interpreter raises there (gc.IndexRangeError for a bad index), naming the node and
the user's line; variables are then unchanged, because the
native code assigns them only after every kernel succeeded. Calls are serialized per
function (they share the arena and update the same variables).

The call path is generated per function, in native code next to the entry where this process
allows (native_call.py: the instance's `__call__` is then a builtin), else as Python source
(callpath.py). Either checks feeds that are already arrays of the exact dtype, rank and dims,
C-contiguous and aligned, inline, and hands anything else (lists, other dtypes, strided or
misaligned arrays, a wrong shape) to `general`: FeedChecker converts what it may and raises
FeedError with the full explanation otherwise.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from backends.llvm import native_call, pyapi
from backends.llvm.call import EntryFunction
from backends.llvm.callpath import generate_call
from backends.llvm.interface import Interface
from backends.llvm.lower import Plan
from graphc.errors import FeedError, GraphcError, IndexRangeError
from graphc.feeds import FeedChecker, arrange_feeds
from graphc.graph import Graph
from graphc.ops.leaves import UPDATING


class NativeFunction:
    """Call with one array per input; returns the outputs; variables update after success.

    It is made from the code's `Interface` alone; `graph` and `plan` (the lowered graph and
    its plan, for inspection) come from `lowered()`, which a cache hit runs only on request.
    `built` (the graph as the user built it) is what the interpreter runs to name an index
    out of range.
    """

    def __init__(self, interface: Interface, loaded, context: int, single_output: bool,
                 lowered: Callable[[], tuple[Graph, Plan]], built: Graph):
        self.interface, self.loaded, self._lowered = interface, loaded, lowered
        self.single_output = single_output
        self._updating = bool(interface.targets)
        targets = interface.targets
        variables = [v.attrs["var"] for v in interface.variables]
        general = _general_path(FeedChecker(interface.inputs, interface.dims), variables,
                                [t.name for t in interface.inputs])
        failed, mismatch = _failure(interface, built), _mismatch(interface)
        if native_call.NAME in loaded.addresses:
            self.source = None
            self._context = native_call.Context(interface, context, single_output, general,
                                                mismatch, failed, loaded)
            call = pyapi.builtin(native_call.NAME, loaded[native_call.NAME],
                                 self._context.address, self._context)
            if targets:
                self._native = call
            else:
                # NOTE: a builtin as a class's __call__ is called without self, straight from
                # the instance call (~50 ns where a Python __call__ forwarding to it costs ~150).
                self.__class__ = type("NativeFunction", (NativeFunction,), {"__call__": call})
        else:
            entry = EntryFunction(loaded["entry"], len(interface.inputs), len(variables),
                                  len(interface.outputs), len(interface.dims.signature),
                                  context, loaded)
            self.source, self._call = generate_call(interface, entry, variables, targets,
                                                    general, mismatch, failed, _usable_value,
                                                    single_output)
            self._general = general

    @functools.cached_property
    def _graph_and_plan(self) -> tuple[Graph, Plan]:
        return self._lowered()

    @property
    def graph(self) -> Graph:
        """The graph the code was generated from (optimized, lowered)."""
        return self._graph_and_plan[0]

    @property
    def plan(self) -> Plan:
        """Where the lowered graph's values live and which kernels run (see lower.py)."""
        return self._graph_and_plan[1]

    _native = None

    def __call__(self, *args, **named):
        if not self._updating:
            return self._run(args, named)
        with UPDATING:     # from reading the variables to assigning them (see graphc.ops.leaves)
            return self._run(args, named)

    def _run(self, args: tuple, named: dict):
        if self._native is not None:
            return self._native(*args, **named)
        return self._call(args) if not named else self._call(self._general(*args, **named))

    def llvm_ir(self, optimized: bool = True) -> str:
        return self.loaded.llvm_ir(optimized)

    def asm(self) -> str:
        return self.loaded.asm()


def _general_path(checker: FeedChecker, variables: Sequence, names: list) -> Callable:
    """`general(*feeds, **named)`: the feeds FeedChecker accepts, in input order, converted
    and made C-contiguous; variables made usable too. The call path checks them again."""
    dtypes = [spec[1] for spec in checker.specs]

    def general(*args, **named) -> tuple[np.ndarray, ...]:
        if named:
            args = arrange_feeds(names, args, named)
        arrays, _ = checker(args)
        for var in variables:
            _usable_value(var)
        return tuple(_exact(a, dtype) for a, dtype in zip(arrays, dtypes))
    return general


def _exact(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """array, C-contiguous, aligned, with the very dtype object the call path compares."""
    if not (array.flags.c_contiguous and array.flags.aligned):
        array = np.array(array, order="C")    # NOTE: a copy: ascontiguousarray keeps misaligned
    return array if array.dtype is dtype else array.view(dtype)


def _failure(interface: Interface, built: Graph) -> Callable:
    """`failed(status, feeds)`: raise the error a nonzero status from the native code stands
    for. An index out of range raises the interpreter's error, which names the value, its
    position and the axis (the native kernel reports only that one was out of range): the
    graph as built, its updates dropped so nothing is assigned, runs on the feeds once more."""
    def failed(status: int, feeds: tuple = ()) -> None:
        if status == native_call.OUT_OF_MEMORY:
            raise MemoryError("cannot allocate the native code's scratch memory (arena) for "
                              "these feeds")
        step, failure = interface.error(status)
        if failure.error is IndexRangeError:
            from backends.numpy import compile_graph as interpreter  # (only on failure)
            interpreted = interpreter(Graph(built.inputs, built.outputs))
            try:
                interpreted(*feeds)
            except IndexRangeError as error:
                raise error from None
        raise failure.error(f"{step.what}: {failure.message}")
    return failed


def _mismatch(interface: Interface) -> Callable:
    """`mismatch(*feeds)`: general() returned feeds the call path still refuses (a bug)."""
    def mismatch(*args, **named) -> None:
        args = (*args, *named.values())
        got = ", ".join(f"{type(a).__name__} {getattr(a, 'dtype', '')}"
                        f"{getattr(a, 'shape', '')}" for a in args)
        raise GraphcError(f"internal error: the native call path refuses feeds that passed "
                          f"the feed checks ({got}); variables: "
                          + ", ".join(f"{v.attrs['var'].name} {v.attrs['var']._value.dtype}"
                                      f"{v.attrs['var']._value.shape}"
                                      for v in interface.variables))
    return mismatch


def _usable_value(variable) -> np.ndarray:
    """The variable's array as native code reads it: exact dtype, C-contiguous, aligned.

    NOTE: any other array (one another backend left F-ordered, say) is replaced by a copy of
    the same values.
    """
    value, want = variable._value, variable.type
    if value.shape != want.shape:
        raise FeedError(f"variable {variable.name!r} holds an array of shape {value.shape}, "
                        f"but it is {want}")
    dtype = np.dtype(want.dtype)
    if not (type(value) is np.ndarray and value.dtype is dtype and value.flags.c_contiguous
            and value.flags.aligned):
        value = variable._value = np.array(value, dtype=dtype, order="C")
    return value
