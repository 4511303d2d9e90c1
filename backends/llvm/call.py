"""Call a generated entry function with one foreign call that releases the GIL.

The entry has the C signature

    int32 entry(void **inputs, void **variables, void **outputs, void *arena, int64 *dims,
                void **context)

and returns 0 on success or an error code the lowering maps back to a node. The pointer tables
live as long as the `EntryFunction`, and a table slot is rewritten only when a different array
object is passed in it, so a call with the same variables, outputs and arena as the last one
only looks up the addresses of its new inputs.
"""
from __future__ import annotations

import ctypes
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


class PointerTable:
    """A C array of data pointers to a fixed number of arrays, rewritten only where they change."""

    def __init__(self, count: int):
        self._table = (ctypes.c_void_p * max(count, 1))()
        self._arrays: list[np.ndarray | None] = [None] * count
        self.address = ctypes.addressof(self._table)

    def bind(self, arrays: Sequence[np.ndarray]) -> None:
        """Point the table at `arrays`; holding them also keeps each address valid."""
        held = self._arrays
        if len(arrays) != len(held):
            raise ValueError(f"expected {len(held)} arrays, got {len(arrays)}")
        for index, array in enumerate(arrays):
            if array is not held[index]:
                self._table[index] = data_address(array)
                held[index] = array


class EntryFunction:
    """A loaded entry point with its pointer tables; calling it runs the native code once.

    The caller guarantees every array is C-contiguous, aligned, of the dtype and size the code
    expects (nothing is checked here: that is the feed checker's job, done before). Calls are
    serialized per function, since they share the arena and the tables.
    """

    def __init__(self, address: int, inputs: int, variables: int, outputs: int, dims: int,
                 context: int = 0, keepalive: object = None):
        self._function = ENTRY_SIGNATURE(address)
        self._keepalive = keepalive  # NOTE: the loaded library; the code dies with it
        self._inputs, self._variables = PointerTable(inputs), PointerTable(variables)
        self._outputs = PointerTable(outputs)
        self._dims = (ctypes.c_int64 * max(dims, 1))()
        self._dims_count = dims
        self._dims_address = ctypes.addressof(self._dims)
        self._arena: np.ndarray | None = None
        self._arena_address = 0
        self._context = context
        self._lock = threading.Lock()

    def __call__(self, inputs: Sequence[np.ndarray], variables: Sequence[np.ndarray],
                 outputs: Sequence[np.ndarray], arena: np.ndarray | None,
                 dims: Sequence[int]) -> int:
        """Run the native code on these buffers and dim values; return its status code."""
        if len(dims) != self._dims_count:
            raise ValueError(f"expected {self._dims_count} dims, got {len(dims)}")
        with self._lock:
            self._inputs.bind(inputs)
            self._variables.bind(variables)
            self._outputs.bind(outputs)
            if arena is not self._arena:
                self._arena_address = 0 if arena is None else data_address(arena)
                self._arena = arena
            table = self._dims
            for index, value in enumerate(dims):
                table[index] = value
            return self._function(self._inputs.address, self._variables.address,
                                  self._outputs.address, self._arena_address,
                                  self._dims_address, self._context)
