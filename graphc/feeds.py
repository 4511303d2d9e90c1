"""Checking what a caller feeds a compiled function, before any backend code runs."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from graphc.dimenv import DimEnv
from graphc.dims import DimExpr
from graphc.errors import FeedError
from graphc.tensor import Tensor
from graphc.types import shape_str


class FeedChecker:
    """Validates feeds against the inputs' types, binds symbolic dims and checks assumptions."""

    def __init__(self, inputs: Sequence[Tensor], dims: DimEnv | None = None):
        self.specs = [(t.name or f"input {i}", np.dtype(t.dtype), t.shape, t.type)
                      for i, t in enumerate(inputs)]
        self.names = [spec[0] for spec in self.specs]
        self.dims = dims or DimEnv(inputs, ())

    def __call__(self, args: Sequence) -> tuple[list[np.ndarray], dict[str, int]]:
        """The feeds as arrays of the right dtype, and the value of each input-bound symbol."""
        if len(args) != len(self.specs):
            raise FeedError(f"expected {len(self.specs)} inputs ({', '.join(self.names)}), "
                            f"got {len(args)}")
        arrays, bindings, bound_by, derived = [], {}, {}, []
        for arg, (name, dtype, shape, ttype) in zip(args, self.specs):
            array = arg if type(arg) is np.ndarray else _as_array(arg, name, ttype)
            if array.dtype != dtype:
                rule = "safe" if isinstance(arg, np.ndarray) else "same_kind"
                if not np.can_cast(array.dtype, dtype, rule):
                    raise FeedError(f"input {name!r} expects {ttype}, got an array of dtype "
                                    f"{array.dtype}; convert it with .astype('{dtype}')")
                array = _converted(array, dtype, name, ttype)
            if array.ndim != len(shape):
                raise FeedError(f"input {name!r} expects {ttype}, got shape "
                                f"{shape_str(array.shape)}")
            for axis, (want, got) in enumerate(zip(shape, array.shape)):
                if isinstance(want, DimExpr):
                    derived.append((name, axis, want, got, ttype))
                elif isinstance(want, int):
                    if want != got:
                        raise FeedError(f"input {name!r} expects {ttype}, got shape "
                                        f"{shape_str(array.shape)} (axis {axis} must be {want})")
                elif bindings.setdefault(want, got) != got:
                    raise FeedError(
                        f"input {name!r} has {want}={got} on axis {axis}, but input "
                        f"{bound_by[want]!r} gave {want}={bindings[want]} (expects {ttype})")
                else:
                    bound_by.setdefault(want, name)
            arrays.append(array)
        for name, axis, want, got, ttype in derived:
            if self.dims.value(want, bindings) != got:
                raise FeedError(f"input {name!r} expects a dim of {self.dims.shown(want)} = "
                                f"{self.dims.value(want, bindings)} on axis {axis} for these "
                                f"feeds, got {got}")
        self.dims.check(bindings, self.names)
        return arrays, bindings


def _as_array(arg, name: str, ttype) -> np.ndarray:
    """A list, scalar or array-like as an array, refusing what NumPy cannot make one of."""
    if isinstance(arg, Tensor):
        raise FeedError(f"input {name!r} expects {ttype} data, got a graph Tensor "
                        f"({arg.op}); feed NumPy arrays, lists or scalars")
    try:
        array = np.asarray(arg)
    except (ValueError, TypeError, OverflowError) as exc:
        raise FeedError(f"input {name!r} expects {ttype}, got a {type(arg).__name__} that is "
                        f"not a rectangular array of numbers ({exc})") from None
    if array.dtype == object:
        raise FeedError(f"input {name!r} expects {ttype}, got a {type(arg).__name__} holding "
                        "values that are not numbers of a fixed-width NumPy dtype (None, very "
                        "large integers, or mixed objects)")
    return array


def _converted(array: np.ndarray, dtype: np.dtype, name: str, ttype) -> np.ndarray:
    """array as dtype, refusing a value that changes: an integer out of range, a float overflow.

    NOTE: only lists and scalars get here with a narrower dtype (an ndarray must cast safely),
    and NumPy's astype would wrap [2**32 + 1] to [1] in int32 or turn 1e39 into inf in float32.
    """
    with np.errstate(over="ignore"):    # reported below, with the value and where it is
        converted = array.astype(dtype)
    if dtype.kind in "iu" and array.dtype.kind in "iu":
        changed = converted != array
    elif dtype.kind == "f" and array.dtype.kind == "f":
        changed = np.isinf(converted) & np.isfinite(array)
    else:
        return converted
    if changed.any():
        position = tuple(int(i) for i in np.argwhere(changed)[0])
        at = f" at position {position}" if position else ""
        raise FeedError(f"input {name!r} expects {ttype}, but the value {array[position]}{at} "
                        f"does not fit in {dtype}")
    return converted


def arrange_feeds(names: Sequence[str | None], args: Sequence, named: dict) -> list:
    """The feeds in input order, from positional `args` and keywords by placeholder name."""
    feeds = list(args) + [_MISSING] * (len(names) - len(args))
    known = ", ".join(n or f"input {i} (unnamed)" for i, n in enumerate(names))
    if len(args) > len(names):
        raise FeedError(f"expected {len(names)} inputs ({known}), got {len(args)}")
    position = {n: i for i, n in enumerate(names) if n is not None}
    for name, value in named.items():
        if name not in position:
            raise FeedError(f"there is no input named {name!r}; the inputs are {known}")
        if feeds[position[name]] is not _MISSING:
            raise FeedError(f"input {name!r} is given twice (by position and by name)")
        feeds[position[name]] = value
    missing = [names[i] or f"input {i}" for i, f in enumerate(feeds) if f is _MISSING]
    if missing:
        raise FeedError(f"missing {', '.join(map(repr, missing))}; the inputs are {known}")
    return feeds


_MISSING = object()
