"""Splits: an elementwise op read only through disjoint slices is computed slice by slice.

An LSTM step adds its input projection to the product h @ W_hh, (N, 4H), and reads the sum
only as four gate slices. Computed whole, the sum is a pass of its own (a product's epilogue)
between the product and the gate math; sliced, each piece of it is one more elementwise op in
the gate math's fused loop, which reads the product's slices directly. The pieces must be
disjoint slices of one axis (static bounds, step 1, the other axes whole) so no element is
computed twice. Not in the default pipeline: the interpreter would only run more, smaller
ops; backends that fuse run it before fusion.
"""
from __future__ import annotations

from graphc.dims import Dim
from graphc.ops.layout import slice_axis
from graphc.passes.manager import register, rule_pass
from graphc.passes.unslices import FULL
from graphc.pattern import P, RuleSet
from graphc.registry import OPS, Kind
from graphc.rewrite import Context
from graphc.tensor import Tensor, make


def _piece(node: Tensor, shape: tuple[Dim, ...]) -> tuple[int, int, int] | None:
    """(axis, start, stop) of a slice taking one static interval of one axis, else None."""
    partial = [(axis, s) for axis, s in enumerate(node.attrs["slices"]) if s != FULL]
    if len(partial) != 1:
        return None
    axis, (start, stop, step) = partial[0]
    size = shape[axis]
    if step not in (None, 1) or not isinstance(size, int) \
            or not all(isinstance(v, (int, type(None))) for v in (start, stop)):
        return None
    start, stop, _ = slice(start, stop).indices(size)
    return (axis, start, stop) if start < stop else None


def _disjoint_pieces(whole: Tensor, ctx: Context) -> int | None:
    """The axis whole is read along, when every reader takes a disjoint static piece of it
    that elementwise ops read (so each piece joins their loop; a piece a reshape reads, say
    an unrolled loop's step z[:, t] of the projection x W + b, would be a pass of its own,
    where whole it is the product's epilogue)."""
    readers = ctx.users(whole)
    if not readers or ctx.is_returned(whole) or any(r.op != "slice" for r in readers):
        return None
    if any(ctx.is_returned(r) or not ctx.users(r) or any(
            OPS[u.op].kind is not Kind.ELEMENTWISE for u in ctx.users(r)) for r in readers):
        return None
    pieces = [_piece(r, whole.shape) for r in readers]
    if None in pieces or len({axis for axis, _, _ in pieces}) != 1:
        return None
    spans = sorted((start, stop) for _, start, stop in pieces)
    if any(stop > start for (_, stop), (start, _) in zip(spans, spans[1:])):
        return None
    return pieces[0][0]


def slice_elementwise(node: Tensor, ctx: Context) -> Tensor | None:
    """slice(f(a, b)) -> f(slice(a), slice(b)), operands sliced where they are not broadcast."""
    whole = node.inputs[0]
    axis = _disjoint_pieces(whole, ctx)
    if axis is None:
        return None
    start, stop, _ = node.attrs["slices"][axis]
    return _by_slices(whole, axis, start, stop, ctx)


def _by_slices(whole: Tensor, axis: int, start, stop, ctx: Context) -> Tensor:
    """whole's [start, stop) along axis, computed from its operands' pieces; an elementwise
    operand that only whole reads is taken apart too (x_t + b + h @ W: both adds)."""
    operands = []
    for x in whole.inputs:
        own = axis - (whole.ndim - x.ndim)         # the operand's axis under it, if any
        if own < 0 or (x.shape[own] == 1 and whole.shape[axis] != 1):
            operands.append(x)                     # broadcast along the axis: read whole
        elif OPS[x.op].kind is Kind.ELEMENTWISE and _only_reader(x, whole, ctx):
            operands.append(_by_slices(x, own, start, stop, ctx))
        else:
            operands.append(slice_axis(x, own, start, stop))
    return make(whole.op, operands, dict(whole.attrs), name=whole.name, loc=whole.loc,
                scope=whole.scope, grad_of=whole.grad_of)


def _only_reader(x: Tensor, reader: Tensor, ctx: Context) -> bool:
    users = ctx.users(x)
    return len(users) == 1 and users[0] is reader and not ctx.is_returned(x)


RULES = RuleSet([
    (P("slice", P(where=lambda n: OPS[n.op].kind is Kind.ELEMENTWISE)), slice_elementwise,
     "elementwise op by slices"),
])
PASS = register(rule_pass("splits", RULES, __doc__.splitlines()[0]))
