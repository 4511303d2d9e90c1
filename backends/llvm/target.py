"""The host's LLVM target machine, made once per process, and a fingerprint of it for cache keys.

Code is generated for the CPU this process runs on (its name and feature flags), so object code
cached on disk is only valid on a host with the same fingerprint.
"""
from __future__ import annotations

import functools
import threading

import llvmlite
import llvmlite.binding as llvm
from llvmlite import ir

# NOTE: llvmlite's binding layer shares one global LLVM context and is not thread-safe; every
# call into it (parsing, optimizing, code generation, linking) holds this lock.
LLVM_LOCK = threading.RLock()

_machine: llvm.TargetMachine | None = None


def host_target_machine() -> llvm.TargetMachine:
    """The target machine for the host CPU at opt level 3 with the JIT code model (cached)."""
    # NOTE: never hand this machine to llvm.create_mcjit_compiler: an MCJIT engine takes
    # ownership of its target machine and frees it when it is collected, leaving the cached
    # one dangling (the next use segfaults). ORC's LLJIT copies what it needs.
    global _machine
    with LLVM_LOCK:
        if _machine is None:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            target = llvm.Target.from_default_triple()
            # NOTE: jit=True selects the 'jitdefault' code model, large on x86-64: calls to
            # libm go through a 64-bit absolute address, so the loader may place the code
            # anywhere relative to the libraries.
            _machine = target.create_target_machine(
                cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
                opt=3, jit=True)
        return _machine


@functools.cache
def host_fingerprint() -> str:
    """Everything object code depends on besides the IR: triple, CPU, features, versions."""
    machine = host_target_machine()
    features = llvm.get_host_cpu_features().flatten()
    llvm_version = ".".join(map(str, llvm.llvm_version_info))
    return (f"triple={machine.triple} cpu={llvm.get_host_cpu_name()} features={features} "
            f"llvmlite={llvmlite.__version__} llvm={llvm_version}")


# NOTE: set to 256 or 512 to compare widths (benchmarks/llvm_threads.py); None: the host's.
VECTOR_BITS_OVERRIDE: int | None = None


@functools.cache
def _host_vector_bits() -> int | None:
    """The widest vectors worth asking LLVM for: 512 bits where the host has AVX-512F."""
    # NOTE: LLVM prefers 256-bit vectors on most AVX-512 CPUs (its Prefer256Bit tuning, from
    # the clock drop older Xeons took on 512-bit code); loops bound by arithmetic gain from
    # 512 (see backends/llvm/parallel.py ARITHMETIC_BOUND).
    return 512 if llvm.get_host_cpu_features().get("avx512f") else None


@functools.cache
def register_bits() -> int:
    """The width of the host's vector registers: 512 (AVX-512F), 256 (AVX) or 128."""
    features = llvm.get_host_cpu_features()
    return 512 if features.get("avx512f") else 256 if features.get("avx") else 128


def prefer_wide_vectors(function: ir.Function) -> ir.Function:
    """Let the vectorizers use the host's widest useful vectors in `function`."""
    bits = VECTOR_BITS_OVERRIDE or _host_vector_bits()
    if bits:
        # NOTE: llvmlite's attribute set only knows enum attributes; the set itself takes
        # a string attribute, which the function's definition then prints as is.
        set.add(function.attributes, f'"prefer-vector-width"="{bits}"')
    return function
