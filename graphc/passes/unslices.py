"""Merge a sum of unslices into one concatenate: the gradient of a tensor split into pieces.

The gradient of `slice` is `unslice` (a full-size zero array with the piece written in), so
the gradient of `split(x)` (say an LSTM's four gates) is one full-size unslice per piece
summed by a chain of adds. When the pieces slice the same axis (static bounds, step 1, the
other axes full), the sum is the pieces concatenated along that axis, with zeros in the gaps,
inside one unslice when they do not reach both ends of the axis. Adds that receive the pieces
in any order and association are flattened first, and what an earlier merge built (an unslice
of a concatenate, or a concatenate with zeros in it) is taken apart again, so a chain of adds
rewritten bottom-up still ends as one concatenate. The result is exact, as disjoint pieces
add to zeros only (overlapping pieces go to separate runs, added up in another order).
"""
from __future__ import annotations

from typing import NamedTuple

from graphc.dims import Dim
from graphc.ops.leaves import constant, is_constant
from graphc.tensor import Tensor, make

FULL = (None, None, None)


class Piece(NamedTuple):
    """A tensor that fills [lo, hi) of the sliced axis of a sum's result."""
    lo: int
    hi: int
    value: Tensor


def summands(node: Tensor) -> list[Tensor]:
    """The leaves, left to right, of the tree of adds of node's type rooted at node."""
    leaves, stack = [], [node]
    while stack:
        t = stack.pop()
        if t.op == "add" and t.type == node.type:
            stack.extend(reversed(t.inputs))
        else:
            leaves.append(t)
    return leaves


def _is_full(s: tuple, d: Dim) -> bool:
    if any(isinstance(v, str) for v in s):
        return False
    if isinstance(d, int):
        return slice(*s).indices(d) == (0, d, 1)
    return s[0] in (None, 0) and s[1] is None and s[2] in (None, 1)


def sliced_axis(node: Tensor) -> int | None:
    """The one axis an unslice writes part of (static bounds, step 1), else None."""
    shape, slices = node.attrs["shape"], node.attrs["slices"]
    partial = [a for a, (s, d) in enumerate(zip(slices, shape)) if not _is_full(s, d)]
    if len(partial) != 1:
        return None
    axis = partial[0]
    (start, stop, step), d, value = slices[axis], shape[axis], node.inputs[0]
    static = not any(isinstance(v, str) for v in (start, stop, d))
    if not (static and step in (None, 1) and value.ndim == len(shape)):
        return None
    lo, hi, _ = slice(start, stop).indices(d)
    same_others = all(a == b for i, (a, b) in enumerate(zip(value.shape, shape))
                      if i != axis)
    return axis if hi > lo and value.shape[axis] == hi - lo and same_others else None


def pieces(node: Tensor, axis: int) -> list[Piece]:
    """The pieces an unslice writes, a concatenate along `axis` taken apart (zeros dropped)."""
    start, stop, _ = slice(*node.attrs["slices"][axis]).indices(node.attrs["shape"][axis])
    value = node.inputs[0]
    if value.op != "concatenate" or value.attrs["axis"] != axis:
        return [Piece(start, stop, value)]
    return _nonzero_parts(value, start) or [Piece(start, stop, value)]


def _nonzero_parts(concat: Tensor, lo: int) -> list[Piece]:
    parts, axis = [], concat.attrs["axis"]
    for part in concat.inputs:
        size = part.shape[axis]
        if not _is_zeros(part):
            parts.append(Piece(lo, lo + size, part))
        lo += size
    return parts


def as_pieces(leaf: Tensor) -> tuple[int, list[Piece]] | None:
    """The axis and pieces of a summand that is pieces of one axis amid zeros, else None.

    That is a mergeable unslice, or a concatenate with zeros in it (a merge that filled gaps).
    """
    if leaf.op == "unslice":
        axis = sliced_axis(leaf)
        return None if axis is None else (axis, pieces(leaf, axis))
    if leaf.op == "concatenate":
        parts = _nonzero_parts(leaf, 0)
        if 0 < len(parts) < len(leaf.inputs):
            return leaf.attrs["axis"], parts
    return None


def _is_zeros(t: Tensor) -> bool:
    """A gap a merge filled (a broadcast zero, or the array constant folding made of it)."""
    return is_constant(t, 0) or (t.op == "broadcast_to" and is_constant(t.inputs[0], 0))


def runs(group: list[Piece]) -> list[list[Piece]]:
    """The pieces sorted and dealt into runs of disjoint pieces (one run unless some overlap)."""
    result: list[list[Piece]] = []
    for piece in sorted(group, key=lambda p: (p.lo, p.hi)):
        run = next((r for r in result if r[-1].hi <= piece.lo), None)
        if run is None:
            result.append([piece])
        else:
            run.append(piece)
    return result


class _Builder:
    """Makes the replacement's nodes with the metadata of the add tree they replace."""

    def __init__(self, node: Tensor):
        self.node = node

    def make(self, op: str, inputs: list[Tensor], attrs: dict) -> Tensor:
        n = self.node
        return make(op, inputs, attrs, loc=n.loc, scope=n.scope, grad_of=n.grad_of)

    def zeros(self, shape: tuple, axis: int, size: int) -> Tensor:
        shape = shape[:axis] + (size,) + shape[axis + 1:]
        return self.make("broadcast_to", [constant(0, self.node.dtype)], {"shape": shape})

    def run_sum(self, run: list[Piece], shape: tuple, axis: int) -> Tensor:
        """The sum of a run's unslices: its pieces and gaps concatenated, unsliced if partial."""
        parts, end = [], run[0].lo
        for piece in run:
            if piece.lo > end:
                parts.append(self.zeros(shape, axis, piece.lo - end))
            parts.append(piece.value)
            end = piece.hi
        value = parts[0] if len(parts) == 1 else self.make("concatenate", parts, {"axis": axis})
        if _spans(run, shape[axis]):
            return value
        slices = tuple((run[0].lo, end, None) if a == axis else FULL for a in range(len(shape)))
        return self.make("unslice", [value], {"shape": shape, "slices": slices})


def merge_unslices(node: Tensor) -> Tensor | None:
    """A sum (of any association) of unslices along one axis -> one concatenate of the pieces."""
    if node.op not in ("add", "unslice"):
        return None
    terms: list[Tensor | tuple] = []     # a group's key stands where its first unslice was
    groups: dict[tuple, tuple[tuple, list[Piece]]] = {}
    merged = 0
    for leaf in summands(node):
        found = as_pieces(leaf)
        if found is None:
            terms.append(leaf)
            continue
        axis, parts = found
        key = (axis, leaf.shape)
        if key not in groups:
            groups[key] = (leaf.shape, [])
            terms.append(key)
        groups[key][1].extend(parts)
        merged += 1
    dealt = {key: runs(group) for key, (_, group) in groups.items()}
    if sum(not _tiles(run, groups[key][0][key[0]]) for key, rs in dealt.items() for run in rs) \
            >= merged:
        return None     # as many terms writing zeros as before: nothing gained
    build = _Builder(node)
    sums = {key: _chain(build, [build.run_sum(run, groups[key][0], key[0]) for run in rs])
            for key, rs in dealt.items()}
    return _chain(build, [sums[t] if isinstance(t, tuple) else t for t in terms])


def _spans(run: list[Piece], size: int) -> bool:
    """Whether a run reaches both ends of an axis of `size` (so it needs no unslice)."""
    return run[0].lo == 0 and run[-1].hi == size


def _tiles(run: list[Piece], size: int) -> bool:
    """Whether a run covers an axis of `size` without gaps (so it writes no zeros)."""
    return _spans(run, size) and all(a.hi == b.lo for a, b in zip(run, run[1:]))


def _chain(build: _Builder, terms: list[Tensor]) -> Tensor:
    total = terms[0]
    for term in terms[1:]:
        total = build.make("add", [total, term], {})
    return total
