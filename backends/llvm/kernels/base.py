"""A kernel: one LLVM function computing one node (or one fused group) into its buffer.

Its signature is `i32 kernel(ptr buffer0, ..., ptr dims, ptr context)`: the base pointers of
the buffers it reads and writes, the signature dims and the BLAS context table; it returns 0,
or a nonzero code naming what went wrong (an index out of range). Kernels are internal and
never inlined into the entry function, which keeps LLVM's work per function small.
"""
from __future__ import annotations

from typing import Sequence

from llvmlite import ir

from backends.llvm.access import Access, Buffer
from backends.llvm.irutil import I32, PTR, DimValues, i64, ir_type
from graphc.dimenv import DimEnv


class Kernel:
    """The function being emitted, with helpers to address its accesses."""

    def __init__(self, module: ir.Module, name: str, accesses: Sequence[Access], env: DimEnv,
                 extra: Sequence[ir.Type] = ()):
        self.buffers: list[Buffer] = []
        for a in accesses:
            if all(a.buffer is not b for b in self.buffers):
                self.buffers.append(a.buffer)
        fnty = ir.FunctionType(I32, [PTR] * (len(self.buffers) + 2) + list(extra))
        self.function = fn = ir.Function(module, fnty, name=name)
        fn.linkage = "internal"
        fn.attributes.add("noinline")
        fn.attributes.add("nounwind")
        for arg in fn.args[:len(self.buffers)]:
            arg.add_attribute("noalias")
        nbuffers = len(self.buffers)
        self.dims_arg, self.context = fn.args[nbuffers], fn.args[nbuffers + 1]
        self.extra = fn.args[nbuffers + 2:]      # after the usual ones (a chunk's bounds)
        self._bound: dict[int, ir.Value] = {}
        entry = fn.append_basic_block("dims")
        self.body = fn.append_basic_block("body")
        self.dims = DimValues(entry, self.dims_arg, env)
        self.env = env
        self.b = ir.IRBuilder(self.body)
        self._error_blocks: dict[int, ir.Block] = {}

    def bind(self, buffer: Buffer, pointer: ir.Value) -> None:
        """Address `buffer`, which is no argument (scratch memory, say), through `pointer`."""
        self._bound[id(buffer)] = pointer

    def pointer(self, buffer: Buffer) -> ir.Value:
        if id(buffer) in self._bound:
            return self._bound[id(buffer)]
        index = next(i for i, b in enumerate(self.buffers) if b is buffer)
        return self.function.args[index]

    def index(self, a: Access, indices: Sequence[ir.Value]) -> ir.Value:
        """The linear element index of a at the given per-axis indices."""
        b = self.b
        total = self.dims(a.offset)
        for idx, stride, size in zip(indices, a.strides, a.shape):
            if self.env.resolve(size) == 1 or self.env.resolve(stride) == 0:
                continue
            term = idx if self.env.resolve(stride) == 1 else b.mul(idx, self.dims(stride))
            total = b.add(total, term)
        return total

    def address(self, a: Access, linear: ir.Value) -> ir.Value:
        return self.b.gep(self.pointer(a.buffer), [linear], inbounds=True,
                          source_etype=ir_type(a.dtype))

    def load(self, a: Access, indices: Sequence[ir.Value]) -> ir.Value:
        return self.b.load(self.address(a, self.index(a, indices)), typ=ir_type(a.dtype))

    def store(self, a: Access, indices: Sequence[ir.Value], value: ir.Value) -> None:
        self.b.store(value, self.address(a, self.index(a, indices)))

    def fail_if(self, condition: ir.Value, code: int) -> None:
        """Return `code` from the kernel when condition (i1) holds."""
        if code not in self._error_blocks:
            block = self.function.append_basic_block(f"error{code}")
            ir.IRBuilder(block).ret(ir.Constant(I32, code))
            self._error_blocks[code] = block
        go_on = self.function.append_basic_block("ok")
        self.b.cbranch(condition, self._error_blocks[code], go_on)
        self.b.position_at_end(go_on)

    def alloca(self, ty: ir.Type) -> ir.Value:
        """A stack slot made once, in the function's first block (never inside a loop)."""
        return self.dims.builder.alloca(ty)

    def finish(self) -> ir.Function:
        self.b.ret(ir.Constant(I32, 0))
        self.dims.finish(self.body)
        return self.function

    def size(self, shape: Sequence) -> ir.Value:
        total = i64(1)
        for d in shape:
            total = self.b.mul(total, self.dims(d)) if self.env.resolve(d) != 1 else total
        return total

