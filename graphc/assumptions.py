"""What a type rule assumes about symbolic dims, recorded on the node it types.

Combining `x: (?1, 4)` with `y: (?2, 4)` elementwise is only valid when ?1 == ?2 (or one of
them is 1), which nothing can know until feeds bind them. The type rule goes ahead with one
of the two dims and records the assumption; `make` keeps the assumptions a node's type rests
on beside the node, a graph gathers those of its nodes (graphc/dimenv.py), and feeds are
checked against them before anything runs. Nothing is kept in a global table: a graph's
assumptions are exactly those of its nodes.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Iterator, NamedTuple

from graphc.dims import Dim, DimExpr, format_dim
from graphc.errors import ShapeError


class Assumption(NamedTuple):
    """`a == b`, or with kind "broadcast", `a == 1 or a == b` (a symbolic, b the result)."""

    kind: str
    a: Dim
    b: Dim

    def __str__(self) -> str:
        a, b = format_dim(self.a), format_dim(self.b)
        return f"{a} == {b}" if self.kind == "equal" else f"{a} is 1 or {b}"

    def holds(self, a: int, b: int) -> bool:
        return a == b or (self.kind == "broadcast" and a == 1)


class _Collector(threading.local):
    stack: list[list[Assumption]]

    def __init__(self) -> None:
        self.stack = []


_collector = _Collector()


@contextlib.contextmanager
def collecting() -> Iterator[list[Assumption]]:
    """Gather the assumptions made inside (by a type rule run on behalf of one node)."""
    found: list[Assumption] = []
    _collector.stack.append(found)
    try:
        yield found
    finally:
        _collector.stack.pop()


def _record(assumption: Assumption) -> None:
    if _collector.stack:
        _collector.stack[-1].append(assumption)


def _is_named(d: Dim) -> bool:
    """A symbol the user named (`batch`); anonymous ones come from None and start with `?`."""
    return isinstance(d, str) and not d.startswith("?")


def _rank(d: Dim) -> int:
    """Which of two equal dims to keep: static, then named, then anonymous, then derived."""
    if isinstance(d, int):
        return 0
    if _is_named(d):
        return 1
    return 2 if isinstance(d, str) else 3


def same_dim(a: Dim, b: Dim) -> Dim | None:
    """The dim two dims that must be equal stand for, or None when they surely differ.

    When they may differ (a symbol is involved), the equality is assumed and recorded. Two
    dims the user named differently are never assumed equal: the names are global, so they
    may well differ, and the user can give both the same name.
    """
    if a == b:
        return a
    if isinstance(a, int) and isinstance(b, int):
        return None
    if _is_named(a) and _is_named(b):
        raise ShapeError(f"dims {a} and {b} may differ; give both the same name if they are "
                         "always equal")
    _record(Assumption("equal", a, b))
    return a if _rank(a) <= _rank(b) else b


def broadcast_dim(a: Dim, b: Dim) -> Dim | None:
    """NumPy's broadcast of two dims, or None when they cannot broadcast.

    A symbol meeting a static dim n != 1 is assumed to be 1 or n; two symbols are assumed
    equal (a feed where one of them is 1 is refused when the feeds are checked).
    """
    if a == b or b == 1:
        return a
    if a == 1:
        return b
    if isinstance(a, int) and isinstance(b, int):
        return None
    if isinstance(b, int):
        _record(Assumption("broadcast", a, b))
        return b
    if isinstance(a, int):
        _record(Assumption("broadcast", b, a))
        return a
    return same_dim(a, b)


def is_derived(d: Dim) -> bool:
    return isinstance(d, DimExpr)
