"""KERNELS[op](lowering, node, out, ins) -> Kernel: the native implementation of each op.

Elementwise ops need no entry: their scalar formula is their kernel. MESSAGES[op][code] says
what a nonzero status code from an op's kernel means; CONTIGUOUS holds the ops whose operands
the plan copies to contiguous buffers first (a kernel calling BLAS, say).
"""
from __future__ import annotations

from typing import Callable

from backends.llvm.kernels.elementwise import elementwise

KERNELS: dict[str, Callable] = {"<elementwise>": elementwise}
MESSAGES: dict[str, dict[int, str]] = {}
CONTIGUOUS: set[str] = set()


def register(*ops: str, messages: dict[int, str] | None = None, contiguous: bool = False):
    """Decorate an emitter `(lowering, node, out, ins) -> Kernel` as the kernel of ops."""
    def decorate(fn: Callable) -> Callable:
        for op in ops:
            KERNELS[op] = fn
            if messages:
                MESSAGES[op] = messages
            if contiguous:
                CONTIGUOUS.add(op)
        return fn
    return decorate


from backends.llvm.kernels import (  # noqa: E402,F401  (importing a family registers it)
    contraction,
    indexing,
    layout,
    random,
    reduce,
    scan,
    windows,
)
