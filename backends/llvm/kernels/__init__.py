"""KERNELS[op](lowering, node, out, ins) -> Kernel: the native implementation of each op.

Elementwise ops need no entry: their scalar formula is their kernel. MESSAGES[op][code] says
what a nonzero status code from an op's kernel means (the error to raise, as the interpreter
raises it, and the message); CONTIGUOUS holds the ops whose operands the plan copies to
contiguous buffers first (a kernel calling BLAS, say): all of them, or the positions a
function of the node names.
"""
from __future__ import annotations

from typing import Callable, Collection, NamedTuple

from backends.llvm.kernels.elementwise import elementwise
from graphc.tensor import Tensor
from graphc.types import TensorType


class Failure(NamedTuple):
    """What a kernel's nonzero status code stands for."""
    error: type[Exception]          # a GraphcError but for running out of memory
    message: str


class Where(NamedTuple):
    """What a kernel's failure names: its node's op, type and line (the node's own dims, so a
    cache hit shows the new graph's)."""

    op: str
    type: TensorType
    loc: object = None

    @classmethod
    def of(cls, node: Tensor) -> Where:
        return cls(node.op, node.type, node.loc)

    def __str__(self) -> str:
        return f"{self.op} {self.type}" + (f" at {self.loc}" if self.loc else "")


KERNELS: dict[str, Callable] = {"<elementwise>": elementwise}
MESSAGES: dict[str, dict[int, Failure]] = {}
CONTIGUOUS: dict[str, Callable[[Tensor], Collection[int]] | None] = {}
# op -> (plan, node, ins, results) -> {name: Access or anything the emitter needs}, where
# results maps result index -> Access for composites; scratch slots come from plan.scratch()
SCRATCH: dict[str, Callable] = {}
# op -> (plan, node, ins, results, where) that adds the node's steps to the plan itself (a
# fused group becomes one or two kernels)
EXPANDERS: dict[str, Callable] = {}


def register(*ops: str, messages: dict[int, Failure] | None = None,
             contiguous: bool | Callable[[Tensor], Collection[int]] = False,
             scratch: Callable | None = None):
    """Decorate an emitter `(lowering, node, out, ins) -> Kernel` as the kernel of ops.

    For a composite op (scan, fused) `out` is a dict: result index -> Access, holding the
    results the graph reads. The emitter finds its scratch in `lowering.step.scratch`.
    """
    def decorate(fn: Callable) -> Callable:
        for op in ops:
            KERNELS[op] = fn
            if messages:
                MESSAGES[op] = messages
            if contiguous:
                CONTIGUOUS[op] = None if contiguous is True else contiguous
            if scratch:
                SCRATCH[op] = scratch
        return fn
    return decorate


from backends.llvm.kernels import (  # noqa: E402,F401  (importing a family registers it)
    contraction,
    fused,
    indexing,
    layout,
    random,
    reduce,
    scan,
    windows,
)
