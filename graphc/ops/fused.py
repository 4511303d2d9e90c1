"""fused: a fusion group as one node holding its subgraph; fused_result picks one of its results.

The fusion pass (graphc/passes/fusion.py) replaces each group of nodes a backend can run as
one loop nest by two kinds of node, the way scan is built:
- `fused` (inputs: the group's operands) holds `body`, a Graph whose inputs stand for the
  operands, in order, and whose outputs are the group's results, in order, and `kind`:
    "elementwise"  elementwise ops only, all of one shape (operands may broadcast into it);
    "epilogue"     one anchor (a matmul, convolution or reduction, reading only operands)
                   and elementwise ops of the anchor's shape after it (bias + activation);
    "prologue"     one reduction (a result, read by nothing in the body) and elementwise ops
                   of its operand's shape feeding it (exp before the sum of a softmax).
    "rows"         any ops (fused groups among them) that keep the rows of a batch apart
                   (graphc/rows.py), so a backend may run the body on pieces of the batch
                   (graphc/passes/row_groups.py); no random draws, no state, no scans.
  Scalar constants live in the body; every member keeps its source line, scope and gradient
  origin there. Like scan, its declared type is a token; its value is the tuple of results.
- `fused_result` (input: the fused node) picks result `index`, of type `type`.
Fusion runs after autodiff, so neither op has a gradient; passes leave bodies alone.
"""
from __future__ import annotations

from typing import Sequence

from graphc.assumptions import same_dim
from graphc.attrs import GRAPH, NONNEG_INT, TYPE, one_of
from graphc.errors import DTypeError, GraphError, ShapeError
from graphc.graph import Graph
from graphc.ops.scan import TOKEN
from graphc.registry import OPS, Kind, Trait, defop
from graphc.rewrite import SUBGRAPH_GUARDS
from graphc.tensor import Tensor, make
from graphc.types import shape_str

KINDS = ("elementwise", "epilogue", "prologue", "rows")
# Reductions along axes: their loop runs over the operand, so elementwise producers fold in.
AXIS_REDUCTIONS = frozenset({"sum", "prod", "max", "min", "argmax", "argmin"})


def is_epilogue_anchor(op: str) -> bool:
    """A matmul, convolution or reduction, whose result elementwise ops may be fused after."""
    return OPS[op].kind in (Kind.CONTRACTION, Kind.REDUCTION) and op != "shape_size"


def is_prologue_anchor(op: str) -> bool:
    """A reduction along axes, into which elementwise producers of its operand may fold."""
    return op in AXIS_REDUCTIONS


def _check_body(body: Graph, kind: str) -> None:
    """The body holds what its kind promises, so a backend can lower it as one loop nest."""
    inner = [n for n in body.nodes if n.op not in ("placeholder", "constant")]
    for n in body.nodes:
        if n.op == "constant" and n.ndim:
            raise GraphError(f"the body holds a constant of shape {shape_str(n.shape)}; only "
                             "scalar constants live in a body, arrays are operands")
        if n.op == "variable":
            raise GraphError("the body reads a variable; variables are operands")
    for out in body.outputs:
        if out.op in ("placeholder", "constant"):
            raise GraphError(f"the body returns a {out.op}, not a value it computes")
    if kind == "rows":
        drawn = [n for n in inner if OPS[n.op].kind is Kind.RANDOM
                 or OPS[n.op].has(Trait.STATEFUL) or n.op == "scan"]
        if drawn:
            raise GraphError(f"a row group holds a {drawn[0].op} node, which a piece of the "
                             "batch would not run as the whole batch does")
        return
    anchors = [n for n in inner if OPS[n.op].kind is not Kind.ELEMENTWISE]
    if kind == "elementwise":
        if anchors:
            raise GraphError(f"an elementwise group holds a {anchors[0].op} node")
        return
    if len(anchors) != 1:
        held = f" ({', '.join(n.op for n in anchors)})" if anchors else ""
        raise GraphError(f"a fused {kind} holds exactly one matmul, convolution or reduction; "
                         f"this one holds {len(anchors)}{held}")
    anchor = anchors[0]
    if kind == "epilogue":
        if not is_epilogue_anchor(anchor.op):
            raise GraphError(f"an epilogue follows a matmul, convolution or reduction, not "
                             f"a {anchor.op}")
        if any(i.op not in ("placeholder", "constant") for i in anchor.inputs):
            raise GraphError(f"the {anchor.op} of an epilogue group reads a value computed "
                             "in the group")
    else:
        if not is_prologue_anchor(anchor.op):
            raise GraphError(f"a prologue feeds a reduction along axes, not a {anchor.op}")
        if any(i is anchor for n in inner for i in n.inputs):
            raise GraphError(f"the {anchor.op} of a prologue group is read in the group")


def _fused_rule(types, attrs):
    body = attrs["body"]
    if len(types) != len(body.inputs):
        raise GraphError(f"got {len(types)} operands, the body takes {len(body.inputs)}")
    for i, (t, want) in enumerate(zip(types, body.inputs)):
        if t.dtype != want.dtype:
            raise DTypeError(f"operand {i} has dtype {t.dtype}, the body expects {want.type}")
        if len(t.shape) != len(want.shape) or any(
                same_dim(a, b) is None for a, b in zip(t.shape, want.shape)):
            raise ShapeError(f"operand {i} has shape {shape_str(t.shape)}, the body expects "
                             f"{want.type}")
    if not body.outputs:
        raise GraphError("the body has no outputs")
    _check_body(body, attrs["kind"])
    return TOKEN


def _result_rule(types, attrs):
    if types[0] != TOKEN:
        raise GraphError(f"reads a fused node's results, got a {types[0]} operand")
    return attrs["type"]


defop("fused", Kind.COMPOSITE, _fused_rule, arity=(1, None),
      attrs={"body": GRAPH, "kind": one_of(*KINDS)})
def _check_result(inputs: Sequence[Tensor], attrs) -> None:
    """A fused_result picks a result its fused node has, of that result's type."""
    group = inputs[0]
    if group.op != "fused":
        raise GraphError(f"reads a fused node, not a {group.op}")
    outputs, index = group.attrs["body"].outputs, attrs["index"]
    if index >= len(outputs):
        raise GraphError(f"index {index} is out of range: the group has {len(outputs)} results")
    if outputs[index].type != attrs["type"]:
        raise GraphError(f"result {index} of the group has type {outputs[index].type}, not "
                         f"{attrs['type']}")


defop("fused_result", Kind.COMPOSITE, _result_rule, arity=1,
      attrs={"index": NONNEG_INT, "type": TYPE}, node_check=_check_result)

# NOTE: a body is what a backend emits as one loop nest; a rule rewriting inside it could
# bring in ops that loop cannot hold, so passes leave bodies alone (CSE still merges equal ones).
SUBGRAPH_GUARDS["fused"] = lambda node, users: False


def fused_results(body: Graph, operands: Sequence[Tensor], kind: str, like: Sequence[Tensor],
                  scope: tuple[str, ...] = ()) -> list[Tensor]:
    """The results of a fused node running body on operands, each with the metadata (name,
    line, scope, gradient origin) of the node in `like` it stands for."""
    first = like[0]
    node = make("fused", operands, {"body": body, "kind": kind}, loc=first.loc, scope=scope)
    return [make("fused_result", [node], {"index": k, "type": t.type}, name=t.name, loc=t.loc,
                 scope=t.scope, grad_of=t.grad_of) for k, t in enumerate(like)]
