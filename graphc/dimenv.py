"""A graph's symbolic dims: which symbols its inputs bind, what its nodes assume of them.

The *dim signature* is the ordered list of independent symbols: one per class of input
symbols the nodes' assumptions make equal, in order of first appearance among the inputs.
Every node's shape resolves to ints and signature symbols, so every size is known from the
feeds before any kernel runs. A symbol no input binds (a random draw of shape ("n",) with no
input of that dim) is an error when something needs its value.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from graphc.assumptions import Assumption
from graphc.dims import Dim, evaluate, format_dim, python_source, substitute, symbols
from graphc.errors import FeedError, ShapeError
from graphc.tensor import Tensor
from graphc.types import TensorType


class DimEnv:
    """The dims of one graph: signature, equalities between symbols, the checks feeds pass."""

    def __init__(self, inputs: Sequence[Tensor], nodes: Iterable[Tensor]):
        self._setup(inputs, list(_assumptions(nodes)))

    @classmethod
    def from_assumptions(cls, inputs: Sequence[Tensor],
                         assumptions: Iterable[tuple[Assumption, Any]]) -> DimEnv:
        """The dims of a graph with these inputs whose nodes assume `assumptions`: pairs of an
        assumption and what messages name as its node (anything with `op` and `loc`)."""
        env = cls.__new__(cls)
        env._setup(inputs, list(assumptions))
        return env

    def _setup(self, inputs: Sequence[Tensor], assumptions: list[tuple[Assumption, Any]]):
        self.bound_at: dict[str, list[tuple[int, int]]] = {}
        for i, t in enumerate(inputs):
            for axis, d in enumerate(t.shape):
                if isinstance(d, str):
                    self.bound_at.setdefault(d, []).append((i, axis))
        self.inputs = tuple(inputs)
        self.assumptions = assumptions
        self._parent: dict = {}
        for a, _ in self.assumptions:
            if a.kind == "equal" and _is_plain(a.a) and _is_plain(a.b):
                self._union(a.a, a.b)
        self._rep: dict[str, Dim] = {}
        order = {s: k for k, s in enumerate(self.bound_at)}
        for sym in set(self._parent) | set(self.bound_at):
            if isinstance(sym, str):
                self._rep[sym] = self._representative(sym, order)
        self.signature = [s for s in self.bound_at if self._rep[s] == s]
        anonymous = [s for s in self.bound_at if s.startswith("?")]
        self._shown = {s: f"?{k}" for k, s in enumerate(anonymous, 1)}
        self._check_satisfiable()
        self._check = self._compile_check()

    # ---- equalities ---------------------------------------------------------------------------

    def _find(self, x):
        while self._parent.get(x, x) != x:
            self._parent[x] = self._parent.get(self._parent[x], self._parent[x])
            x = self._parent[x]
        return x

    def _union(self, a, b) -> None:
        self._parent.setdefault(a, a)
        self._parent.setdefault(b, b)
        self._parent[self._find(a)] = self._find(b)

    def _representative(self, sym: str, order: dict[str, int]) -> Dim:
        """What sym's class resolves to: the int it is fixed to, else its first input-bound
        symbol, else its first named symbol."""
        root = self._find(sym)
        members = [m for m in self._parent if self._find(m) == root] or [sym]
        ints = {m for m in members if isinstance(m, int)}
        if len(ints) > 1:
            culprits = [f"{node.op} ({a})" + (f" at {node.loc}" if node.loc else "")
                        for a, node in self.assumptions if a.kind == "equal"
                        and self._find(a.a) == root]
            raise ShapeError(f"dim {sym} would have to equal each of {sorted(ints)}, which no "
                             "feed can satisfy; assumed by " + ", ".join(culprits))
        symbols_ = sorted((m for m in members if isinstance(m, str)),
                          key=lambda m: (order.get(m, len(order)), m.startswith("?"), m))
        return ints.pop() if ints else symbols_[0]

    def resolve(self, d: Dim) -> Dim:
        """d in terms of ints and signature symbols (symbols nothing binds are kept)."""
        return substitute(d, lambda s: self._rep.get(s, s))

    def resolve_shape(self, shape) -> tuple:
        return tuple(self.resolve(d) for d in shape)

    def same_type(self, a: TensorType, b: TensorType) -> bool:
        """Equal dtypes and shapes, given the equalities this graph assumes."""
        return a.dtype == b.dtype and len(a.shape) == len(b.shape) and all(
            x == y or self.resolve(x) == self.resolve(y) for x, y in zip(a.shape, b.shape))

    def unbound(self, d: Dim) -> set[str]:
        """The symbols of d that no input binds."""
        return {s for s in symbols(self.resolve(d)) if s not in self.bound_at}

    # ---- checking feeds -----------------------------------------------------------------------

    def _check_satisfiable(self) -> None:
        """Refuse, at build time, an assumption between dims that resolve to different ints."""
        for a, node in self.assumptions:
            x, y = self.resolve(a.a), self.resolve(a.b)
            if isinstance(x, int) and isinstance(y, int) and not a.holds(x, y):
                where = f" at {node.loc}" if node.loc else ""
                raise ShapeError(f"{node.op}{where} assumes {a}, but the graph fixes "
                                 f"{format_dim(a.a)} = {x} and {format_dim(a.b)} = {y}")

    def _value_source(self, d: Dim) -> str:
        """Python source for d's value from the dict `b` of the input-bound symbols' values."""
        def name_of(s: str) -> str:
            s = s if s in self.bound_at else self._rep.get(s, s)
            return str(s) if isinstance(s, int) else f"b[{s!r}]"
        return python_source(d, name_of)

    def _compile_check(self):
        """One generated boolean expression testing every assumption (the per-call fast path)."""
        tests = []
        for a, _ in self.assumptions:
            if self.unbound(a.a) or self.unbound(a.b):
                continue
            x, y = self._value_source(a.a), self._value_source(a.b)
            tests.append(f"({x}) == ({y})" + (f" or ({x}) == 1" if a.kind == "broadcast" else ""))
        if not tests:
            return None
        source = "def check(b):\n    return " + " and ".join(f"({t})" for t in tests) + "\n"
        namespace: dict = {"__builtins__": {"max": max, "min": min}}
        exec(compile(source, "<graphc-dims>", "exec"), namespace)  # noqa: S102 (our own code)
        return namespace["check"]

    def check(self, bindings: Mapping[str, int], names: Sequence[str]) -> None:
        """Raise FeedError unless every assumption holds for the input-bound dims `bindings`.

        `names` are the inputs' names, for the message.
        """
        if self._check is None or self._check(bindings):
            return
        for a, node in self.assumptions:
            try:
                x, y = self.value(a.a, bindings), self.value(a.b, bindings)
            except KeyError:
                continue
            if not a.holds(x, y):
                raise FeedError(self._explain(a, node, x, y, bindings, names))

    def shown(self, d: Dim) -> str:
        """d as messages show it: anonymous input symbols numbered ?1, ?2, ... in input order."""
        return format_dim(d, lambda s: self._shown.get(s, s))

    def value(self, d: Dim, bindings: Mapping[str, int]) -> int:
        """d's value given the values of the input-bound symbols."""
        return evaluate(d, _Values(self, bindings))

    def _explain(self, a: Assumption, node: Tensor, x: int, y: int,
                 bindings: Mapping[str, int], names: Sequence[str]) -> str:
        where = f" at {node.loc}" if node.loc else ""
        given = []
        for d, value in ((a.a, x), (a.b, y)):
            if isinstance(d, int):
                continue
            sources = []
            for s in sorted(symbols(d)):
                spots = self.bound_at.get(s) or self.bound_at.get(self._rep.get(s), [])
                if spots:
                    i, axis = spots[0]
                    sources.append(f"input {names[i]!r} axis {axis}")
            given.append(f"{self.shown(d)} = {value}" + (f" ({', '.join(sources)})"
                                                         if sources else ""))
        assumed = f"{self.shown(a.a)} == {self.shown(a.b)}" if a.kind == "equal" else \
            f"{self.shown(a.a)} is 1 or {self.shown(a.b)}"
        return (f"the feeds give {' and '.join(given)}, but {node.op}{where} was built "
                f"assuming {assumed}")


class _Values(dict):
    """Symbol values: input-bound ones as fed, the others through their class representative."""

    def __init__(self, env: DimEnv, bindings: Mapping[str, int]):
        super().__init__(bindings)
        self.env = env

    def __missing__(self, symbol: str) -> int:
        rep = self.env._rep.get(symbol, symbol)
        if rep == symbol:
            raise KeyError(symbol)
        return evaluate(rep, self)


def _assumptions(nodes: Iterable[Tensor]):
    """(assumption, node) for the nodes and, since their dims are the graph's, the nodes of
    the subgraphs they hold (a fused group's, a scan body's)."""
    for node in nodes:
        for a in node.assumes:
            yield a, node
        for value in node.attrs.values():
            if hasattr(value, "dims") and hasattr(value, "nodes"):     # a Graph
                yield from value.dims.assumptions


def _is_plain(d: Dim) -> bool:
    return isinstance(d, (int, str))
