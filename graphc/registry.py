"""The op registry: each op declared once (kind, type rule), its gradient registered beside it."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Callable

from graphc.types import TensorType


class Kind(enum.Enum):
    """What an op does to its operands; fusion and rendering read it."""

    LEAF = "leaf"                  # placeholder, variable, constant
    ELEMENTWISE = "elementwise"
    REDUCTION = "reduction"
    LAYOUT = "layout"              # reshape, transpose, slicing, concatenation, padding
    CONTRACTION = "contraction"    # matmul, convolution
    INDEXING = "indexing"          # gather and scatter
    RANDOM = "random"
    COMPOSITE = "composite"        # a node holding a subgraph (fused groups)


TypeRule = Callable[[list[TensorType], dict[str, Any]], TensorType]
# A gradient rule gets (g, out, *inputs) as Tensors and returns one Tensor or None per input.
GradRule = Callable[..., Any]


@dataclass(frozen=True)
class OpDef:
    name: str
    kind: Kind
    type_rule: TypeRule


OPS: dict[str, OpDef] = {}
GRADS: dict[str, GradRule] = {}


def defop(name: str, kind: Kind, type_rule: TypeRule) -> OpDef:
    if name in OPS:
        raise ValueError(f"op {name!r} is declared twice")
    OPS[name] = OpDef(name, kind, type_rule)
    return OPS[name]


def defgrad(name: str, rule: GradRule) -> None:
    GRADS[name] = rule
