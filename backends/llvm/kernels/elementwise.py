"""Elementwise kernels: one loop nest over the result, operands read by (broadcast) strides.

A node's scalar formula (or a fused group's formulas composed into one expression, sharing
subterms) is evaluated once per element. Axes that every access walks contiguously are
merged first, so the innermost loop is long and unit-stride, which LLVM vectorizes. A big
loop nest is shared with the thread team by ranges of its outermost axis (parallel.py).
"""
from __future__ import annotations

from typing import Sequence

from backends.llvm import parallel
from backends.llvm.access import Access, broadcast
from backends.llvm.irutil import i64, loop
from backends.llvm.kernels.base import Kernel
from backends.llvm.scalar_emit import ScalarEmitter
from graphc import dims as D
from graphc import scalar
from graphc.dimenv import DimEnv
from graphc.registry import OPS
from graphc.scalar import Scalar
from graphc.tensor import Tensor


def collapse(accesses: Sequence[Access], env: DimEnv,
             kinds: Sequence | None = None) -> tuple[tuple, list[tuple], tuple]:
    """The common shape with axes of size 1 dropped and mergeable adjacent axes merged (only
    axes of the same kind, when kinds are given), each access's new strides, the kinds left."""
    keep = [i for i, d in enumerate(accesses[0].shape) if env.resolve(d) != 1]
    shape = [accesses[0].shape[i] for i in keep]
    strides = [[a.strides[i] for i in keep] for a in accesses]
    kinds = [None if kinds is None else kinds[i] for i in keep]
    axis = len(shape) - 2
    while axis >= 0:
        inner = shape[axis + 1]
        if kinds[axis] == kinds[axis + 1] and all(
                env.resolve(s[axis]) == env.resolve(D.mul(s[axis + 1], inner)) for s in strides):
            shape[axis:axis + 2] = [D.mul(shape[axis], inner)]
            kinds[axis:axis + 2] = [kinds[axis]]
            for s in strides:
                s[axis:axis + 2] = [s[axis + 1]]
        axis -= 1
    return tuple(shape), [tuple(s) for s in strides], tuple(kinds)


def loop_kernel(module, env: DimEnv, name: str, outs: Sequence[Access], roots: Sequence[Scalar],
                ins: Sequence[Access]) -> Kernel:
    """A kernel storing each root's value (over operands `ins`) into the matching output.

    Its loop nest is a chunk function over a range of the outermost axis, which the kernel
    runs whole or, when the work is large, shares with the thread team (backends/llvm/
    parallel.py); each element is computed the same way either way. A nest of static sizes
    too small ever to be shared is the kernel's own loop.
    """
    shape = outs[0].shape
    # NOTE: a fused group may pass operands its expressions never read (of another shape)
    read = _arguments(roots)
    used = [broadcast(a, shape, env) for i, a in enumerate(ins) if i in read]
    flat_shape, flat_strides, _ = collapse(list(outs) + used, env)
    flat = iter(Access(a.buffer, flat_shape, s, a.offset)
                for a, s in zip(list(outs) + used, flat_strides))
    targets = [next(flat) for _ in outs]
    operands = [next(flat) if i in read else None for i in range(len(ins))]
    dtypes = [a.dtype for a in ins], [o.dtype for o in outs]
    accessed = targets + [a for a in operands if a is not None]
    k = Kernel(module, name, accessed, env)
    cost = parallel.expression_cost(roots)
    inner = env.resolve(flat_shape[-1]) if flat_shape else 1
    interleave = parallel.interleave(cost, inner if isinstance(inner, int) else None)
    if not parallel.may_share(parallel.static_work(env, flat_shape, cost)):
        _nest(k, flat_shape, [], targets, operands, ScalarEmitter(k.b, roots, *dtypes),
              interleave=interleave)
        parallel.vector_width(k.function, cost)
        return k
    chunk = Kernel(module, name + ".chunk", accessed, env, extra=parallel.CHUNK_ARGS)
    lo, hi = chunk.extra[:2]
    _nest(chunk, flat_shape, [], targets, operands, ScalarEmitter(chunk.b, roots, *dtypes),
          (lo, hi), interleave)
    parallel.finish_chunk(chunk, cost)
    item_work = k.b.mul(k.size(flat_shape[1:]), i64(cost))
    parallel.check(k, parallel.run_chunks(k, chunk.function, k.dims(flat_shape[0]), item_work))
    return k


def _arguments(roots: Sequence[Scalar]) -> set[int]:
    """The operand indices the expressions read."""
    found, seen, stack = set(), set(), list(roots)
    while stack:
        e = stack.pop()
        if id(e) not in seen:
            seen.add(id(e))
            if e.prim == "arg":
                found.add(e.value)
            stack.extend(e.args)
    return found


def _nest(k: Kernel, shape: tuple, indices: list, outs: list[Access], ins: list,
          emitter: ScalarEmitter, bounds: tuple | None = None,
          interleave: int | None = None) -> None:
    """The loops over `shape` around the stores; the outermost runs over `bounds` if given."""
    if len(indices) == len(shape):
        values = emitter.emit([None if a is None else k.load(a, indices) for a in ins])
        for out, value in zip(outs, values):
            k.store(out, indices, value)
        return
    start, stop = bounds if bounds is not None else (0, k.dims(shape[len(indices)]))
    with loop(k.b, stop, start, name=f"i{len(indices)}", interleave=interleave) as i:
        _nest(k, shape, indices + [i], outs, ins, emitter, interleave=interleave)


def formula(node: Tensor) -> Scalar:
    return scalar.trace(OPS[node.op].formula, len(node.inputs), dict(node.attrs))


def elementwise(low, node: Tensor, out: Access, ins: list[Access]) -> Kernel:
    return loop_kernel(low.module, low.env, low.name(node), [out], [formula(node)], ins)


def copy(low, name: str, out: Access, source: Access) -> Kernel:
    """out[...] = source[...] (a view materialized, a result copied out)."""
    return loop_kernel(low.module, low.env, name, [out], [scalar.arg(0)], [source])
