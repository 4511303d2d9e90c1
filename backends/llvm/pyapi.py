"""What native code needs to read NumPy arrays and to be called as a CPython builtin.

`array_layout()` finds where an ndarray object keeps its type, data pointer, rank, dims,
dtype and flags by probing arrays whose values are known, in this process: nothing about the
struct is assumed beyond the fields being there (NumPy's public `PyArrayObject_fields`), and a
probe that does not single out every field gives None (and callers keep to Python). The flag
bits are likewise read off arrays known to differ in one property.

`builtin(address, owner)` makes a METH_FASTCALL | METH_KEYWORDS builtin of generated code
`PyObject *f(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)`,
whose `self` is the tuple `(context address, owner)`; the owner keeps the code, the context
and everything the context points to alive as long as the builtin.
"""
from __future__ import annotations

import ctypes
import functools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

METH_FASTCALL, METH_KEYWORDS = 0x80, 0x02


@dataclass(frozen=True)
class ArrayLayout:
    """Byte offsets of an ndarray's fields, and the flag bits generated code tests."""

    type: int
    data: int
    ndim: int          # a C int
    dims: int          # a pointer to ndim npy_intp
    descr: int
    flags: int         # a C int
    c_contiguous: int
    aligned: int
    writeable: int


def _flag_bit(has: np.ndarray, lacks: np.ndarray) -> int:
    """The one bit of `ndarray.flags.num` that `has` sets and `lacks` does not (else 0)."""
    bit = has.flags.num & ~lacks.flags.num
    return bit if bit and bit & (bit - 1) == 0 else 0


def flag_bits() -> tuple[int, int, int]:
    """NumPy's C-contiguous, aligned and writeable bits, read off views that differ in one."""
    square, raw = np.zeros((2, 2), np.float32), np.zeros(12, np.uint8)
    frozen = square[:]
    frozen.flags.writeable = False
    return (_flag_bit(square[:], square.T),
            _flag_bit(raw[:8].view(np.float32), raw[1:9].view(np.float32)),
            _flag_bit(square[:], frozen))


def _probes() -> list[np.ndarray]:
    """Arrays that differ in every field a probe looks for."""
    frozen = np.arange(7, dtype=np.int64)[1:]
    frozen.flags.writeable = False
    return [np.zeros((3, 5), np.float32), np.zeros((2, 3, 4))[:, ::2], frozen,
            np.zeros((), np.int32), np.zeros((4, 1, 2), np.float32).T, np.ones((6, 7), bool)]


def _unique(candidates: list[int]) -> int | None:
    return candidates[0] if len(candidates) == 1 else None


@functools.cache
def array_layout() -> ArrayLayout | None:
    """The ndarray field offsets of this process's NumPy, or None if a probe is ambiguous."""
    size = np.ndarray.__basicsize__
    probes = _probes()
    words = [list((ctypes.c_uint64 * (size // 8)).from_address(id(a))) for a in probes]
    ints = [list((ctypes.c_int32 * (size // 4)).from_address(id(a))) for a in probes]

    def word_where(expected) -> int | None:
        return _unique([k * 8 for k in range(size // 8)
                        if all(w[k] == expected(a) for w, a in zip(words, probes))])

    def int_where(expected) -> int | None:
        return _unique([k * 4 for k in range(size // 4)
                        if all(i[k] == expected(a) for i, a in zip(ints, probes))])

    type_ = word_where(lambda a: id(np.ndarray))
    data = word_where(lambda a: a.ctypes.data)
    descr = word_where(lambda a: id(a.dtype))
    ndim = int_where(lambda a: a.ndim)
    flags = int_where(lambda a: a.flags.num)
    bits = flag_bits()
    known = [type_, data, descr, ndim, flags]
    if None in known or not all(bits):
        return None
    dims = _dims_offset(words, probes, size, {k // 8 for k in known})
    if dims is None:
        return None
    return ArrayLayout(type_, data, ndim, dims, descr, flags, *bits)


def _dims_offset(words: list[list[int]], probes: list[np.ndarray], size: int,
                 taken: set[int]) -> int | None:
    """The offset of the dims pointer, checked against every probe's shape and strides.

    NOTE: nothing is dereferenced until one pair of words (dims, strides) is singled out:
    in every probe of rank n > 0 the strides follow the n dims (NumPy allocates them as one
    block), and no other pair of words is 8 n apart in all probes.
    """
    ranked = [(w, a) for w, a in zip(words, probes) if a.ndim > 0]
    pairs = [(i, j) for i in range(size // 8) for j in range(size // 8)
             if i not in taken and j not in taken and i != j
             and all(w[i] != 0 and w[j] - w[i] == 8 * a.ndim for w, a in ranked)]
    if len(pairs) != 1:
        return None
    i, j = pairs[0]
    for w, a in ranked:
        shape = tuple((ctypes.c_int64 * a.ndim).from_address(w[i]))
        strides = tuple((ctypes.c_int64 * a.ndim).from_address(w[j]))
        if shape != a.shape or strides != a.strides:
            return None
    return i * 8


def available(functions: Iterable[str]) -> bool:
    """Whether generated code calling these C API functions can run as a builtin here."""
    return all(hasattr(ctypes.pythonapi, name) for name in functions) and \
        array_layout() is not None


class MethodDef(ctypes.Structure):
    """CPython's PyMethodDef."""

    _fields_ = [("name", ctypes.c_char_p), ("method", ctypes.c_void_p), ("flags", ctypes.c_int),
                ("doc", ctypes.c_char_p)]


def builtin(name: str, address: int, context: int, owner) -> object:
    """A builtin function running the code at `address`; its self is (context, owner).

    The owner gets the method definition to keep: CPython reads it on every call.
    """
    owner.method_def = MethodDef(name.encode(), address, METH_FASTCALL | METH_KEYWORDS, None)
    return _new_builtin(ctypes.addressof(owner.method_def), (context, owner), None)


# NOTE: a prototype of our own: ctypes.pythonapi's function objects are shared by everyone.
_new_builtin = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.py_object,
                                 ctypes.py_object)(("PyCFunction_NewEx", ctypes.pythonapi))
