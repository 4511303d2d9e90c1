"""Backpropagation through time: the gradient of a scan result is a backward scan.

Step t of the forward loop maps (c_t, x_t, p) to (c_{t+1}, y_t) and the forward scan stores
every c_t. The backward scan runs the other way over (c_t, x_t, the result's adjoint per step
and the residuals), carrying the adjoint of c_{t+1} and a running sum of the adjoints of the
closed-over inputs p. Its body is the vector-Jacobian product of the forward body, built by
gc.grad from sum(outputs * adjoints), then cut where it reads a forward node that varies per
step: those nodes become residuals, stacked by the forward scan as extra results, so the
backward loop does not recompute the forward step.
"""
from __future__ import annotations

import weakref
from typing import Sequence

from graphc.dtypes import is_float
from graphc.graph import Graph, topological_order
from graphc.ops.layout import broadcast_to
from graphc.ops.leaves import constant, placeholder
from graphc.ops.reductions import sum as reduce_sum
from graphc.ops.scan import residual_base, residual_result, scan_results, step_nodes
from graphc.tensor import Tensor

# body -> {(kind, which): (backward body, residual positions)}; reusing a body lets equal
# backward scans hash-cons.
_BACKWARD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _zeros(t: Tensor) -> Tensor:
    return broadcast_to(constant(0, t.dtype), t.shape)


def _floats(tensors: Sequence[Tensor]) -> list[int]:
    return [i for i, t in enumerate(tensors) if is_float(t.dtype)]


def _result_kind(index: int, num_carry: int, num_out: int) -> tuple[str, int]:
    """Which result `index` is: ("final", k), ("ys", m), ("history", k) or ("residual", p)."""
    if index < num_carry:
        return "final", index
    if index < num_carry + num_out:
        return "ys", index - num_carry
    if index < 2 * num_carry + num_out:
        return "history", index - num_carry - num_out
    return "residual", index - 2 * num_carry - num_out


def _cut(outputs: list[Tensor], forward: list[Tensor], step_inputs: list[Tensor]):
    """outputs with each forward node that varies per step read from a placeholder instead.

    Returns the new outputs and the (position in `forward`, placeholder) pairs, by position.
    """
    varying = {id(t) for t in step_inputs}
    for node in forward:
        if any(id(i) in varying for i in node.inputs):
            varying.add(id(node))
    position = {id(n): p for p, n in enumerate(forward)}
    # NOTE: an inner scan's value is a tuple, not an array to stack: it is recomputed.
    is_residual = {id(n) for n in forward
                   if id(n) in varying and n.op not in ("placeholder", "scan")}
    order = topological_order(outputs)
    needed = {id(t) for t in outputs}
    for node in reversed(order):
        if id(node) in needed and id(node) not in is_residual:
            needed.update(id(i) for i in node.inputs)
    memo: dict[int, Tensor] = {}
    cuts = []
    for node in order:
        if id(node) not in needed:
            continue
        if id(node) in is_residual:
            memo[id(node)] = placeholder(node.shape, node.dtype, name=f"res{position[id(node)]}")
            cuts.append((position[id(node)], memo[id(node)]))
        else:
            memo[id(node)] = node.replace([memo[id(i)] for i in node.inputs]) \
                if node.inputs else node
    return [memo[id(t)] for t in outputs], sorted(cuts, key=lambda c: c[0])


def _backward_body(body: Graph, num_carry: int, num_xs: int, kind: str,
                   which: int) -> tuple[Graph, list[int]]:
    """The VJP of one forward step as a backward scan's body, and the residuals it reads.

    Cached per forward body. The residuals are positions in step_nodes(body).
    """
    cache = _BACKWARD.setdefault(body, {})
    if (kind, which) in cache:
        return cache[(kind, which)]
    from graphc.autodiff import grad  # NOTE: autodiff imports the ops, so import it late
    c_in = list(body.inputs[:num_carry])
    x_in = list(body.inputs[num_carry:num_carry + num_xs])
    p_in = list(body.inputs[num_carry + num_xs:])
    fk, fs, fp = _floats(c_in), _floats(x_in), _floats(p_in)
    adj = [placeholder(c_in[k].shape, c_in[k].dtype, name=f"adj{k}") for k in fk]
    acc = [placeholder(p_in[j].shape, p_in[j].dtype, name=f"acc{j}") for j in fp]
    outputs = body.outputs
    terms = [reduce_sum(outputs[k] * a) for k, a in zip(fk, adj)]
    cotangent = []
    forward = step_nodes(body)
    if kind != "final":
        source = {"ys": lambda: outputs[num_carry + which], "history": lambda: c_in[which],
                  "residual": lambda: forward[which]}[kind]()
        cotangent = [placeholder(source.shape, source.dtype, name=f"adj_{kind}{which}")]
        if kind != "history":
            terms.append(reduce_sum(source * cotangent[0]))
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    grads = grad(total, [c_in[k] for k in fk] + [x_in[s] for s in fs] + [p_in[j] for j in fp])
    g_c, g_x, g_p = grads[:len(fk)], grads[len(fk):len(fk) + len(fs)], grads[len(fk) + len(fs):]
    if kind == "history":
        g_c = [g + cotangent[0] if k == which else g for k, g in zip(fk, g_c)]
    new_acc = [a + g for a, g in zip(acc, g_p)]
    outs, cuts = _cut(list(g_c) + new_acc + list(g_x), forward, c_in + x_in)
    residuals = [r for _, r in cuts]
    backward = Graph(adj + acc + c_in + x_in + cotangent + residuals + p_in, outs)
    cache[(kind, which)] = backward, [p for p, _ in cuts]
    return cache[(kind, which)]


def backprop_through_time(g: Tensor, index: int, node: Tensor,
                          inputs: Sequence[Tensor]) -> list[Tensor | None]:
    """The gradients of scan `node`'s inputs, given the adjoint g of its result `index`."""
    body, k, s = node.attrs["body"], node.attrs["num_carry"], node.attrs["num_xs"]
    num_out = len(body.outputs) - k
    kind, which = _result_kind(index, k, num_out)
    carries, seqs, free = inputs[:k], inputs[k:k + s], inputs[k + s:]
    fk, fs, fp = _floats(carries), _floats(seqs), _floats(free)
    backward, positions = _backward_body(body, k, s, kind, which)
    history = scan_results(body, carries, seqs, free, node.attrs["reverse"])
    history = history[k + num_out:residual_base(node)]
    residuals = [residual_result(node, p) for p in positions]
    init = [g if kind == "final" and c == which else _zeros(carries[c]) for c in fk]
    init += [_zeros(free[j]) for j in fp]
    cotangent = [g] if kind != "final" else []
    results = scan_results(backward, init, history + list(seqs) + cotangent + residuals,
                           list(free), not node.attrs["reverse"])
    grads: list[Tensor | None] = [None] * len(inputs)
    for c, r in zip(fk, results):
        grads[c] = r
    for j, r in zip(fp, results[len(fk):]):
        grads[k + s + j] = r
    for x, r in zip(fs, results[len(fk) + len(fp):]):
        grads[k + x] = r
    return grads
