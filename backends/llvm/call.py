"""Call a generated entry function with one foreign call that releases the GIL.

The entry has the C signature

    int32 entry(void **inputs, void **variables, void **outputs, void *arena, int64 *dims,
                void **context)

and returns 0 on success or an error code the lowering maps back to a node. The pointer tables
live as long as the `EntryFunction`, and a slot is rewritten only when a different array
object is passed in it, so a call with the same variables, outputs and arena as the last one
only looks up the addresses of its new inputs.
"""
from __future__ import annotations

import array
import ctypes
import operator
import threading
from collections.abc import Sequence

import numpy as np

# NOTE: CFUNCTYPE (not PYFUNCTYPE) releases the GIL for the duration of the call.
ENTRY_SIGNATURE = ctypes.CFUNCTYPE(ctypes.c_int32, *[ctypes.c_void_p] * 6)


def data_address(array: np.ndarray) -> int:
    """The address of an array's first element (~0.4 µs where `array.ctypes.data` takes ~2)."""
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(array))
    except (TypeError, ValueError, BufferError):  # read-only, empty or not contiguous
        return array.__array_interface__["data"][0]


class EntryFunction:
    """A loaded entry point with its pointer tables; calling it runs the native code once.

    The caller guarantees every array is C-contiguous, aligned, of the dtype and size the code
    expects (nothing is checked here: that is the feed checker's job, done before). Calls are
    serialized per function, since they share the arena and the tables.

    `pointers` (inputs, then variables, then outputs) and `dims` are the tables the native code
    reads, and `arguments` its arguments but the arena's address: a generated call path
    (backends/llvm/callpath.py) fills them itself, under its own lock, and calls `function`.
    """

    def __init__(self, address: int, inputs: int, variables: int, outputs: int, dims: int,
                 context: int = 0, keepalive: object = None):
        self.function = ENTRY_SIGNATURE(address)
        self._keepalive = keepalive  # NOTE: the loaded library; the code dies with it
        self.counts = (inputs, variables, outputs, dims)
        # NOTE: the three pointer tables are consecutive parts of one C array, so one identity
        # check over all arrays tells whether any address must be looked up again. Holding the
        # arrays also keeps each address valid (and NumPy refuses to resize a held array).
        # array.array items are set ~3x faster than a ctypes array's, and never move.
        arrays = inputs + variables + outputs
        self.pointers = array.array("Q", [0] * max(arrays, 1))
        self.held: list[np.ndarray | None] = [None] * arrays
        base, size = self.pointers.buffer_info()[0], self.pointers.itemsize
        self.dims = array.array("q", [0] * max(dims, 1))
        self.arguments = (base, base + size * inputs, base + size * (inputs + variables),
                          self.dims.buffer_info()[0], context)
        self._arena: np.ndarray | None = None
        self._arena_address = 0
        self._lock = threading.Lock()

    def __call__(self, inputs: Sequence[np.ndarray], variables: Sequence[np.ndarray],
                 outputs: Sequence[np.ndarray], arena: np.ndarray | None,
                 dims: Sequence[int]) -> int:
        """Run the native code on these buffers and dim values; return its status code."""
        counts = (len(inputs), len(variables), len(outputs), len(dims))
        if counts != self.counts:
            raise ValueError(f"expected (inputs, variables, outputs, dims) = {self.counts}, "
                             f"got {counts}")
        arrays = (*inputs, *variables, *outputs)
        with self._lock:
            if not all(map(operator.is_, arrays, self.held)):
                self._bind(arrays)
            if arena is not self._arena:
                self._arena_address = 0 if arena is None else data_address(arena)
                self._arena = arena
            self.dims[:len(dims)] = array.array("q", dims)
            tables, variables_, outputs_, dims_, context = self.arguments
            return self.function(tables, variables_, outputs_, self._arena_address, dims_,
                                 context)

    def _bind(self, arrays: tuple[np.ndarray, ...]) -> None:
        """Look up the addresses of the arrays that changed since the last call."""
        held, pointers = self.held, self.pointers
        for index, array_ in enumerate(arrays):
            if array_ is not held[index]:
                pointers[index] = data_address(array_)
                held[index] = array_
