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
from backends.llvm.kernels import register
from backends.llvm.kernels.base import Kernel
from graphc.tensor import Tensor

OUT_OF_RANGE = {1: "an index is out of range"}


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


@register("take", messages=OUT_OF_RANGE)
def take(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    x, idx = ins
    axis, nfe = node.attrs["axis"], node.attrs.get("negative_from_end", True)
    k = Kernel(low.module, low.name(node), [out, x, idx], low.env)
    n = k.dims(x.shape[axis])
    ni = len(idx.shape)

    def body(at: list) -> None:
        position = _index(k, k.load(idx, at[axis:axis + ni]), n, nfe)
        source = at[:axis] + [position] + at[axis + ni:]
        k.store(out, at, k.load(x, source))
    _nest(k, out.shape, body)
    return k


@register("take_grad", messages=OUT_OF_RANGE)
def take_grad(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    g, idx = ins
    axis, nfe = node.attrs["axis"], node.attrs.get("negative_from_end", True)
    k = Kernel(low.module, low.name(node), [out, g, idx], low.env)
    _zero(k, out)
    n = k.dims(out.shape[axis])
    ni = len(idx.shape)

    def body(at: list) -> None:
        position = _index(k, k.load(idx, at[axis:axis + ni]), n, nfe)
        target = at[:axis] + [position] + at[axis + ni:]
        k.store(out, target, _add(k, out.dtype, k.load(out, target), k.load(g, at)))
    _nest(k, g.shape, body)
    return k


@register("take_along_axis", messages=OUT_OF_RANGE)
def take_along_axis(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    x, idx = ins
    axis, nfe = node.attrs["axis"], node.attrs.get("negative_from_end", True)
    k = Kernel(low.module, low.name(node), [out, x, idx], low.env)
    n = k.dims(x.shape[axis])

    def body(at: list) -> None:
        position = _index(k, k.load(idx, at), n, nfe)
        k.store(out, at, k.load(x, at[:axis] + [position] + at[axis + 1:]))
    _nest(k, out.shape, body)
    return k


@register("take_along_axis_grad", messages=OUT_OF_RANGE)
def take_along_axis_grad(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    g, idx = ins
    axis, nfe = node.attrs["axis"], node.attrs.get("negative_from_end", True)
    k = Kernel(low.module, low.name(node), [out, g, idx], low.env)
    _zero(k, out)
    n = k.dims(out.shape[axis])

    def body(at: list) -> None:
        position = _index(k, k.load(idx, at), n, nfe)
        target = at[:axis] + [position] + at[axis + 1:]
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


