"""Explicit vector code for kernels whose loops LLVM's vectorizers get wrong.

A loop reading every k-th element (pooling's windows, stride k) is vectorized by LLVM with
gathers and scatters, slower than scalar code on Zen; here rows are loaded whole, under a
mask for the last partial vector, and split into their k interleaved parts (and joined back)
with shuffles. Lanes compute the same operations as the scalar code, element by element.
"""
from __future__ import annotations

from llvmlite import ir

from backends.llvm.irutil import I32, PTR
from backends.llvm.vmath.fir import declare, type_suffix


def vector(element: ir.Type, count: int) -> ir.VectorType:
    return ir.VectorType(element, count)


def splat(b: ir.IRBuilder, x: ir.Value, count: int) -> ir.Value:
    """x in every one of count lanes (a constant stays constant)."""
    if isinstance(x, ir.Constant):
        return ir.Constant(vector(x.type, count), [x.constant] * count)
    lanes = b.insert_element(ir.Constant(vector(x.type, count), None), x, I32(0))
    return b.shuffle_vector(lanes, ir.Constant(lanes.type, None),
                            ir.Constant(vector(I32, count), [0] * count))


def first_lanes(b: ir.IRBuilder, count: int, n: ir.Value) -> ir.Value:
    """The mask <count x i1> of lanes below n (an i64)."""
    iota = ir.Constant(vector(n.type, count), list(range(count)))
    return b.icmp_signed("<", iota, splat(b, n, count))


def load(b: ir.IRBuilder, pointer: ir.Value, ty: ir.VectorType, mask: ir.Value) -> ir.Value:
    """The lanes of ty from pointer on that mask selects (the others undefined)."""
    fn = declare(b.module, f"llvm.masked.load.{type_suffix(ty)}.p0",
                 ir.FunctionType(ty, [PTR, I32, mask.type, ty]))
    return b.call(fn, [pointer, I32(_element_bytes(ty)), mask, ir.Constant(ty, None)])


def store(b: ir.IRBuilder, value: ir.Value, pointer: ir.Value, mask: ir.Value) -> None:
    """The lanes of value that mask selects stored from pointer on."""
    fn = declare(b.module, f"llvm.masked.store.{type_suffix(value.type)}.p0",
                 ir.FunctionType(ir.VoidType(), [value.type, PTR, I32, mask.type]))
    b.call(fn, [value, pointer, I32(_element_bytes(value.type)), mask])


def _element_bytes(ty: ir.VectorType) -> int:
    """The alignment the masked intrinsics are promised: one element's."""
    element = ty.element
    return element.width // 8 if isinstance(element, ir.IntType) else (
        8 if isinstance(element, ir.DoubleType) else 4)


def deinterleave(b: ir.IRBuilder, wide: ir.Value, parts: int) -> list[ir.Value]:
    """A vector of count * parts lanes as `parts` vectors: part t holds lanes t, t + parts, ..."""
    count = wide.type.count // parts
    undefined = ir.Constant(wide.type, None)
    return [b.shuffle_vector(wide, undefined,
                             ir.Constant(vector(I32, count), list(range(t, count * parts, parts))))
            for t in range(parts)]


def interleave(b: ir.IRBuilder, parts: list[ir.Value]) -> ir.Value:
    """The inverse of deinterleave: lane j * len(parts) + t is lane j of parts[t]."""
    count, n = parts[0].type.count, len(parts)
    joined = _concatenate(b, parts)
    order = [t * count + j for j in range(count) for t in range(n)]
    return b.shuffle_vector(joined, ir.Constant(joined.type, None),
                            ir.Constant(vector(I32, count * n), order))


def _concatenate(b: ir.IRBuilder, parts: list[ir.Value]) -> ir.Value:
    """parts side by side (padded with undefined vectors to a power of two of them)."""
    while len(parts) > 1:
        if len(parts) % 2:
            parts = parts + [ir.Constant(parts[0].type, None)]
        count = parts[0].type.count
        both = ir.Constant(vector(I32, 2 * count), list(range(2 * count)))
        parts = [b.shuffle_vector(x, y, both) for x, y in zip(parts[::2], parts[1::2])]
    return parts[0]


def transpose(b: ir.IRBuilder, vectors: list[ir.Value]) -> list[ir.Value]:
    """The transpose of a square block held as n vectors of n lanes (n a power of two): lane
    j of result i is lane i of vectors[j]. Each of log2(n) rounds interleaves vector i with
    vector i + n/2, which rotates the bits of (row, lane) by one: n rounds of n shuffles."""
    n = len(vectors)
    low = ir.Constant(vector(I32, n), [k for j in range(n // 2) for k in (j, j + n)])
    high = ir.Constant(vector(I32, n), [k + n // 2 for j in range(n // 2) for k in (j, j + n)])
    for _ in range(n.bit_length() - 1):
        pairs = list(zip(vectors[:n // 2], vectors[n // 2:]))
        vectors = [b.shuffle_vector(x, y, mask) for x, y in pairs for mask in (low, high)]
    return vectors
