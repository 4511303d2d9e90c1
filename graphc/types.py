"""TensorType: a dtype and a shape whose dims are ints, symbols or expressions (graphc/dims.py)."""
from __future__ import annotations

import itertools
from typing import NamedTuple

from graphc.dims import Dim, DimExpr, format_dim
from graphc.dtypes import SHORT, canonical
from graphc.errors import ShapeError

_fresh = itertools.count(1)


def fresh_symbol() -> str:
    """A new anonymous symbolic dim, for a placeholder dim given as None."""
    return f"?{next(_fresh)}"


def _input_dim(d) -> Dim:
    """A dim as given for an input: None (a fresh symbol), a name, a non-negative int, or an
    expression of symbols other dims bind (checked when fed)."""
    if d is None:
        return fresh_symbol()
    if isinstance(d, DimExpr):
        return d
    if isinstance(d, str):
        if not d:
            raise ShapeError("a symbolic dim needs a non-empty name")
        return d
    if isinstance(d, bool) or int(d) != d or int(d) < 0:
        raise ShapeError(f"a dim must be a non-negative int, a name or None, got {d!r}")
    return int(d)


class TensorType(NamedTuple):
    dtype: str
    shape: tuple[Dim, ...]

    @staticmethod
    def make(dtype, shape) -> TensorType:
        return TensorType(canonical(dtype), tuple(_input_dim(d) for d in shape))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)

    def __str__(self) -> str:
        return f"{SHORT[self.dtype]}[{','.join(format_dim(d) for d in self.shape)}]"


def shape_str(shape: tuple[Dim, ...]) -> str:
    return "(" + ", ".join(format_dim(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
