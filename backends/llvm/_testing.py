"""Minimal JIT plumbing for vmath's tests and benchmarks: one loop kernel per module.

The backend's real JIT and cache live elsewhere; this only builds `out[i] = f(in[i], ...)`
loops, optimizes them with the host's O3 pipeline (loop and SLP vectorization on) and loads
them with MCJIT, following shared/notes/llvmlite.md.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from functools import lru_cache

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from backends.llvm.vmath.fir import declare

Emit = Callable[..., ir.Value]  # (builder, *values) -> value
IR_TYPES = {np.dtype("float32"): ir.FloatType(), np.dtype("float64"): ir.DoubleType()}


@lru_cache(maxsize=None)
def target_machine() -> llvm.TargetMachine:
    """The host's target machine, shared by the optimizer and the assembly printer."""
    return new_target_machine()


def new_target_machine() -> llvm.TargetMachine:
    """The host's target machine (its own CPU name and features), O3, JIT code model."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
        opt=3, jit=True)


def optimize(module: ir.Module) -> llvm.ModuleRef:
    """Parse, verify and run the new pass manager's O3 pipeline with vectorization."""
    tm = target_machine()
    mod = llvm.parse_assembly(str(module))
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    mod.verify()
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    return mod


def loop_module(emit: Emit, dtype, arity: int = 1, width: int = 0) -> ir.Module:
    """`void kernel(ptr in_0, ..., ptr out, i64 n)`: out[i] = emit(in_0[i], ...) for i < n.

    With `width` the loop walks `n` vectors of `width` lanes, so the emitter sees vector
    values directly; without it the loop is scalar and LLVM's loop vectorizer widens it.
    """
    elem = IR_TYPES[np.dtype(dtype)]
    ty = ir.VectorType(elem, width) if width else elem
    module = ir.Module(name="vmath_kernel")
    i64, ptr = ir.IntType(64), ir.PointerType()
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [ptr] * (arity + 1) + [i64]),
                     name="kernel")
    fn.attributes.add("nounwind")
    *ins, out, n = fn.args
    for arg in (*ins, out):
        arg.add_attribute("noalias")
    entry, body, done = (fn.append_basic_block(s) for s in ("entry", "body", "done"))
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed(">", n, i64(0)), body, done)
    b.position_at_end(body)
    i = b.phi(i64)
    i.add_incoming(i64(0), entry)
    align = ty.get_abi_size(target_machine().target_data) if width else None
    args = [b.load(b.gep(p, [i], source_etype=ty), typ=ty, align=align) for p in ins]
    b.store(emit(b, *args), b.gep(out, [i], source_etype=ty), align=align)
    nxt = b.add(i, i64(1))
    i.add_incoming(nxt, body)
    b.cbranch(b.icmp_signed("<", nxt, n), body, done)
    b.position_at_end(done)
    b.ret_void()
    return module


class Kernel:
    """A compiled loop kernel: call it on arrays; `.ir` and `.asm` show what LLVM made of it."""

    def __init__(self, module: ir.Module, dtype, arity: int, width: int):
        self.dtype, self.arity, self.lanes = np.dtype(dtype), arity, max(width, 1)
        self.ir = str(module)
        mod = optimize(module)
        self.optimized_ir = str(mod)
        self.asm = target_machine().emit_assembly(mod)
        # NOTE: the engine takes ownership of its target machine, so it gets a fresh one.
        self._engine = llvm.create_mcjit_compiler(mod, new_target_machine())
        self._engine.finalize_object()
        proto = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * (arity + 1), ctypes.c_int64)
        self.raw = proto(self._engine.get_function_address("kernel"))  # (ptrs..., count)

    def __call__(self, *xs: np.ndarray) -> np.ndarray:
        if len(xs) != self.arity:
            raise TypeError(f"kernel takes {self.arity} arrays, got {len(xs)}")
        xs = np.broadcast_arrays(*[np.asarray(x, dtype=self.dtype) for x in xs])
        size = xs[0].size
        pad = -size % self.lanes  # vector kernels take whole vectors
        ins = [aligned(np.concatenate([x.ravel(), np.ones(pad, self.dtype)])) for x in xs]
        res = aligned(np.empty(size + pad, self.dtype))
        self.raw(*[x.ctypes.data for x in ins], res.ctypes.data, (size + pad) // self.lanes)
        return res[:size].reshape(xs[0].shape)


def aligned(x: np.ndarray, align: int = 64) -> np.ndarray:
    """A copy of `x` whose data starts on an `align`-byte boundary (vector loads need it)."""
    buf = np.empty(x.nbytes + align, np.uint8)
    start = -buf.ctypes.data % align
    out = buf[start:start + x.nbytes].view(x.dtype).reshape(x.shape)
    out[...] = x
    return out


def compile_loop(emit: Emit, dtype, arity: int = 1, width: int = 0) -> Kernel:
    """JIT a loop kernel applying `emit` elementwise (see `loop_module`)."""
    return Kernel(loop_module(emit, dtype, arity, width), dtype, arity, width)


def load_libmvec() -> bool:
    """Make glibc's vector math library (`_ZGVdN8v_expf`, ...) resolvable by MCJIT, if present."""
    try:
        llvm.load_library_permanently("libmvec.so.1")
    except RuntimeError:
        return False
    return True


def has_symbol(name: str) -> bool:
    """Whether MCJIT can resolve `name` (e.g. a libmvec function after `load_libmvec`)."""
    return llvm.address_of_symbol(name) is not None


def extern_emitter(symbol: str) -> Emit:
    """Calls the external function `symbol` on the arguments' type: libm's `expf` in a scalar
    loop (the baseline LLVM's `llvm.exp` amounts to), libmvec's `_ZGVdN8v_expf` in a vector one."""
    def emit(b: ir.IRBuilder, *args: ir.Value) -> ir.Value:
        ty = args[0].type
        return b.call(declare(b.module, symbol, ir.FunctionType(ty, [ty] * len(args))), list(args))
    return emit
