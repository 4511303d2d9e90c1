"""Backpropagation through time: the gradient of a scan result is a backward scan.

Step t of the forward loop maps (c_t, x_t, p) to (c_{t+1}, y_t) and the forward scan stores
every c_t. The backward scan runs the other way over (c_t, x_t, the result's adjoint per step
and the residuals), carrying the adjoint of c_{t+1} and a running sum of the adjoints of the
closed-over inputs p. Its body is the vector-Jacobian product of the forward body, built by
gc.grad from sum(outputs * adjoints), then cut where it reads a forward node that varies per
step: those nodes become residuals, stacked by the forward scan as extra results, so the
backward loop does not recompute the forward step.

A closed-over weight's adjoint is summed over the steps. Where a step's term is a product
A_t^T·B_t of per-step values (the gradient of x_t·W or h_t·W), the loop does not add up one
small product per step: it stacks A_t and B_t (a sequence it already reads, or an extra
per-step output) and one product over all steps' rows follows it, as the simplify pass's
sum-of-products rule does for unrolled loops (graphc/passes/products.py). Unlike there, where
the pieces are copied into concatenates, stacking is each step writing its slot, which pays
whatever the sizes: it is done for every such product, small ones too.
Likewise a term that sums a per-step value over axes (a bias's adjoint sums the batch), or
scatters its rows by per-step indices (an embedding's): the value (and the indices) are
stacked and summed, or scattered, for all steps at once after the loop, so the loop has no
reduction across the batch (and runs in pieces of it natively, graphc/rows.py).
"""
from __future__ import annotations

import weakref
from typing import NamedTuple, Sequence

from graphc.dtypes import is_float
from graphc.graph import Graph, topological_order
from graphc.ops.layout import broadcast_to, reshape
from graphc.ops.leaves import constant, placeholder
from graphc.ops.linalg import as_rows, flagged_matmul
from graphc.ops.reductions import sum as reduce_sum
from graphc.ops.scan import residual_base, residual_result, scan_results, step_nodes
from graphc.passes.unslices import summands
from graphc.tensor import Tensor, make

# body -> {(kind, which): Backward}; reusing a body lets equal
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
                   which: int) -> Backward:
    """The VJP of one forward step as a backward scan's body, with what its caller needs to
    read the scan's results (see Backward). Cached per forward body; the residuals are
    positions in step_nodes(body).
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
    per_step = _varying(adj + c_in + x_in + cotangent)
    kept, new_acc, operands, after = [], [], [], []
    for i, (a, g) in enumerate(zip(acc, g_p)):
        rest, stacked_terms = _split_terms(g, per_step)
        for op, values, attrs in stacked_terms:
            operands.extend(values)
            after.append((i, op, len(values), attrs))
        if rest:
            kept.append(i)
            new_acc.append(_chain([a] + rest))
    outs, cuts = _cut(list(g_c) + new_acc + list(g_x) + operands, forward, c_in + x_in)
    residuals = [r for _, r in cuts]
    sequences = c_in + x_in + cotangent + residuals
    position = {id(t): n for n, t in enumerate(sequences)}
    head = len(outs) - len(operands)
    # per-step outputs: the sequences' adjoints, then the operands computed for products alone
    per_step_out = outs[len(g_c) + len(new_acc):head]
    made = {id(t): n for n, t in enumerate(per_step_out)}
    extra: list[Tensor] = []
    sources = []
    for t in outs[head:]:
        if id(t) in position:
            sources.append(("sequence", position[id(t)]))
        else:
            if id(t) not in made:     # an LSTM's B_t is the adjoint of x_t: stacked once
                made[id(t)] = len(per_step_out) + len(extra)
                extra.append(t)
            sources.append(("output", made[id(t)]))
    taken = iter(sources)
    stacked = [Stacked(j, op, tuple(next(taken) for _ in range(count)), attrs)
               for j, op, count, attrs in after]
    inputs = adj + [acc[i] for i in kept] + sequences + p_in
    result = Backward(Graph(inputs, outs[:head] + extra), [p for p, _ in cuts], kept, stacked)
    cache[(kind, which)] = result
    return result


class Stacked(NamedTuple):
    """A term of the adjoint of float closed-over input `which`, summed over the steps after
    the loop: `op` of per-step values stacked (see _split_terms), each found as ("sequence",
    index among the backward scan's sequences) or ("output", index among its per-step
    outputs: the sequences' adjoints, then the extra ones); `attrs` the op's own."""
    which: int
    op: str
    values: tuple[tuple[str, int], ...]
    attrs: dict


class Backward(NamedTuple):
    """A backward scan's body, the forward residuals it reads, the float closed-over inputs
    whose adjoints it accumulates in carries, and the products summed after the loop."""
    body: Graph
    residuals: list[int]
    accumulated: list[int]
    stacked: list[Stacked]


def _varying(step_inputs: list[Tensor]):
    """A test of whether a body node's value changes from step to step."""
    known = {id(t): True for t in step_inputs}

    def varies(node: Tensor) -> bool:
        stack = [node]
        while stack:
            t = stack[-1]
            if id(t) in known:
                stack.pop()
                continue
            missing = [i for i in t.inputs if id(i) not in known]
            if missing:
                stack.extend(missing)
                continue
            known[id(t)] = any(known[id(i)] for i in t.inputs)
            stack.pop()
        return known[id(node)]
    return varies


def _split_terms(g: Tensor, varies) -> tuple[list[Tensor], list[tuple]]:
    """The terms of a step's adjoint that stay in the loop, and those to stack instead, as
    (op, per-step values, attrs): products A_t^T·B_t of two per-step matrices ("matmul"),
    sums of a per-step value over axes ("sum"), and the rows of a per-step value scattered
    by per-step indices ("take_grad": an embedding's adjoint)."""
    rest, stacked = [], []
    for term in summands(g):
        summed = term.inputs[0] if term.op == "reshape" else term
        if term.type != g.type:
            rest.append(term)
        elif (term.op == "matmul" and term.ndim == 2
                and all(i.ndim == 2 and varies(i) for i in term.inputs)
                and term.attrs["transpose_a"] and not term.attrs["transpose_b"]):
            stacked.append(("matmul", term.inputs, {}))
        elif summed.op == "sum" and varies(summed.inputs[0]) and summed.attrs["axes"]:
            stacked.append(("sum", summed.inputs, {"axes": summed.attrs["axes"]}))
        elif term.op == "take_grad" and term.attrs["axis"] == 0 and all(map(varies, term.inputs)):
            stacked.append(("take_grad", term.inputs, dict(term.attrs)))
        else:
            rest.append(term)
    return rest, stacked


def _chain(terms: list[Tensor]) -> Tensor:
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def backprop_through_time(g: Tensor, index: int, node: Tensor,
                          inputs: Sequence[Tensor]) -> list[Tensor | None]:
    """The gradients of scan `node`'s inputs, given the adjoint g of its result `index`."""
    body, k, s = node.attrs["body"], node.attrs["num_carry"], node.attrs["num_xs"]
    num_out = len(body.outputs) - k
    kind, which = _result_kind(index, k, num_out)
    carries, seqs, free = inputs[:k], inputs[k:k + s], inputs[k + s:]
    fk, fs, fp = _floats(carries), _floats(seqs), _floats(free)
    backward = _backward_body(body, k, s, kind, which)
    history = scan_results(body, carries, seqs, free, node.attrs["reverse"])
    history = history[k + num_out:residual_base(node)]
    residuals = [residual_result(node, p) for p in backward.residuals]
    init = [g if kind == "final" and c == which else _zeros(carries[c]) for c in fk]
    init += [_zeros(free[fp[i]]) for i in backward.accumulated]
    cotangent = [g] if kind != "final" else []
    sequences = history + list(seqs) + cotangent + residuals
    results = scan_results(backward.body, init, sequences, list(free), not node.attrs["reverse"])
    carried = len(fk) + len(backward.accumulated)
    per_step = results[carried:]
    sums: dict[int, list[Tensor]] = {}
    for i, r in zip(backward.accumulated, results[len(fk):carried]):
        sums.setdefault(i, []).append(r)

    def stack(source: tuple[str, int]) -> Tensor:
        where, n = source
        return sequences[n] if where == "sequence" else per_step[n]
    for term in backward.stacked:
        values = [stack(v) for v in term.values]
        if term.op == "matmul":
            total = flagged_matmul(as_rows(values[0]), as_rows(values[1]), True, False)
        elif term.op == "sum":
            axes = (0, *(a + 1 for a in term.attrs["axes"]))
            total = reshape(reduce_sum(values[0], axes), free[fp[term.which]].shape)
        else:           # rows of all steps scattered at once: (T, N, ...) by (T, N)
            total = make("take_grad", values, term.attrs)
        sums.setdefault(term.which, []).append(total)
    grads: list[Tensor | None] = [None] * len(inputs)
    for c, r in zip(fk, results):
        grads[c] = r
    for i, terms in sums.items():
        grads[k + s + fp[i]] = _chain(terms)
    for x, r in zip(fs, results[carried:]):
        grads[k + x] = r
    return grads
