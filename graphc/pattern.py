"""Patterns over nodes, and rule sets of (pattern, function), indexed by the pattern's root op.

    P("neg", P("neg", x=P.any))                    neg(neg(x))
    P("add", P.var("x"), P.const(0))               x + 0, either operand order (add commutes)
    P(("exp", "log"), P.var("x"), name="root")     exp(x) or log(x), the node captured as root

A pattern matches an op (or any of several; None: any op), its operands one pattern each (no
operand patterns: any operands), and an optional predicate; a name captures the matched node,
and a name used twice must capture the same node (`x - x`). Operands of a commutative op
match in either order. A rule's function takes the captures as keyword arguments (plus
`node`, the matched root, and `ctx`, the rewrite context, when it asks for them) and returns
the replacement or None, meaning "no match".
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from graphc.registry import OPS, Trait
from graphc.tensor import Tensor


class P:
    """A node pattern: op(s), operand patterns, capture name, predicate."""

    __slots__ = ("ops", "inputs", "name", "where")

    def __init__(self, op: str | tuple[str, ...] | None = None, *inputs: P,
                 name: str | None = None, where: Callable[[Tensor], bool] | None = None):
        self.ops = None if op is None else ((op,) if isinstance(op, str) else tuple(op))
        for o in self.ops or ():
            if o not in OPS:
                raise ValueError(f"pattern names unknown op {o!r}")
        self.inputs, self.name, self.where = inputs, name, where

    @staticmethod
    def var(name: str, where: Callable[[Tensor], bool] | None = None) -> P:
        """Any node, captured as `name`."""
        return P(None, name=name, where=where)

    @staticmethod
    def const(value=None, name: str | None = None) -> P:
        """A constant (equal to `value` everywhere, when given)."""
        test = None if value is None else (lambda t: _all_equal(t, value))
        return P("constant", name=name, where=test)

    def match(self, node: Tensor, captures: dict[str, Tensor]) -> bool:
        if self.ops is not None and node.op not in self.ops:
            return False
        if self.where is not None and not self.where(node):
            return False
        if self.name is not None:
            seen = captures.get(self.name)
            if seen is not None and seen is not node:
                return False
        if self.inputs:
            if len(self.inputs) != len(node.inputs) or not self._match_inputs(node, captures):
                return False
        if self.name is not None:
            captures[self.name] = node
        return True

    def _match_inputs(self, node: Tensor, captures: dict[str, Tensor]) -> bool:
        orders = [node.inputs]
        if len(node.inputs) == 2 and OPS[node.op].has(Trait.COMMUTATIVE):
            orders.append(node.inputs[::-1])
        for operands in orders:
            trial = dict(captures)
            if all(p.match(t, trial) for p, t in zip(self.inputs, operands)):
                captures.update(trial)
                return True
        return False

    def __repr__(self) -> str:
        head = "*" if self.ops is None else "|".join(self.ops)
        inner = ", ".join(map(repr, self.inputs))
        return f"{head}({inner})" + (f" as {self.name}" if self.name else "")


def _all_equal(t: Tensor, value) -> bool:
    array = t.attrs["value"].array
    with np.errstate(all="ignore"):
        return bool(array.size) and bool(np.all(array == value))


@dataclass(frozen=True)
class Rule:
    """A pattern and the function building its replacement; `name` is what reports count."""

    pattern: P
    fn: Callable[..., Tensor | None]
    name: str
    wants: frozenset[str]        # which of "node", "ctx" fn takes

    def apply(self, node: Tensor, ctx) -> Tensor | None:
        captures: dict[str, Tensor] = {}
        if not self.pattern.match(node, captures):
            return None
        extras = {"node": node, "ctx": ctx}
        return self.fn(**captures, **{k: extras[k] for k in self.wants})


def rule(pattern: P, fn: Callable[..., Tensor | None], name: str | None = None) -> Rule:
    params = inspect.signature(fn).parameters
    return Rule(pattern, fn, name or fn.__name__, frozenset(k for k in ("node", "ctx")
                                                            if k in params))


class RuleSet:
    """Rules indexed by root op; `rules + more` composes two sets."""

    def __init__(self, rules: Iterable[Rule | tuple] = ()):
        self.rules = [r if isinstance(r, Rule) else rule(*r) for r in rules]
        self._by_op: dict[str, list[Rule]] = {}
        self._any: list[Rule] = []
        for r in self.rules:
            if r.pattern.ops is None:
                self._any.append(r)
            for op in r.pattern.ops or ():
                self._by_op.setdefault(op, []).append(r)

    def for_op(self, op: str) -> Iterator[Rule]:
        yield from self._by_op.get(op, ())
        yield from self._any

    def __add__(self, other: RuleSet) -> RuleSet:
        return RuleSet(self.rules + other.rules)

    def __len__(self) -> int:
        return len(self.rules)
