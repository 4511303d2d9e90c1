"""NumPy kernels for scan: the body is compiled once, then its generated code runs per step.

Feeds are checked on the first two steps only: after that every step gets arrays of the
shapes and dtypes of the step before (a body's output shapes follow from its input shapes).
The residuals a backward scan reads are stored only when some scan_result in the same
compiled graph reads them: each scan_result kernel registers its residual with its scan.
"""
from __future__ import annotations

import weakref

import numpy as np

from backends.numpy.executor import compile_graph
from backends.numpy.kernels import register
from graphc.errors import CompileError, ShapeError
from graphc.feeds import FeedChecker
from graphc.graph import Graph
from graphc.ops.scan import residual_base, step_nodes
from graphc.passes import optimize

# dims of one compiled graph -> {id(scan node): positions of the residuals read from it}
_REQUESTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _requested(dims, node) -> set[int]:
    return _REQUESTS.setdefault(dims, {}).setdefault(id(node), set())


def _empty_output_shapes(outputs, dims) -> list:
    """Per-step output shapes, for a loop over an empty sequence (None when not known)."""
    shapes = []
    for y in outputs:
        try:
            shapes.append(dims(y.shape))
        except CompileError:
            shapes.append(None)
    return shapes


def _step(body: Graph, num_carry: int, positions: tuple[int, ...], dims):
    """The compiled step returning carries, y_t and the residuals; its checker; stacked info."""
    nodes = step_nodes(body)
    stacked = list(body.outputs[num_carry:]) + [nodes[p] for p in positions]
    step = compile_graph(optimize(Graph(body.inputs, list(body.outputs[:num_carry]) + stacked))[0])
    return (step, FeedChecker(body.inputs), _empty_output_shapes(stacked, dims),
            [np.dtype(y.dtype) for y in stacked])


@register("scan")
def _scan(node, dims):
    body, k, s = node.attrs["body"], node.attrs["num_carry"], node.attrs["num_xs"]
    reverse = node.attrs["reverse"]
    requested = _requested(dims, node)
    compiled: dict[tuple[int, ...], tuple] = {}

    def run(*arrays):
        positions = tuple(sorted(requested))
        if positions not in compiled:
            compiled[positions] = _step(body, k, positions, dims)
        step, check, empty_shapes, dtypes = compiled[positions]
        carries, seqs, params = list(arrays[:k]), arrays[k:k + s], arrays[k + s:]
        length = seqs[0].shape[0]
        if any(x.shape[0] != length for x in seqs):
            raise ShapeError("scan: sequences have different lengths "
                             + ", ".join(str(x.shape[0]) for x in seqs))
        history = [np.empty((length,) + np.shape(c), c.dtype) for c in carries]
        stacks: list = [None] * len(dtypes)
        bindings: dict[str, int] = {}
        for n, t in enumerate(range(length - 1, -1, -1) if reverse else range(length)):
            for h, c in zip(history, carries):
                h[t] = c
            feeds = [*carries, *[x[t] for x in seqs], *params]
            if n < 2:
                feeds, bindings = check(feeds)
            outs = step.run_unchecked(feeds, bindings)
            carries = outs[:k]
            if n == 0:
                stacks = [np.empty((length,) + np.shape(y), dtype)
                          for y, dtype in zip(outs[k:], dtypes)]
            for stack, y in zip(stacks, outs[k:]):
                stack[t] = y
        if length == 0:
            if None in empty_shapes:
                raise ShapeError("scan: over an empty sequence the output shapes must be known")
            stacks = [np.empty((0,) + shape(), dtype)
                      for shape, dtype in zip(empty_shapes, dtypes)]
        # NOTE: copies, so no result aliases an input (a feed or a variable the caller holds).
        num_out = len(body.outputs) - k
        residuals = dict(zip(positions, stacks[num_out:]))
        return (*(np.array(c) for c in carries), *stacks[:num_out], *history, residuals)
    return run


@register("scan_result")
def _scan_result(node, dims):
    index, scan = node.attrs["index"], node.inputs[0]
    base = residual_base(scan)
    if index < base:
        return lambda results, *inputs: results[index]
    _requested(dims, scan).add(index - base)
    return lambda results, *inputs: results[-1][index - base]
