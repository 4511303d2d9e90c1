"""Elementwise kernels: one loop nest over the result, operands read by (broadcast) strides.

A node's scalar formula (or a fused group's formulas composed into one expression, sharing
subterms) is evaluated once per element. Axes that every access walks contiguously are
merged first, so the innermost loop is long and unit-stride, which LLVM vectorizes.
"""
from __future__ import annotations

from typing import Sequence

from backends.llvm.access import Access, broadcast
from backends.llvm.irutil import loop
from backends.llvm.kernels.base import Kernel
from backends.llvm.scalar_emit import ScalarEmitter
from graphc import dims as D
from graphc import scalar
from graphc.dimenv import DimEnv
from graphc.registry import OPS
from graphc.scalar import Scalar
from graphc.tensor import Tensor


def collapse(accesses: Sequence[Access], env: DimEnv) -> tuple[tuple, list[tuple]]:
    """The common shape with mergeable adjacent axes merged, and each access's new strides."""
    shape = list(accesses[0].shape)
    strides = [list(a.strides) for a in accesses]
    axis = len(shape) - 2
    while axis >= 0:
        inner = shape[axis + 1]
        if all(env.resolve(s[axis]) == env.resolve(D.mul(s[axis + 1], inner)) for s in strides):
            shape[axis:axis + 2] = [D.mul(shape[axis], inner)]
            for s in strides:
                s[axis:axis + 2] = [s[axis + 1]]
        axis -= 1
    return tuple(shape), [tuple(s) for s in strides]


def loop_kernel(module, env: DimEnv, name: str, outs: Sequence[Access], roots: Sequence[Scalar],
                ins: Sequence[Access]) -> Kernel:
    """A kernel storing each root's value (over operands `ins`) into the matching output."""
    shape = outs[0].shape
    aligned = [broadcast(a, shape, env) for a in ins]
    flat_shape, flat_strides = collapse(list(outs) + aligned, env)
    flat = [Access(a.buffer, flat_shape, s, a.offset)
            for a, s in zip(list(outs) + aligned, flat_strides)]
    k = Kernel(module, name, flat, env)
    emitter = ScalarEmitter(k.b, roots, [a.dtype for a in ins], [o.dtype for o in outs])
    _nest(k, flat_shape, [], flat[:len(outs)], flat[len(outs):], emitter)
    return k


def _nest(k: Kernel, shape: tuple, indices: list, outs: list[Access], ins: list[Access],
          emitter: ScalarEmitter) -> None:
    if len(indices) == len(shape):
        values = emitter.emit([k.load(a, indices) for a in ins])
        for out, value in zip(outs, values):
            k.store(out, indices, value)
        return
    with loop(k.b, k.dims(shape[len(indices)]), name=f"i{len(indices)}") as i:
        _nest(k, shape, indices + [i], outs, ins, emitter)


def formula(node: Tensor) -> Scalar:
    return scalar.trace(OPS[node.op].formula, len(node.inputs), dict(node.attrs))


def elementwise(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    return loop_kernel(low.module, low.env, low.name(node), [out], [formula(node)], ins)


def copy(low, name: str, out: Access, source: Access) -> Kernel:
    """out[...] = source[...] (a view materialized, a result copied out)."""
    return loop_kernel(low.module, low.env, name, [out], [scalar.arg(0)], [source])
