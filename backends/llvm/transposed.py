"""Weights a nested plan reads only transposed, transposed once before it runs.

A scan's backward body, or a row group's, multiplies by a closed-over W.T at every step
(dz @ W_hh.T). The kernel calling the body transposes W once into its own slot and hands the
body that instead, in which the products read it without the flag: rows of b, which the
generated GEMM reads faster than it forms dot products (16x512x128: 10.4 -> 8.6 µs), and
nothing to pack per step.
"""
from __future__ import annotations

from collections.abc import Iterable

from backends.llvm.access import Access
from backends.llvm.kernels.moves import move
from graphc.graph import Graph
from graphc.ops.leaves import placeholder
from graphc.tensor import Tensor, make


def read_transposed(body: Graph, candidates: Iterable[int]) -> list[int]:
    """The candidate inputs (matrices, by position) the body reads only as a product's
    transposed b (an LSTM's backward step: dz @ W_hh.T)."""
    return [j for j in candidates
            if (p := body.inputs[j]).ndim == 2 and p.dtype in ("float32", "float64")
            and _only_transposed_b(body, p)]


def _only_transposed_b(graph: Graph, p: Tensor) -> bool:
    """Whether every use of p in graph (in fused groups too) is as a matmul's transposed b."""
    if any(t is p for t in graph.outputs):
        return False
    used = False
    for n in graph.nodes:
        for position, i in enumerate(n.inputs):
            if i is not p:
                continue
            used = True
            if n.op == "fused":
                if not _only_transposed_b(n.attrs["body"], n.attrs["body"].inputs[position]):
                    return False
            elif not (n.op == "matmul" and position == 1 and n.attrs["transpose_b"]):
                return False
    return used


def with_transposed_inputs(body: Graph, outputs: list[Tensor], transposed: list[int]) -> Graph:
    """The body graph with `outputs`, its inputs `transposed` replaced by placeholders for
    their transposes (which the kernel fills), read by products without the flag."""
    inputs = list(body.inputs)
    swap = {id(inputs[j]): _transposed_placeholder(inputs[j]) for j in transposed}
    memo = _flip_products(body, swap)
    return Graph([swap.get(id(p), p) for p in inputs], [memo[id(t)] for t in outputs])


def _transposed_placeholder(p: Tensor) -> Tensor:
    return placeholder(p.shape[::-1], p.dtype, name=p.name)


def _flip_products(graph: Graph, swap: dict[int, Tensor]) -> dict[int, Tensor]:
    """Each node of graph rebuilt with the placeholders in `swap` replaced by their
    transposes: the products reading them lose transpose_b (in fused groups' bodies too)."""
    memo: dict[int, Tensor] = dict(swap)
    for n in graph.nodes:
        if id(n) in memo:
            continue
        ins = [memo.get(id(i), i) for i in n.inputs]
        attrs = dict(n.attrs)
        if n.op == "matmul" and id(n.inputs[1]) in swap:
            attrs["transpose_b"] = False
        elif n.op == "fused" and any(id(i) in swap for i in n.inputs):
            inner = n.attrs["body"]
            inner_swap = {id(q): _transposed_placeholder(q)
                          for q, i in zip(inner.inputs, n.inputs) if id(i) in swap}
            inner_memo = _flip_products(inner, inner_swap)
            attrs["body"] = Graph([inner_swap.get(id(q), q) for q in inner.inputs],
                                  [inner_memo[id(t)] for t in inner.outputs])
        else:
            memo[id(n)] = n.replace(ins)
            continue
        memo[id(n)] = make(n.op, ins, attrs, name=n.name, loc=n.loc, scope=n.scope,
                           grad_of=n.grad_of)
    return memo


def transpose_once(kern, flipped: dict, ins: list[Access]) -> None:
    """Fill each slot in `flipped` (input position -> Access) with that input transposed."""
    for j, slot in flipped.items():
        source = ins[j]
        move(kern, slot, Access(source.buffer, source.shape[::-1], source.strides[::-1],
                                source.offset))
