"""What `graphc info` tells about a graph: its ops, parameters, FLOPs and memory, estimated.

Estimates bind every symbolic dim (the batch size) to one value. FLOPs count a multiply-add as
two and every elementwise op, reduction step or random draw as one; layout and indexing ops
(and leaves) cost none. Memory is what the arrays themselves take: parameters (variables),
stored constants, the inputs, and the peak of intermediate values alive at once when the nodes
run in order and each value is freed after its last use.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from graphc.graph import Graph
from graphc.printing import value_names
from graphc.registry import OPS, Kind
from graphc.tensor import Tensor

LEAVES = ("placeholder", "variable", "constant")


@dataclass
class Info:
    ops: Counter
    parameters: int            # elements in variables
    parameter_bytes: int
    constant_bytes: int
    input_bytes: int
    flops: int
    peak_bytes: int


def size(t: Tensor, dim: int) -> int:
    """Elements of t with each symbolic dim taken as `dim`."""
    return math.prod(d if isinstance(d, int) else dim for d in t.shape)


def nbytes(t: Tensor, dim: int) -> int:
    return size(t, dim) * np.dtype(t.dtype).itemsize


def flops(node: Tensor, dim: int) -> int:
    """Estimated floating-point operations of one node."""
    body = next((v for v in node.attrs.values() if isinstance(v, Graph)), None)
    if body is not None:
        steps = 1
        if "num_xs" in node.attrs and node.attrs["num_xs"]:
            first = node.inputs[node.attrs["num_carry"]].shape[0]
            steps = first if isinstance(first, int) else dim
        return steps * sum(flops(n, dim) for n in body.nodes)
    kind, out = OPS[node.op].kind, size(node, dim)
    if node.op == "matmul":
        k = node.inputs[0].shape[-2 if node.attrs["transpose_a"] else -1]
        return 2 * out * (k if isinstance(k, int) else dim)
    if node.op in ("conv", "conv_input_grad"):
        return 2 * size(node.inputs[0] if node.op != "conv" else node, dim) * \
            math.prod(node.inputs[1].shape[1:])
    if node.op == "conv_weight_grad":
        return 2 * size(node.inputs[1], dim) * math.prod(node.shape[1:])
    if kind is Kind.REDUCTION:
        return out * math.prod(node.attrs["kernel"]) if "kernel" in node.attrs else \
            size(node.inputs[0], dim)
    if kind in (Kind.ELEMENTWISE, Kind.RANDOM, Kind.CONTRACTION):
        return out
    return 0


def peak_bytes(graph: Graph, dim: int) -> int:
    """The most bytes intermediate values take at once, run in order, freed after last use."""
    last_use = {id(i): k for k, node in enumerate(graph.nodes) for i in node.inputs}
    kept = {id(t) for t in graph.outputs} | {id(v) for _, v in graph.updates}
    live, peak = 0, 0
    for k, node in enumerate(graph.nodes):
        if node.op in LEAVES:
            continue
        live += nbytes(node, dim)
        peak = max(peak, live)
        for inp in set(node.inputs):
            if inp.op not in LEAVES and last_use[id(inp)] == k and id(inp) not in kept:
                live -= nbytes(inp, dim)
        if id(node) not in last_use and id(node) not in kept:
            live -= nbytes(node, dim)
    return peak


def summarize(graph: Graph, dim: int = 1) -> Info:
    ops = Counter(n.op for n in graph.nodes if n.op not in LEAVES)
    return Info(ops=ops, parameters=sum(size(v, dim) for v in graph.variables),
                parameter_bytes=sum(nbytes(v, dim) for v in graph.variables),
                constant_bytes=sum(nbytes(c, dim) for c in graph.constants),
                input_bytes=sum(nbytes(t, dim) for t in graph.inputs),
                flops=sum(flops(n, dim) for n in graph.nodes), peak_bytes=peak_bytes(graph, dim))


def plural(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n} B"


def report(graph: Graph, name: str, dim: int = 1) -> str:
    """The text `graphc info` prints."""
    info, names = summarize(graph, dim), value_names(graph)
    dims = names.dims

    def typed(tensors) -> str:
        return ", ".join(f"{names.ref(t)} {dims.type(t.type)}" for t in tensors) or "none"

    symbols = sorted({dims(d) for t in graph.inputs for d in t.shape if isinstance(d, str)})
    bound = f" with {', '.join(symbols)} = {dim}" if symbols else ""
    lines = [f"{name}: " + ", ".join(plural(len(items), what) for items, what in [
                (graph.inputs, "input"), (graph.nodes, "node"), (graph.outputs, "output"),
                (graph.updates, "update")]),
             f"  inputs       {typed(graph.inputs)}",
             f"  outputs      {typed(graph.outputs)}",
             f"ops            {sum(info.ops.values())} ({len(info.ops)} kinds)"]
    lines += [f"  {op:<24} {count:>6}" for op, count in info.ops.most_common()]
    lines += [f"parameters     {info.parameters:,} in {len(graph.variables)} variables "
              f"({human_bytes(info.parameter_bytes)})",
              f"FLOPs          {info.flops:,} per call{bound} (estimate)",
              f"memory         parameters {human_bytes(info.parameter_bytes)}, constants "
              f"{human_bytes(info.constant_bytes)}, inputs {human_bytes(info.input_bytes)}, "
              f"peak intermediates {human_bytes(info.peak_bytes)}{bound} (estimate)"]
    return "\n".join(lines)
