"""Native kernels for take, take_along_axis, their scatter-add gradients and one_hot.

Indices are data: each is checked before it is used, and one out of range stops the kernel
with an error (the interpreter raises gc.IndexRangeError for the same feeds), so no read or
write ever leaves a buffer. With negative_from_end (NumPy's semantics, the default of take
and take_along_axis) an index -k counts from the end; one_hot takes [0, depth) only.
"""
from __future__ import annotations

from llvmlite import ir

from backends.llvm.access import Access
from backends.llvm.irutil import I64, const, i64, is_float, loop
from backends.llvm.kernels import Failure, register
from backends.llvm.kernels.base import Kernel
from graphc.errors import IndexRangeError
from graphc.tensor import Tensor

OUT_OF_RANGE = {1: Failure(IndexRangeError, "an index is out of range")}


def _index(k: Kernel, raw: ir.Value, n: ir.Value, negative_from_end: bool) -> ir.Value:
    """raw (any int width) as a checked i64 position in [0, n)."""
    b = k.b
    i = b.sext(raw, I64) if raw.type.width < 64 else raw
    if negative_from_end:
        i = b.select(b.icmp_signed("<", i, i64(0)), b.add(i, n), i)
    # NOTE: compared unsigned, a negative position is huge, so one test covers both ends
    k.fail_if(b.icmp_unsigned(">=", i, n), 1)
    return i


def _nest(k: Kernel, shape: tuple, body, indices: list | None = None) -> None:
    indices = indices or []
    if len(indices) == len(shape):
        body(indices)
        return
    with loop(k.b, k.dims(shape[len(indices)]), name=f"x{len(indices)}") as i:
        _nest(k, shape, body, indices + [i])


def _zero(k: Kernel, out: Access) -> None:
    with loop(k.b, k.size(out.shape), name="zero") as i:
        k.b.store(const(out.dtype, 0), k.address(out, k.b.add(k.dims(out.offset), i)))


def _add(k: Kernel, dtype: str, a: ir.Value, b_: ir.Value) -> ir.Value:
    return k.b.fadd(a, b_) if is_float(dtype) else k.b.add(a, b_)


def _addressing(node: Tensor, index_rank: int):
    """(where the index of element `at` is, where element `at` goes given its position)."""
    axis = node.attrs["axis"]
    if node.op.startswith("take_along_axis"):
        return (lambda at: at), (lambda at, p: at[:axis] + [p] + at[axis + 1:])
    return (lambda at: at[axis:axis + index_rank],
            lambda at, p: at[:axis] + [p] + at[axis + index_rank:])


@register("take", "take_along_axis", messages=OUT_OF_RANGE)
def gather(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    """out[at] = x[at with the axis replaced by the checked index idx[...]]."""
    x, idx = ins
    nfe = node.attrs.get("negative_from_end", True)
    k = Kernel(low.module, low.name(node), [out, x, idx], low.env)
    n = k.dims(x.shape[node.attrs["axis"]])
    index_at, place = _addressing(node, len(idx.shape))

    def body(at: list) -> None:
        position = _index(k, k.load(idx, index_at(at)), n, nfe)
        k.store(out, at, k.load(x, place(at, position)))
    _nest(k, out.shape, body)
    return k


@register("take_grad", "take_along_axis_grad", messages=OUT_OF_RANGE)
def scatter_add(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    """Zeros, plus g[at] added where the gather read it (the gather's adjoint)."""
    g, idx = ins
    nfe = node.attrs.get("negative_from_end", True)
    k = Kernel(low.module, low.name(node), [out, g, idx], low.env)
    _zero(k, out)
    n = k.dims(out.shape[node.attrs["axis"]])
    index_at, place = _addressing(node, len(idx.shape))

    def body(at: list) -> None:
        target = place(at, _index(k, k.load(idx, index_at(at)), n, nfe))
        k.store(out, target, _add(k, out.dtype, k.load(out, target), k.load(g, at)))
    _nest(k, g.shape, body)
    return k


@register("one_hot", messages=OUT_OF_RANGE)
def one_hot(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    (idx,) = ins
    depth = node.attrs["depth"]
    k = Kernel(low.module, low.name(node), [out, idx], low.env)
    _zero(k, out)
    one = const(node.dtype, 1)

    def body(at: list) -> None:
        position = _index(k, k.load(idx, at), i64(depth), False)
        k.store(out, at + [position], one)
    _nest(k, idx.shape, body)
    return k


