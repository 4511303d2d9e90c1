"""Native fused groups: the elementwise members of a group become one loop nest.

An "elementwise" group is one loop over its shape evaluating the members' formulas composed
into one expression per result (shared subterms computed once). An "epilogue" group runs its
anchor (matmul, convolution, reduction) as usual, then one loop for the elementwise ops after
it. A "prologue" group is its reduction reading, instead of an array, the composed expression
of the elementwise ops before it, storing on the way the ones the graph also reads.
"""
from __future__ import annotations

from backends.llvm.access import Access
from backends.llvm.kernels import EXPANDERS, KERNELS, Where, row_pieces
from backends.llvm.kernels.elementwise import loop_kernel
from backends.llvm.kernels.reduce import reduce_expression
from graphc import scalar
from graphc.errors import CompileError
from graphc.registry import OPS, Kind
from graphc.scalar import Scalar
from graphc.tensor import Tensor

# NOTE: reduce_expression folds sum/prod/max/min only; the index searches read an array.
ARG_REDUCTIONS = frozenset({"argmax", "argmin"})


def _compose(body, leaves: dict[int, Scalar]) -> dict[int, Scalar]:
    """The scalar expression of every elementwise body node over the leaves' expressions."""
    exprs = dict(leaves)
    for n in body.nodes:
        if id(n) in exprs:
            continue
        if n.op == "constant":
            exprs[id(n)] = scalar.const(n.value.item(), n.dtype)
        elif OPS[n.op].kind is Kind.ELEMENTWISE:
            formula = scalar.trace(OPS[n.op].formula, len(n.inputs), dict(n.attrs))
            exprs[id(n)] = scalar.substitute(formula, [exprs[id(i)] for i in n.inputs])
    return exprs


def expand(plan, node: Tensor, ins: list[Access], results: dict, where: Where) -> None:
    body, kind = node.attrs["body"], node.attrs["kind"]
    if kind == "rows":
        row_pieces.expand(plan, node, ins, results, where)
        return
    leaves = {id(p): scalar.arg(i) for i, p in enumerate(body.inputs)}
    operands = list(ins)
    anchor = next((n for n in body.nodes if n.op not in ("placeholder", "constant")
                   and OPS[n.op].kind is not Kind.ELEMENTWISE), None)
    outputs = {k: t for k, t in enumerate(body.outputs) if k in results}
    name = f"fused_{kind}"
    if anchor is not None:
        if anchor.op not in KERNELS:
            raise CompileError(f"the llvm backend has no kernel for op {anchor.op}"
                               + (f" (built at {anchor.loc})" if anchor.loc else ""))
        # the anchor's steps are its own, so that a failure names it where the user built it
        what = Where.of(anchor)
    if kind == "epilogue":
        position = next((k for k, t in outputs.items() if t is anchor), None)
        target = results[position] if position is not None else plan.scratch(anchor.dtype,
                                                                              anchor.shape)
        position = {id(p): k for k, p in enumerate(body.inputs)}
        anchor_ins = plan.operands(anchor, [ins[position[id(i)]] for i in anchor.inputs])
        plan.add_step(anchor.op, anchor, target, anchor_ins, KERNELS[anchor.op], what)
        leaves[id(anchor)] = scalar.arg(len(operands))
        operands.append(target)
    exprs = _compose(body, leaves)
    if kind == "prologue":
        stores = [(results[k], exprs[id(t)]) for k, t in outputs.items() if t is not anchor]
        source = anchor.inputs[0]
        out = results[next(k for k, t in enumerate(body.outputs) if t is anchor)]
        if anchor.op in ARG_REDUCTIONS:
            _searched_prologue(plan, node, anchor, out, exprs[id(source)], stores, operands,
                               where, what)
            return

        def emit_prologue(low, _node, _out, _ins):
            return reduce_expression(low, low.name(anchor), anchor, out, source.shape,
                                     operands, exprs[id(source)], stores)
        plan.add_step(name, anchor, out, operands + [a for a, _ in stores], emit_prologue,
                      what)
        return
    tail = {k: t for k, t in outputs.items() if t is not anchor}
    if not tail:
        return
    targets, roots = [results[k] for k in tail], [exprs[id(t)] for t in tail.values()]
    roots, operands = _used(roots, operands)

    def emit_loop(low, _node, _out, _ins):
        return loop_kernel(low.module, low.env, low.name(node), targets, roots, operands)
    plan.add_step(name, node, targets[0], operands + targets[1:], emit_loop, where)


def _searched_prologue(plan, node: Tensor, anchor: Tensor, out: Access, source: Scalar,
                       stores: list[tuple[Access, Scalar]], operands: list[Access],
                       where: Where, what: Where) -> None:
    """An argmax/argmin prologue: one loop writes the searched values (and the stores) to the
    arena, then the anchor's own kernel searches them."""
    values = plan.scratch(anchor.inputs[0].dtype, anchor.inputs[0].shape)
    targets = [values] + [a for a, _ in stores]
    roots, used = _used([source] + [e for _, e in stores], operands)

    def emit_values(low, _node, _out, _ins):
        return loop_kernel(low.module, low.env, low.name(node), targets, roots, used)
    plan.add_step(f"fused_{node.attrs['kind']}", node, values, used + targets[1:], emit_values,
                  where)
    plan.add_step(anchor.op, anchor, out, [values], KERNELS[anchor.op], what)


def _used(roots: list[Scalar], operands: list[Access]) -> tuple[list[Scalar], list[Access]]:
    """The roots over only the operands they read (an epilogue's tail does not read the
    anchor's operands), renumbered."""
    used = sorted({e.value for e in scalar.nodes(roots) if e.prim == "arg"})
    renumber = [scalar.arg(used.index(i)) if i in used else None
                for i in range(len(operands))]
    return ([scalar.substitute(r, renumber) for r in roots], [operands[i] for i in used])


EXPANDERS["fused"] = expand
