"""scan: a loop over the leading axis of sequences carrying state, as one node holding its body.

`gc.scan(fn, init, xs)` traces fn(carry, x_t) -> (new_carry, y_t) once into a `gc.Graph`, the
body, kept as an attr of a `scan` node. Tensors the body uses from outside (variables, other
placeholders, anything computed before the loop, including parts of fn that do not depend on
the carry or x_t) become explicit inputs of the node, so the body is a closed graph.

A loop has several results, while a Tensor is one value, so a scan is two kinds of node:
- `scan` (inputs: carries, sequences, closed-over tensors) runs the loop; its value is a tuple
  of arrays: the final carries, the stacked y_t, the carries entering each step, then the
  stacked values of body nodes the gradient reads ("residuals", named by their position in
  `step_nodes(body)`; only those some scan_result reads are stored). Its declared type is a
  scalar bool token that no other op accepts.
- `scan_result` picks one entry of that tuple. Its inputs are the scan node *and the scan's
  inputs*, so autodiff, which knows single-output nodes only, sends each result's gradient
  straight to the loop's inputs through scan_result's rule: a backward scan over the stored
  carries and residuals (backpropagation through time; see scan_grad.py). The graph stays
  one node per loop however long the sequence.
"""
from __future__ import annotations

from typing import Callable, Sequence

from graphc.assumptions import same_dim
from graphc.attrs import BOOL, GRAPH, NONNEG_INT, POSITIVE_INT, TYPE
from graphc.dims import Dim
from graphc.errors import DTypeError, GraphError, ShapeError
from graphc.graph import Graph, topological_order
from graphc.ops.leaves import as_tensor, placeholder
from graphc.registry import Kind, defgrad, defop
from graphc.rewrite import SUBGRAPH_GUARDS
from graphc.tensor import Tensor, make
from graphc.types import TensorType, shape_str

__all__ = ["scan"]

TOKEN = TensorType("bool", ())   # the declared type of a scan node (its value is a tuple)


def _dims_match(a: tuple[Dim, ...], b: tuple[Dim, ...]) -> bool:
    """Same rank and dims that may be equal (equalities that need symbols are assumed)."""
    return len(a) == len(b) and all(same_dim(x, y) is not None for x, y in zip(a, b))


def _role(i: int, num_carry: int, num_xs: int) -> str:
    if i < num_carry:
        return f"carry {i}"
    if i < num_carry + num_xs:
        return f"sequence {i - num_carry}"
    return f"closed-over input {i - num_carry - num_xs}"


def _scan_rule(types: list[TensorType], attrs) -> TensorType:
    body, k, s = attrs["body"], attrs["num_carry"], attrs["num_xs"]
    if len(types) != len(body.inputs):
        raise GraphError(f"got {len(types)} inputs, the body takes {len(body.inputs)}")
    for i, (t, want) in enumerate(zip(types, body.inputs)):
        is_seq = k <= i < k + s
        if is_seq and t.ndim == 0:
            raise ShapeError(f"{_role(i, k, s)} is a scalar; scan loops over a leading axis")
        shape = t.shape[1:] if is_seq else t.shape
        expected = f"{want.dtype} {shape_str(want.shape)}"
        if t.dtype != want.dtype:
            raise DTypeError(f"{_role(i, k, s)} has dtype {t.dtype}, the body expects {expected}")
        if not _dims_match(shape, want.shape):
            step = " per step" if is_seq else ""
            raise ShapeError(f"{_role(i, k, s)} has shape {shape_str(shape)}{step}, "
                             f"the body expects {expected}")
    lengths = [t.shape[0] for t in types[k:k + s]]
    if any(same_dim(lengths[0], n) is None for n in lengths[1:]):
        raise ShapeError("sequences have different lengths: " + ", ".join(
            shape_str(t.shape) for t in types[k:k + s]))
    return TOKEN


def _result_rule(types: list[TensorType], attrs) -> TensorType:
    if types[0] != TOKEN:
        raise GraphError(f"reads a scan node's results, got a {types[0]} operand")
    return attrs["type"]


defop("scan", Kind.COMPOSITE, _scan_rule, arity=(1, None), attrs={
    "body": GRAPH, "num_carry": NONNEG_INT, "num_xs": POSITIVE_INT, "reverse": BOOL})
def result_types(node: Tensor) -> list[TensorType]:
    """The types of a scan's results: final carries, stacked ys, histories, residuals."""
    body, k = node.attrs["body"], node.attrs["num_carry"]
    carries, length = node.inputs[:k], node.inputs[k].shape[0]
    stacked = list(body.outputs[k:]) + list(carries) + step_nodes(body)
    return [c.type for c in carries] + [
        TensorType(t.dtype, (length,) + t.shape) for t in stacked]


def _check_result(inputs: Sequence[Tensor], attrs) -> None:
    """A scan_result reads a scan node and the scan's own inputs, and picks a result it has."""
    scan = inputs[0]
    if scan.op != "scan" or len(inputs) != len(scan.inputs) + 1 or any(
            a is not b for a, b in zip(inputs[1:], scan.inputs)):
        raise GraphError("takes a scan node followed by that scan's own inputs")
    types = result_types(scan)
    index = attrs["index"]
    if index >= len(types):
        raise GraphError(f"index {index} is out of range: the scan has {len(types)} results")
    if types[index] != attrs["type"]:
        raise GraphError(f"result {index} of the scan has type {types[index]}, not "
                         f"{attrs['type']}")


defop("scan_result", Kind.COMPOSITE, _result_rule, arity=(1, None),
      attrs={"index": NONNEG_INT, "type": TYPE}, node_check=_check_result)


def scan_results(body: Graph, carries: Sequence[Tensor], seqs: Sequence[Tensor],
                 free: Sequence[Tensor], reverse: bool) -> list[Tensor]:
    """The scan node's results: final carries, stacked outputs, carries entering each step."""
    node = make("scan", [*carries, *seqs, *free], {
        "body": body, "num_carry": len(carries), "num_xs": len(seqs), "reverse": bool(reverse)})
    length = seqs[0].shape[0]
    types = [c.type for c in carries]
    types += [TensorType(y.dtype, (length,) + y.shape) for y in body.outputs[len(carries):]]
    types += [TensorType(c.dtype, (length,) + c.shape) for c in carries]
    return [make("scan_result", [node, *node.inputs], {"index": i, "type": t})
            for i, t in enumerate(types)]


def step_nodes(body: Graph) -> list[Tensor]:
    """The body's nodes depth-first from its outputs: an order fixed by the structure alone.

    Residual results name a body node by its position here, so it survives save and load
    (Graph.nodes breaks ties by creation order, which hash-consing on load may change).
    """
    order: list[Tensor] = []
    seen: set[int] = set()
    stack = [(t, False) for t in reversed(body.outputs)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif id(node) not in seen:
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((i, False) for i in reversed(node.inputs))
    return order


def residual_base(node: Tensor) -> int:
    """The scan_result index of residual 0: after the final carries, ys and histories."""
    return len(node.attrs["body"].outputs) + node.attrs["num_carry"]


def residual_result(node: Tensor, position: int) -> Tensor:
    """The stacked per-step values of body node `position` (in step_nodes) of scan `node`."""
    source = step_nodes(node.attrs["body"])[position]
    length = node.inputs[node.attrs["num_carry"]].shape[0]
    return make("scan_result", [node, *node.inputs], {
        "index": residual_base(node) + position,
        "type": TensorType(source.dtype, (length,) + source.shape)})


def _body_rewritable(node: Tensor, users: list[Tensor]) -> bool:
    """Passes may rewrite a scan's body unless some result reads residuals by position."""
    base = residual_base(node)
    return not any(u.op == "scan_result" and u.attrs["index"] >= base for u in users)


SUBGRAPH_GUARDS["scan"] = _body_rewritable


def _result_grad(g: Tensor, out: Tensor, node: Tensor, *inputs: Tensor):
    from graphc.ops.scan_grad import backprop_through_time  # NOTE: it needs autodiff
    return (None, *backprop_through_time(g, out.attrs["index"], node, inputs))


defgrad("scan_result", _result_grad)


# ---- tracing the body -------------------------------------------------------------------------

def _flatten(value, what: str) -> tuple[list[Tensor], bool]:
    """A Tensor or a flat sequence of them as a list, and whether it was a single Tensor."""
    if isinstance(value, (list, tuple)):
        items = list(value)
        if any(isinstance(v, (list, tuple)) for v in items):
            raise GraphError(f"scan: {what} must be a Tensor or a flat tuple of Tensors")
        return [as_tensor(v) for v in items], False
    return [as_tensor(value)], True


def _pack(items: list[Tensor], single: bool):
    return items[0] if single else tuple(items)


def _close(own: list[Tensor], outputs: list[Tensor], params: list[Tensor]):
    """The body as a closed Graph, and the outside tensors it uses (now its last inputs)."""
    order = topological_order(outputs)
    inside = {id(t) for t in own}
    for node in order:
        if any(id(i) in inside for i in node.inputs):
            inside.add(id(node))
    free = {id(p): p for p in params}
    used = [i for node in order if id(node) in inside for i in node.inputs] + outputs
    for t in used:
        if id(t) not in inside and t.op != "constant":
            free.setdefault(id(t), t)
    memo = {key: placeholder(t.shape, t.dtype, name=t.name or f"free{n}")
            for n, (key, t) in enumerate(free.items())}
    params_in = list(memo.values())
    for node in order:
        if id(node) in inside and node.inputs:
            memo[id(node)] = node.replace([memo.get(id(i), i) for i in node.inputs])
    body = Graph(own + params_in, [memo.get(id(t), t) for t in outputs])
    return body, list(free.values())


def _check_new_carries(carries: list[Tensor], new: list[Tensor]) -> None:
    if len(new) != len(carries):
        raise GraphError(f"scan: fn returned {len(new)} carries for {len(carries)} in init")
    for k, (c, n) in enumerate(zip(carries, new)):
        where = f" (built at {n.loc})" if n.loc else ""
        if n.dtype != c.dtype:
            raise DTypeError(f"scan: fn turns carry {k} from {c.dtype} into {n.dtype}{where}; "
                             "cast init or the new carry so they agree")
        if not _dims_match(n.shape, c.shape):
            raise ShapeError(f"scan: fn turns carry {k} of shape {shape_str(c.shape)} into "
                             f"shape {shape_str(n.shape)}{where}")


def scan(fn: Callable, init, xs, params: Sequence[Tensor] = (), reverse: bool = False):
    """Loop fn(carry, x_t) -> (new_carry, y_t) over the leading axis of xs; (final carry, ys).

    init and xs are each a Tensor or a tuple of Tensors (carry and x_t mirror them; every
    sequence in xs has the same length T); y_t is a Tensor, a tuple or None, and ys stacks
    it into (T, ...). fn is traced once; anything it uses from outside (listed in `params`
    or not) becomes an input of the loop, so gradients reach it. Nodes of fn that depend on
    neither carry nor x_t are computed once before the loop (a random draw among them gives
    the same numbers at every step). reverse=True runs from t = T-1 down to 0, ys still
    indexed by t. The gradient is a backward scan (BPTT) over per-step values the forward
    loop stores.
    """
    carries, carry_single = _flatten(init, "init")
    seqs, seq_single = _flatten(xs, "xs")
    if not seqs:
        raise GraphError("scan: xs must hold at least one sequence")
    for s in seqs:
        if s.ndim == 0:
            raise ShapeError(f"scan: sequences need a leading axis to loop over, got a scalar "
                             f"{s.type}")
    carry_in = [placeholder(c.shape, c.dtype, name=f"carry{k}") for k, c in enumerate(carries)]
    x_in = [placeholder(s.shape[1:], s.dtype, name=f"x{k}") for k, s in enumerate(seqs)]
    result = fn(_pack(carry_in, carry_single), _pack(x_in, seq_single))
    if not isinstance(result, (list, tuple)) or len(result) != 2:
        raise GraphError("scan: fn must return a pair (new_carry, y_t); y_t may be None")
    new_carries, _ = _flatten(result[0], "the new carry")
    ys, y_single = ([], False) if result[1] is None else _flatten(result[1], "y_t")
    _check_new_carries(carries, new_carries)
    if not carries and not ys:
        raise GraphError("scan: fn returns neither a carry nor an output")
    body, free = _close(carry_in + x_in, new_carries + ys, [as_tensor(p) for p in params])
    results = scan_results(body, carries, seqs, free, reverse)
    k = len(carries)
    final = _pack(results[:k], carry_single) if carries else ()
    stacked = None if result[1] is None else _pack(results[k:k + len(ys)], y_single)
    return final, stacked
