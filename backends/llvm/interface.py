"""What calling compiled code needs to know of its graph, apart from the graph: `Interface`.

The call path (native_call.py, callpath.py, function.py) reads only this: the inputs'
placeholders, the variables in the order the code's table has them and the ones the last
outputs assign, the outputs' types, the dims (signature, assumptions), the arena's size, what
each kernel's status code means and whether the code calls BLAS. A plan gives it
(`Interface.from_plan`); `encode`/`decode` turn it into plain JSON data and back, relative to
the graph as the user built it (variables by position, symbolic dims by their printed names),
which is what lets a cache hit skip optimizing and planning the graph (backends/llvm/__init__.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from backends.llvm.kernels import MESSAGES, Failure, Where
from backends.llvm.lower import Plan
from graphc import dims as D
from graphc.assumptions import Assumption
from graphc.dimenv import DimEnv
from graphc.dims import Call, Dim, DimExpr
from graphc.dtypes import DTYPES
from graphc.errors import GraphcError
from graphc.graph import Graph
from graphc.tensor import Tensor
from graphc.types import TensorType

BLAS_OPS = ("matmul", "conv", "conv_input_grad", "conv_weight_grad")


class Origin(NamedTuple):
    """The node an assumption or a kernel came from, as messages name it."""

    op: str
    loc: str | None


class Step(NamedTuple):
    """A kernel of the entry: its node's op ("copy": none), and what its failure names."""

    op: str
    what: Where | str


@dataclass(frozen=True)
class Interface:
    """What the call path reads of a compiled graph (see the module's docstring)."""

    inputs: tuple[Tensor, ...]          # placeholders
    variables: tuple[Tensor, ...]       # variable nodes, in the code's table order
    targets: tuple                      # the Variables the last len(targets) outputs assign
    outputs: tuple[TensorType, ...]     # the graph's outputs, then the updates' new values
    dims: DimEnv
    arena_size: Dim
    steps: tuple[Step, ...]
    blas: bool

    @classmethod
    def from_plan(cls, plan: Plan, targets: tuple) -> Interface:
        graph = plan.graph
        steps = tuple(Step(s.node.op if s.node is not None else "copy", s.what)
                      for s in plan.steps)
        return cls(tuple(graph.inputs), tuple(graph.variables), tuple(targets),
                   tuple(t.type for t in graph.outputs), graph.dims, plan.arena_size, steps,
                   _calls_blas(plan))

    def error(self, status: int) -> tuple[Step, Failure]:
        """The step and failure a nonzero status from the entry function stands for."""
        step = self.steps[status // 256 - 1]
        unknown = Failure(GraphcError, f"error code {status % 256}")
        return step, MESSAGES.get(step.op, {}).get(status % 256, unknown)

    def encode(self, source: Graph, names: dict[str, str]) -> dict | None:
        """JSON data relative to `source` (whose dims print as `names`), or None when this
        interface refers to something `source` lacks (a variable, a placeholder, a dim)."""
        variables = {id(v.attrs["var"]): k for k, v in enumerate(source.variables)}
        if len(self.inputs) != len(source.inputs) or not all(
                map(lambda a, b: a is b, self.inputs, source.inputs)):
            return None
        try:
            return {"variables": [variables[id(v.attrs["var"])] for v in self.variables],
                    "variable_types": [[v.dtype, [_encode(d, names) for d in v.shape]]
                                       for v in self.variables],
                    "targets": [variables[id(t)] for t in self.targets],
                    "outputs": [[t.dtype, [_encode(d, names) for d in t.shape]]
                                for t in self.outputs],
                    "assumptions": [[a.kind, _encode(a.a, names), _encode(a.b, names),
                                     node.op, None if node.loc is None else str(node.loc)]
                                    for a, node in self.dims.assumptions],
                    "arena_size": _encode(self.arena_size, names),
                    "steps": [[s.op, _encode_where(s.what, names)] for s in self.steps],
                    "blas": self.blas}
        except KeyError:
            return None

    @classmethod
    def decode(cls, data: dict, source: Graph, names: dict[str, str]) -> Interface:
        """The interface `encode` described, for `source`; ValueError if it does not fit."""
        try:
            symbol = {printed: sym for sym, printed in names.items()}
            dim = _decoder(symbol)
            variables = tuple(source.variables[k] for k in _indexes(data["variables"]))
            targets = tuple(source.variables[k].attrs["var"] for k in _indexes(data["targets"]))
            outputs = tuple(TensorType(_dtype(dtype), tuple(dim(d) for d in shape))
                            for dtype, shape in data["outputs"])
            assumptions = [(Assumption(_text(kind), dim(a), dim(b)),
                            Origin(_text(op), None if loc is None else _text(loc)))
                           for kind, a, b, op, loc in data["assumptions"]]
            steps = tuple(Step(_text(op), _decode_where(what, dim))
                          for op, what in data["steps"])
            blas = data["blas"]
            # NOTE: what the graph itself says must agree: a record of another graph (or of
            # a bug) is refused rather than handed to native code
            types = [TensorType(_dtype(dtype), tuple(dim(d) for d in shape))
                     for dtype, shape in data["variable_types"]]
            if (not isinstance(blas, bool)
                    or len(outputs) != len(source.outputs) + len(targets)
                    or [t.dtype for t in outputs[:len(source.outputs)]]
                    != [t.dtype for t in source.outputs]
                    or types != [v.type for v in variables]
                    or any(a.kind not in ("equal", "broadcast") for a, _ in assumptions)):
                raise ValueError("an interface of another graph")
            return cls(tuple(source.inputs), variables, targets, outputs,
                       DimEnv.from_assumptions(source.inputs, assumptions),
                       dim(data["arena_size"]), steps, blas)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError,
                GraphcError) as exc:
            raise ValueError(f"an interface that does not fit its graph ({exc!r})") from None


def _calls_blas(plan: Plan) -> bool:
    """Whether a step (or a step of a scan's body) may call BLAS, which needs the context."""
    return any(s.node is not None and s.node.op in BLAS_OPS
               or isinstance(s.scratch.get("plan"), Plan) and _calls_blas(s.scratch["plan"])
               for s in plan.steps)


# ---- dims as JSON: an int, a symbol's printed name, {"terms": [[atoms, coeff]...]} or
# {"call": fn, "args": [...]} for an atom max(a, b), min(a, b), a // k --------------------------

def _encode(d, names: dict[str, str]):
    if isinstance(d, bool):
        raise TypeError(f"{d!r} is not a dim")
    if isinstance(d, int):
        return d
    if isinstance(d, str):
        return names[d]             # KeyError: a symbol the source graph does not have
    if isinstance(d, Call):
        return {"call": d.fn, "args": [_encode(a, names) for a in d.args]}
    assert isinstance(d, DimExpr)
    return {"terms": [[[_encode(a, names) for a in mono], coeff] for mono, coeff in d.terms]}


def _decoder(symbol: dict[str, str]):
    """Data `_encode` made -> the dim, rebuilt (canonically) from the source's own symbols."""
    def dim(data) -> Dim:
        if isinstance(data, int) and not isinstance(data, bool):
            return data
        if isinstance(data, str):
            return symbol[data]
        if isinstance(data, dict) and "call" in data:
            fn, args = data["call"], [dim(a) for a in data["args"]]
            if fn == "floordiv" and len(args) == 2 and isinstance(args[1], int) and args[1] > 0:
                return D.floordiv(args[0], args[1])
            if fn in ("max", "min") and len(args) == 2:
                return (D.maximum if fn == "max" else D.minimum)(*args)
            raise ValueError(f"unknown dim call {fn!r}")
        total: Dim = 0
        for atoms, coeff in data["terms"]:
            if not isinstance(coeff, int) or isinstance(coeff, bool):
                raise ValueError(f"coefficient {coeff!r}")
            total = D.add(total, D.product([coeff, *map(dim, atoms)]))
        return total
    return dim


def _encode_where(what: Where | str, names: dict[str, str]):
    if isinstance(what, str):
        return what
    return [what.op, what.type.dtype, [_encode(d, names) for d in what.type.shape],
            None if what.loc is None else str(what.loc)]


def _decode_where(data, dim) -> Where | str:
    if isinstance(data, str):
        return data
    op, dtype, shape, loc = data
    return Where(_text(op), TensorType(_dtype(dtype), tuple(dim(d) for d in shape)),
                 None if loc is None else _text(loc))


def _indexes(values) -> list[int]:
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        raise ValueError(f"indexes {values!r}")
    return list(values)


def _dtype(value) -> str:
    if value not in DTYPES:
        raise ValueError(f"dtype {value!r}")
    return value


def _text(value) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    return value
