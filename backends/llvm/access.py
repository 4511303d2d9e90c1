"""Where a value lives: a buffer, and a strided view of it (shape, strides, offset as dims).

View ops (transpose, slice, broadcast_to, stop_gradient, reshape of a contiguous value or
one that only adds or drops axes of size 1) cost no code: their value is a new Access to
their operand's buffer, and the kernels reading them index it by strides. Strides and
offsets are dims (graphc/dims.py), so they may depend on symbolic dims; a symbolic dim that
may be 1 (assumed to broadcast) gets the stride min(d - 1, 1) * s, which is 0 when d is 1.
"""
from __future__ import annotations

from dataclasses import dataclass

from graphc import dims as D
from graphc.dimenv import DimEnv
from graphc.dims import Dim
from graphc.ops.layout import slice_start
from graphc.tensor import Tensor


@dataclass(frozen=True, eq=False)
class Buffer:
    """Memory the entry function gets a pointer to (inputs, variables and outputs by table
    position, arena slots at an offset, constants as globals)."""

    kind: str          # "input", "variable", "output", "arena", "constant"
    index: int
    dtype: str
    size: Dim          # in elements


@dataclass(frozen=True)
class Access:
    buffer: Buffer
    shape: tuple
    strides: tuple     # in elements
    offset: Dim = 0

    @property
    def dtype(self) -> str:
        return self.buffer.dtype


def row_major(shape: tuple) -> tuple:
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step)
        step = D.mul(step, d)
    return tuple(reversed(strides))


def whole(buffer: Buffer, shape: tuple) -> Access:
    return Access(buffer, tuple(shape), row_major(tuple(shape)), 0)


def is_contiguous(a: Access, env: DimEnv) -> bool:
    """Row-major without gaps (axes of size 1 may have any stride)."""
    want = row_major(a.shape)
    return all(env.resolve(d) == 1 or env.resolve(s) == env.resolve(w)
               for d, s, w in zip(a.shape, a.strides, want))


def broadcast(a: Access, shape: tuple, env: DimEnv) -> Access:
    """a read as an array of `shape` by NumPy's broadcasting."""
    lead = len(shape) - len(a.shape)
    strides = [0] * lead
    for d, s, want in zip(a.shape, a.strides, shape[lead:]):
        rd, rw = env.resolve(d), env.resolve(want)
        if rd == 1 and rw != 1:
            strides.append(0)
        elif rd == rw or isinstance(rd, int):
            strides.append(s)
        else:                      # a symbol assumed to be 1 or the result's dim
            strides.append(D.mul(D.minimum(D.sub(d, 1), 1), s))
    return Access(a.buffer, tuple(shape), tuple(strides), a.offset)


def view(node: Tensor, a: Access, env: DimEnv) -> Access | None:
    """The access a view op gives its operand's access; None when it needs a copy."""
    op = node.op
    if op == "stop_gradient":
        return a
    if op == "reshape":
        if is_contiguous(a, env):
            return Access(a.buffer, node.shape, row_major(node.shape), a.offset)
        strides = unit_axes_only(a, node.shape, env)
        return None if strides is None else Access(a.buffer, node.shape, strides, a.offset)
    if op == "transpose":
        perm = node.attrs["perm"]
        return Access(a.buffer, node.shape, tuple(a.strides[p] for p in perm), a.offset)
    if op == "broadcast_to":
        return broadcast(a, node.shape, env)
    if op == "slice":
        offset, strides = a.offset, []
        for d, s, sl in zip(a.shape, a.strides, node.attrs["slices"]):
            offset = D.add(offset, D.mul(slice_start(d, sl), s))
            strides.append(D.mul(s, sl[2] or 1))
        return Access(a.buffer, node.shape, tuple(strides), offset)
    raise ValueError(f"{op} is not a view")


def unit_axes_only(a: Access, shape: tuple, env: DimEnv) -> tuple | None:
    """Strides reading a strided a as `shape` when that only adds or drops axes of size 1
    (a time step z[:, t] of a batch-major sequence as a matrix); None for any other reshape."""
    kept = iter([(d, s) for d, s in zip(a.shape, a.strides) if env.resolve(d) != 1])
    strides = []
    for d, unit in zip(shape, row_major(shape)):
        if env.resolve(d) == 1:
            strides.append(unit)
            continue
        old = next(kept, None)
        if old is None or env.resolve(old[0]) != env.resolve(d):
            return None
        strides.append(old[1])
    return None if next(kept, None) is not None else tuple(strides)
