"""The op registry: each op declared once, with what passes and backends need to know of it.

An OpDef holds the op's kind and traits, its arity and attribute schema (checked by make()),
its type rule, and its meaning: for an elementwise op a scalar formula over the primitives of
graphc/scalar.py, for other ops a NumPy reference implementation. Gradients live in their own
registry (GRADS), registered beside each op.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from graphc.attrs import Spec
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
    COMPOSITE = "composite"        # a node holding a subgraph (scan, fused groups)


class Trait(enum.Enum):
    """Algebraic and memory facts rewrite rules and backends rely on."""

    COMMUTATIVE = "commutative"    # f(a, b) == f(b, a)
    ASSOCIATIVE = "associative"    # f(f(a, b), c) == f(a, f(b, c)) (exactly, for ints)
    IDEMPOTENT = "idempotent"      # f(a, a) == a
    VIEW = "view"                  # the result may share its first operand's memory
    STATEFUL = "stateful"          # reads state that changes between calls (random draws)


TypeRule = Callable[[list[TensorType], dict[str, Any]], TensorType]
# A gradient rule gets (g, out, *inputs) as Tensors and returns one Tensor or None per input.
GradRule = Callable[..., Any]
# A reference implementation: (node, dims) -> a function of the operand arrays, where
# dims(shape) gives a zero-argument function returning the shape's concrete value.
Reference = Callable[..., Callable]


@dataclass(frozen=True)
class OpDef:
    name: str
    kind: Kind
    type_rule: TypeRule
    arity: int | tuple[int, int | None] = 1
    attrs: Mapping[str, Spec] = field(default_factory=dict)
    traits: frozenset[Trait] = frozenset()
    identity: Any = None           # e: f(x, e) == x (add 0, multiply 1)
    absorbing: Any = None          # z: f(x, z) == z where exact (logical_and False)
    formula: Callable | None = None
    reference: Reference | None = None
    # A check that needs the operand nodes themselves, not only their types (a result
    # picked from a composite must be one it has, of the type it has): (inputs, attrs) -> None.
    node_check: Callable | None = None

    def check_arity(self, count: int) -> None:
        from graphc.errors import GraphError
        low, high = (self.arity, self.arity) if isinstance(self.arity, int) else self.arity
        if count < low or (high is not None and count > high):
            want = f"{low}" if low == high else (f"at least {low}" if high is None
                                                 else f"{low} to {high}")
            noun = "operand" if want == "1" else "operands"
            raise GraphError(f"{self.name}: takes {want} {noun}, got {count}")

    def has(self, trait: Trait) -> bool:
        return trait in self.traits


OPS: dict[str, OpDef] = {}
GRADS: dict[str, GradRule] = {}


def defop(name: str, kind: Kind, type_rule: TypeRule, *,
          arity: int | tuple[int, int | None] = 1, attrs: Mapping[str, Spec] | None = None,
          traits=(), identity=None, absorbing=None, formula: Callable | None = None,
          reference: Reference | None = None, node_check: Callable | None = None) -> OpDef:
    if name in OPS:
        raise ValueError(f"op {name!r} is declared twice")
    if kind is Kind.ELEMENTWISE and formula is None:
        raise ValueError(f"elementwise op {name!r} needs a scalar formula")
    OPS[name] = OpDef(name, kind, type_rule, arity, dict(attrs or {}), frozenset(traits),
                      identity, absorbing, formula, reference, node_check)
    return OPS[name]


def defgrad(name: str, rule: GradRule) -> None:
    GRADS[name] = rule


def ops_of_kind(*kinds: Kind) -> frozenset[str]:
    return frozenset(name for name, op in OPS.items() if op.kind in kinds)


def ops_with(trait: Trait) -> frozenset[str]:
    return frozenset(name for name, op in OPS.items() if trait in op.traits)
