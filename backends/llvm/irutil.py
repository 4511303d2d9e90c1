"""Small IR helpers: graphc dtypes as LLVM types, constants, counted loops, dims as i64 values."""
from __future__ import annotations

import contextlib
from typing import Iterator

from llvmlite import ir

from graphc.dimenv import DimEnv
from graphc.dims import Call, Dim, DimExpr

I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
PTR = ir.PointerType()
F32, F64 = ir.FloatType(), ir.DoubleType()
TYPES = {"float32": F32, "float64": F64, "int32": I32, "int64": I64, "bool": I8}
SIZES = {"float32": 4, "float64": 8, "int32": 4, "int64": 8, "bool": 1}


def ir_type(dtype: str) -> ir.Type:
    return TYPES[dtype]


def is_float(dtype: str) -> bool:
    return dtype in ("float32", "float64")


def const(dtype: str, value) -> ir.Constant:
    """A constant of a graphc dtype (floats exactly, bools as 0/1 bytes)."""
    if is_float(dtype):
        return ir.Constant(TYPES[dtype], float(value))
    if dtype == "bool":
        return ir.Constant(TYPES[dtype], int(bool(value)))      # -1.0 is True: 1, not 255
    return ir.Constant(TYPES[dtype], int(value))


def i64(value: int) -> ir.Constant:
    return ir.Constant(I64, int(value))


def entry_alloca(builder: ir.IRBuilder, ty: ir.Type) -> ir.Value:
    """A stack slot made in the function's entry block, so that code inside a loop does not
    grow the stack."""
    # NOTE: from another block it goes at the top of the entry block, through a builder of its
    # own: llvmlite's builder keeps its position as an index, which an insertion before it
    # shifts.
    entry_block = builder.function.entry_basic_block
    if builder.block is entry_block:
        return builder.alloca(ty)
    entry = ir.IRBuilder()
    entry.position_at_start(entry_block)
    return entry.alloca(ty)


def unoptimized(function: ir.Function) -> ir.Function:
    """Leave `function` out of LLVM's optimization (it also gets the quick instruction
    selector): for code whose speed does not matter, to save compile time."""
    function.attributes.add("noinline")
    function.attributes.add("optnone")
    return function


@contextlib.contextmanager
def loop(builder: ir.IRBuilder, stop: ir.Value, start: ir.Value | int = 0,
         name: str = "i", interleave: int | None = None) -> Iterator[ir.Value]:
    """`for (i = start; i < stop; i++)` around the code emitted in the with-block. An
    `interleave` count asks LLVM to vectorize it with that many vectors in flight per
    iteration and not to unroll it (1: a plain loop); None leaves both to LLVM."""
    start = i64(start) if isinstance(start, int) else start
    before = builder.block
    header = builder.append_basic_block(f"{name}.head")
    body = builder.append_basic_block(f"{name}.body")
    after = builder.append_basic_block(f"{name}.end")
    builder.branch(header)
    builder.position_at_end(header)
    index = builder.phi(I64, name=name)
    index.add_incoming(start, before)
    builder.cbranch(builder.icmp_signed("<", index, stop), body, after)
    builder.position_at_end(body)
    yield index
    index.add_incoming(builder.add(index, i64(1), name=f"{name}.next", flags=["nsw"]),
                       builder.block)
    back = builder.branch(header)
    if interleave is not None:
        back.set_metadata("llvm.loop", _loop_hints(builder.module, interleave))
    builder.position_at_end(after)


def _loop_hints(module: ir.Module, interleave: int) -> ir.MDValue:
    """A new loop ID (its first operand itself, as LLVM wants) saying: no unrolling,
    `interleave` vectors per iteration."""
    hints = [module.add_metadata([ir.MetaDataString(module, "llvm.loop.unroll.disable")]),
             module.add_metadata([ir.MetaDataString(module, "llvm.loop.interleave.count"),
                                  I32(interleave)])]
    # NOTE: a unique operand first, so add_metadata makes a new node, then made self-referent
    node = module.add_metadata([ir.MetaDataString(module, f"graphc.loop{len(module.metadata)}")])
    node.operands = (node, *hints)
    return node


class DimValues:
    """Dims as i64 values in one function: constants, or computed from the `dims` argument.

    The dims argument holds the values of the graph's signature symbols, in order; every
    other symbol resolves to them (or to an int) through the graph's DimEnv. Values are
    computed in the function's first block (which `finish` ends with a branch to `body`), so
    any later block may use them; each symbol and subexpression once (an arena offset sums
    every size before it: emitted afresh, the entry's IR grew with the square of its slots).
    """

    def __init__(self, entry: ir.Block, dims_ptr: ir.Value, env: DimEnv):
        self.builder = ir.IRBuilder(entry)
        self.dims_ptr, self.env = dims_ptr, env
        self.position = {s: k for k, s in enumerate(env.signature)}
        self._cache: dict = {}

    def __call__(self, d: Dim) -> ir.Value:
        return self._value(self.env.resolve(d))

    def _value(self, d) -> ir.Value:
        """A resolved dim's value (or an atom's, or a call's argument's), emitted once."""
        if isinstance(d, int):
            return i64(d)
        if d not in self._cache:
            self._cache[d] = self._emit(d)
        return self._cache[d]

    def finish(self, body: ir.Block) -> None:
        # NOTE: at the block's end: code inserted at its top since (BLAS's argument slots)
        # shifted the instructions under this builder's position, an index.
        self.builder.position_at_end(self.builder.block)
        self.builder.branch(body)

    def _emit(self, d) -> ir.Value:
        b = self.builder
        if isinstance(d, int):
            return i64(d)
        if isinstance(d, str):
            if d not in self.position:
                raise ValueError(f"symbolic dim {d} is not bound by any input")
            slot = b.gep(self.dims_ptr, [i64(self.position[d])], inbounds=True, source_etype=I64)
            return b.load(slot, name=f"dim.{d.strip('?')}", typ=I64)
        if isinstance(d, Call):
            args = [self._value(a) for a in d.args]
            if d.fn == "floordiv":
                return b.sdiv(args[0], args[1])       # dims are never negative
            pick = b.icmp_signed(">" if d.fn == "max" else "<", args[0], args[1])
            return b.select(pick, args[0], args[1])
        assert isinstance(d, DimExpr)
        total = None
        for mono, coeff in d.terms:
            term = i64(coeff)
            for atom in mono:
                term = b.mul(term, self._value(atom), flags=["nsw"])
            total = term if total is None else b.add(total, term, flags=["nsw"])
        return total
