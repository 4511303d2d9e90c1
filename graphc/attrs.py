"""Attribute schemas: each op declares its attributes' kinds; make() normalizes and checks them.

A schema maps an attribute name to a `Spec` (a normalizer and an optional default).
Normalizing turns lists into tuples, ints into floats where a float is meant, dtypes into
their canonical names, and rejects anything else with a GraphError naming the attribute, so a
malformed attribute (from a text file, say) fails where the node is built. `key` makes a
normalized value hashable in a way that keeps NaN equal to itself and -0.0 apart from 0.0,
so hash-consing treats equal attributes as equal.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping, NamedTuple

import numpy as np

from graphc.dims import DimExpr
from graphc.dtypes import DTYPES, canonical
from graphc.errors import GraphcError, GraphError

REQUIRED = object()


class Spec(NamedTuple):
    normalize: Callable[[Any], Any]     # returns the normalized value or raises ValueError
    default: Any = REQUIRED
    what: str = ""                       # what the value must be, for messages


def check_attrs(op: str, schema: Mapping[str, Spec], attrs: Mapping[str, Any]) -> dict:
    """attrs normalized against op's schema (defaults filled in), or a GraphError."""
    unknown = [k for k in attrs if k not in schema]
    if unknown:
        expected = ", ".join(schema) or "none"
        raise GraphError(f"{op}: unknown attribute {unknown[0]!r} (its attributes: {expected})")
    out = {}
    for name, spec in schema.items():
        if name not in attrs:
            if spec.default is REQUIRED:
                raise GraphError(f"{op}: missing attribute {name!r} ({spec.what})")
            out[name] = spec.default
            continue
        try:
            out[name] = spec.normalize(attrs[name])
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            raise GraphError(f"{op}: attribute {name}={_short(attrs[name])} must be "
                             f"{spec.what}{': ' + str(exc) if str(exc) else ''}") from None
        except GraphcError as exc:
            raise GraphError(f"{op}: attribute {name}: {exc}") from None
    return out


def key(value) -> Any:
    """A hashable stand-in for a normalized attribute value (NaN-safe, -0.0 != 0.0)."""
    if isinstance(value, float):
        return ("float", value.hex())
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return ("tuple",) + tuple(key(v) for v in value)
    return value


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---- normalizers ------------------------------------------------------------------------------

def _int(value) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError("")
    return value.__index__()


def _nonneg(value) -> int:
    value = _int(value)
    if value < 0:
        raise ValueError("")
    return value


def _positive(value) -> int:
    value = _int(value)
    if value < 1:
        raise ValueError("")
    return value


def _bool(value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError("")
    return bool(value)


def _float(value) -> float:
    if isinstance(value, (bool, str)) or not hasattr(value, "__float__"):
        raise ValueError("")
    value = float(value)
    return math.nan if math.isnan(value) else value   # one NaN: equal pads are one node


def _dtype(value) -> str:
    return canonical(value)


def _tuple(item: Callable, length: int | None = None) -> Callable:
    def normalize(value) -> tuple:
        if not isinstance(value, (tuple, list)):
            raise ValueError("")
        if length is not None and len(value) != length:
            raise ValueError(f"needs {length} entries")
        return tuple(item(v) for v in value)
    return normalize


def _optional(item: Callable) -> Callable:
    return lambda value: None if value is None else item(value)


def _string(value) -> str:
    if not isinstance(value, str):
        raise ValueError("")
    return value


def _dim(value):
    if isinstance(value, (str, DimExpr)):
        return value
    value = _int(value)
    if value < 0:
        raise ValueError("dims are non-negative")
    return value


def _slice_bound(value):
    return None if value is None else _int(value)


def _instance(cls_name: str) -> Callable:
    def normalize(value):
        if type(value).__name__ != cls_name:
            raise ValueError("")
        return value
    return normalize


INT = Spec(_int, what="an int")
NONNEG_INT = Spec(_nonneg, what="a non-negative int")
POSITIVE_INT = Spec(_positive, what="a positive int")
BOOL = Spec(_bool, what="True or False")
FLOAT = Spec(_float, what="a number")
DTYPE = Spec(_dtype, what="a dtype (" + ", ".join(DTYPES) + ")")
AXIS = Spec(_nonneg, what="an axis (a non-negative int)")
OPTIONAL_AXIS = Spec(_optional(_nonneg), what="None or an axis")
AXES = Spec(_tuple(_nonneg), what="a tuple of axes")
SHAPE = Spec(_tuple(_dim), what="a tuple of dims (ints or symbols)")
POSITIVE_INTS = Spec(_tuple(_positive), what="a tuple of positive ints")
PADS = Spec(_tuple(_tuple(_nonneg, 2)), what="a tuple of (low, high) pairs of non-negative ints")
SLICES = Spec(_tuple(_tuple(_slice_bound, 3)),
              what="a tuple of (start, stop, step) triples of ints or None")
TYPE = Spec(_instance("TensorType"), what="a type such as f32[?1,10]")
GRAPH = Spec(_instance("Graph"), what="a graph")
CONST = Spec(_instance("Const"), what="a constant array")
VAR = Spec(_instance("Variable"), what="a variable")


STRING = Spec(_string, what="a string")


def one_of(*choices: str) -> Spec:
    """A string that must be one of `choices`."""
    def normalize(value) -> str:
        if _string(value) not in choices:
            raise ValueError("")
        return value
    return Spec(normalize, what="one of " + ", ".join(repr(c) for c in choices))


def optional(spec: Spec, default) -> Spec:
    """spec with a default, so the attribute may be left out."""
    return spec._replace(default=default)
