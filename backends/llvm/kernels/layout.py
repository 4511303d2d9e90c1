"""Native kernels for layout ops that move data: reshape of a strided view, concatenate, pad,
unslice. (transpose, slice, broadcast_to and contiguous reshapes are views: no kernel.)

Each writes its result with copy loops over views of the output: the pieces of a
concatenate or the interior of a pad are strided windows of the output buffer.
"""
from __future__ import annotations

from backends.llvm.access import Access, row_major
from backends.llvm.irutil import const, loop
from backends.llvm.kernels import register
from backends.llvm.kernels.base import Kernel
from graphc import dims as D
from graphc.ops.layout import slice_start
from graphc.tensor import Tensor


def _copy(k: Kernel, out: Access, source: Access) -> None:
    """out[...] = source[...] for two accesses of one shape, in row-major order."""
    def nest(indices: list) -> None:
        if len(indices) == len(out.shape):
            k.store(out, indices, k.load(source, indices))
            return
        with loop(k.b, k.dims(out.shape[len(indices)]), name=f"c{len(indices)}") as i:
            nest(indices + [i])
    nest([])


def _fill(k: Kernel, out: Access, value) -> None:
    with loop(k.b, k.size(out.shape), name="fill") as i:
        k.b.store(value, k.address(out, k.b.add(k.dims(out.offset), i)))


def _window(out: Access, starts: list, shape: tuple, steps: list | None = None) -> Access:
    """The part of a contiguous out starting at `starts` with `shape` (and steps)."""
    steps = steps or [1] * len(shape)
    offset = out.offset
    for start, stride in zip(starts, out.strides):
        offset = D.add(offset, D.mul(start, stride))
    return Access(out.buffer, tuple(shape), tuple(D.mul(s, t) for s, t in
                                                  zip(out.strides, steps)), offset)


@register("reshape")
def reshape(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    """A reshape of a strided view: copied in row-major order into the new shape."""
    (x,) = ins
    k = Kernel(low.module, low.name(node), [out, x], low.env)
    _copy(k, Access(out.buffer, x.shape, row_major(x.shape), out.offset), x)
    return k


@register("concatenate")
def concatenate(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    axis = node.attrs["axis"]
    k = Kernel(low.module, low.name(node), [out, *ins], low.env)
    start = 0
    for piece in ins:
        starts = [start if i == axis else 0 for i in range(len(out.shape))]
        _copy(k, _window(out, starts, piece.shape), piece)
        start = D.add(start, piece.shape[axis])
    return k


@register("pad")
def pad(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    (x,) = ins
    k = Kernel(low.module, low.name(node), [out, x], low.env)
    _fill(k, out, const(node.dtype, node.attrs["value"]))
    _copy(k, _window(out, [lo for lo, _ in node.attrs["pads"]], x.shape), x)
    return k


@register("unslice")
def unslice(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    """Zeros, with the piece written where the slice took it from."""
    (g,) = ins
    k = Kernel(low.module, low.name(node), [out, g], low.env)
    _fill(k, out, const(node.dtype, 0))
    slices = node.attrs["slices"]
    starts = [slice_start(d, s) for d, s in zip(out.shape, slices)]
    _copy(k, _window(out, starts, g.shape, [s[2] or 1 for s in slices]), g)
    return k
