"""Leaves of a graph: placeholders (fed per call), variables (state) and constants."""
from __future__ import annotations

import itertools
import threading

import numpy as np

from graphc.attrs import CONST, INT, TYPE, VAR
from graphc.dtypes import canonical, promote
from graphc.errors import ShapeError
from graphc.registry import Kind, Trait, defop
from graphc.tensor import Tensor, located, make
from graphc.types import TensorType

_placeholder_ids = itertools.count()

# NOTE: variables are shared by every compiled function that reads them, whatever its
# backend, so their state is guarded by two process-wide locks. A call that updates
# variables holds UPDATING from reading them to assigning the new values: such calls apply
# one after another, as if made in sequence, and none is lost. A commit, and the reading of
# the variables by a call that only reads them, hold COMMITTING (or the GIL throughout, in
# native call paths), so every call sees the variables as some whole call left them.
UPDATING = threading.RLock()
COMMITTING = threading.Lock()


class Variable:
    """The state behind a `gc.variable` node; compiled functions read and update `value`."""

    __slots__ = ("name", "type", "_value")

    def __init__(self, value: np.ndarray, name: str | None):
        self.name = name
        self.type = TensorType(canonical(value.dtype), value.shape)
        self._value = value

    @property
    def value(self) -> np.ndarray:
        return self._value

    @value.setter
    def value(self, new) -> None:
        new = np.asarray(new)
        if new.shape != self.type.shape:
            raise ShapeError(f"variable {self.name!r} has shape {self.type.shape}, "
                             f"cannot assign an array of shape {new.shape}")
        self._value = np.array(new, dtype=self.type.dtype)

    def __repr__(self) -> str:
        return f"Variable({self.name!r}, {self.type})"


class Const:
    """A constant array, hashed by content so equal constants are one node."""

    __slots__ = ("array", "_hash")

    def __init__(self, array: np.ndarray):
        self.array = np.array(array)
        self.array.flags.writeable = False
        self._hash = hash((self.array.dtype.str, self.array.shape, self.array.tobytes()))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        return (isinstance(other, Const) and self._hash == other._hash
                and self.array.dtype == other.array.dtype
                and self.array.shape == other.array.shape
                and self.array.tobytes() == other.array.tobytes())

    def __repr__(self) -> str:
        return f"Const({self.array!r})"


defop("placeholder", Kind.LEAF, lambda types, attrs: attrs["type"], arity=0,
      attrs={"type": TYPE, "id": INT})
defop("variable", Kind.LEAF, lambda types, attrs: attrs["var"].type, arity=0,
      attrs={"var": VAR}, traits=(Trait.STATEFUL,))
defop("constant", Kind.LEAF,
      lambda types, attrs: TensorType(canonical(attrs["value"].array.dtype),
                                      attrs["value"].array.shape), arity=0,
      attrs={"value": CONST})


def _is_python_float(value) -> bool:
    """A Python float, not a NumPy float64 (a float subclass that keeps its own dtype)."""
    return isinstance(value, float) and not isinstance(value, np.floating)


@located("placeholder")
def placeholder(shape, dtype="float32", name: str | None = None) -> Tensor:
    """An input fed on every call; None or a str in `shape` is a symbolic dim (e.g. batch)."""
    ttype = TensorType.make(dtype, shape)
    return make("placeholder", [], {"type": ttype, "id": next(_placeholder_ids)}, name=name)


@located("variable")
def variable(value, name: str | None = None, dtype=None) -> Tensor:
    """State that persists across calls (parameters); `.value` gets and sets it as numpy."""
    array = np.array(value, dtype=dtype)
    if dtype is None and _is_python_float(value):
        array = array.astype(np.float32)
    array = array.astype(canonical(array.dtype), copy=False)
    return make("variable", [], {"var": Variable(array, name)}, name=name)


@located("constant")
def constant(value, dtype=None, name: str | None = None) -> Tensor:
    """A constant; Python floats default to float32 and Python ints to int64."""
    if dtype is None:
        if isinstance(value, bool):
            dtype = "bool"
        elif _is_python_float(value):
            dtype = "float32"
        elif isinstance(value, int):
            dtype = "int64"
    array = np.asarray(value, dtype=dtype)
    array = array.astype(canonical(array.dtype), copy=False)
    return make("constant", [], {"value": Const(array)}, name=name)


def canonical_placeholder(ttype: TensorType, position: int) -> Tensor:
    """The one placeholder of a type at an input position (for comparing subgraphs)."""
    return make("placeholder", [], {"type": ttype, "id": -1 - position})


def as_tensor(x, like: Tensor | None = None) -> Tensor:
    """A Tensor as is; a Python scalar takes `like`'s dtype as NumPy 2 would (weak scalar)."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, (bool, int, float)):
        return constant(x, promote(like.dtype, x))
    return constant(x)


def is_constant(t: Tensor, value=None) -> bool:
    """Whether t is a constant (equal everywhere to `value`, when given)."""
    if t.op != "constant":
        return False
    return value is None or bool(np.all(t.attrs["value"].array == value))
