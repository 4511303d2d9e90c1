"""KERNELS[op](lowering, node, out, ins) -> Kernel: the native implementation of each op.

Elementwise ops need no entry: their scalar formula is their kernel. MESSAGES[op][code] says
what a nonzero status code from an op's kernel means.
"""
from __future__ import annotations

from typing import Callable

from backends.llvm.kernels.elementwise import elementwise

KERNELS: dict[str, Callable] = {"<elementwise>": elementwise}
MESSAGES: dict[str, dict[int, str]] = {}


def register(*ops: str, messages: dict[int, str] | None = None):
    def decorate(fn: Callable) -> Callable:
        for op in ops:
            KERNELS[op] = fn
            if messages:
                MESSAGES[op] = messages
        return fn
    return decorate
