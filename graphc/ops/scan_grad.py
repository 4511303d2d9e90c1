"""Backpropagation through time: the gradient of a scan result is a backward scan.

Step t of the forward loop maps (c_t, x_t, p) to (c_{t+1}, y_t) and the forward scan stores
every c_t. The backward scan runs the other way over (c_t, x_t, and the result's adjoint per
step), carrying the adjoint of c_{t+1} and a running sum of the adjoints of the closed-over
inputs p. Its body is the vector-Jacobian product of the forward body, built by gc.grad from
sum(outputs * adjoints): each step recomputes the forward step it differentiates, so no
per-step intermediates are stored beyond the carries.
"""
from __future__ import annotations

import weakref
from typing import Sequence

from graphc.dtypes import is_float
from graphc.graph import Graph
from graphc.ops.layout import broadcast_to
from graphc.ops.leaves import constant, placeholder
from graphc.ops.reductions import sum as reduce_sum
from graphc.ops.scan import scan_results
from graphc.tensor import Tensor

# body -> {(kind, which): backward body}; reusing a body lets equal backward scans hash-cons.
_BACKWARD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _zeros(t: Tensor) -> Tensor:
    return broadcast_to(constant(0, t.dtype), t.shape)


def _floats(tensors: Sequence[Tensor]) -> list[int]:
    return [i for i, t in enumerate(tensors) if is_float(t.dtype)]


def _result_kind(index: int, num_carry: int, num_out: int) -> tuple[str, int]:
    """Which result `index` is: ("final", k), ("ys", m) or ("history", k)."""
    if index < num_carry:
        return "final", index
    if index < num_carry + num_out:
        return "ys", index - num_carry
    return "history", index - num_carry - num_out


def _backward_body(body: Graph, num_carry: int, num_xs: int, kind: str, which: int) -> Graph:
    """The VJP of one forward step, as the body of a backward scan (cached per forward body)."""
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
    if kind != "final":
        source = outputs[num_carry + which] if kind == "ys" else c_in[which]
        cotangent = [placeholder(source.shape, source.dtype, name=f"adj_{kind}{which}")]
        if kind == "ys":
            terms.append(reduce_sum(source * cotangent[0]))
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    grads = grad(total, [c_in[k] for k in fk] + [x_in[s] for s in fs] + [p_in[j] for j in fp])
    g_c, g_x, g_p = grads[:len(fk)], grads[len(fk):len(fk) + len(fs)], grads[len(fk) + len(fs):]
    if kind == "history":
        g_c = [g + cotangent[0] if k == which else g for k, g in zip(fk, g_c)]
    new_acc = [a + g for a, g in zip(acc, g_p)]
    backward = Graph(adj + acc + c_in + x_in + cotangent + p_in, list(g_c) + new_acc + list(g_x))
    cache[(kind, which)] = backward
    return backward


def backprop_through_time(g: Tensor, index: int, node: Tensor,
                          inputs: Sequence[Tensor]) -> list[Tensor | None]:
    """The gradients of scan `node`'s inputs, given the adjoint g of its result `index`."""
    body, k, s = node.attrs["body"], node.attrs["num_carry"], node.attrs["num_xs"]
    num_out = len(body.outputs) - k
    kind, which = _result_kind(index, k, num_out)
    carries, seqs, free = inputs[:k], inputs[k:k + s], inputs[k + s:]
    fk, fs, fp = _floats(carries), _floats(seqs), _floats(free)
    backward = _backward_body(body, k, s, kind, which)
    history = scan_results(body, carries, seqs, free, node.attrs["reverse"])[k + num_out:]
    init = [g if kind == "final" and c == which else _zeros(carries[c]) for c in fk]
    init += [_zeros(free[j]) for j in fp]
    cotangent = [g] if kind != "final" else []
    results = scan_results(backward, init, history + list(seqs) + cotangent, list(free),
                           not node.attrs["reverse"])
    grads: list[Tensor | None] = [None] * len(inputs)
    for c, r in zip(fk, results):
        grads[c] = r
    for j, r in zip(fp, results[len(fk):]):
        grads[k + s + j] = r
    for x, r in zip(fs, results[len(fk) + len(fp):]):
        grads[k + x] = r
    return grads
