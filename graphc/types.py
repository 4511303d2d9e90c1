"""TensorType: a dtype and a shape whose dims are ints or symbols (str) bound at run time."""
from __future__ import annotations

import itertools
from typing import NamedTuple, Union

from graphc.dtypes import SHORT, canonical
from graphc.errors import ShapeError

Dim = Union[int, str]
_fresh = itertools.count(1)


_same_as: dict[str, str] = {}    # union-find over symbols that broadcasting assumed equal


def fresh_symbol() -> str:
    """A new symbolic dim, for a placeholder dim given as None."""
    return f"?{next(_fresh)}"


def root(dim: Dim) -> Dim:
    """The representative of the symbols known to equal `dim` (ints are their own)."""
    while isinstance(dim, str) and dim in _same_as:
        dim = _same_as[dim]
    return dim


def unify(a: str, b: str) -> str:
    """Record that two symbolic dims are equal (an op combined them); returns the survivor.

    An anonymous dim (from None) may join any other; two dims the user named differently are
    never assumed equal, since the names are global and the assumption would bind every graph.
    """
    a, b = root(a), root(b)
    if a == b:
        return a
    if not a.startswith("?") and not b.startswith("?"):
        raise ShapeError(f"dims {a} and {b} may differ; give both the same name if they are "
                         "always equal")
    survivor, other = (b, a) if a.startswith("?") and not b.startswith("?") else (a, b)
    _same_as[other] = survivor
    return survivor


class TensorType(NamedTuple):
    dtype: str
    shape: tuple[Dim, ...]

    @staticmethod
    def make(dtype, shape) -> TensorType:
        dims = tuple(fresh_symbol() if d is None else (d if isinstance(d, str) else int(d))
                     for d in shape)
        return TensorType(canonical(dtype), dims)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)

    def __str__(self) -> str:
        return f"{SHORT[self.dtype]}[{','.join(str(root(d)) for d in self.shape)}]"


def shape_str(shape: tuple[Dim, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
