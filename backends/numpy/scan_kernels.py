"""NumPy kernels for scan: the body is compiled once, then called once per time step."""
from __future__ import annotations

import numpy as np

from backends.numpy.executor import compile_graph
from backends.numpy.kernels import register
from graphc.errors import CompileError, ShapeError
from graphc.passes import optimize


def _empty_output_shapes(body, num_carry: int, dims) -> list:
    """Per-step output shapes, for a loop over an empty sequence (None when not known)."""
    shapes = []
    for y in body.outputs[num_carry:]:
        try:
            shapes.append(dims(y.shape))
        except CompileError:
            shapes.append(None)
    return shapes


@register("scan")
def _scan(node, dims):
    body, k, s = node.attrs["body"], node.attrs["num_carry"], node.attrs["num_xs"]
    step = compile_graph(optimize(body))
    empty_shapes = _empty_output_shapes(body, k, dims)
    out_dtypes = [np.dtype(y.dtype) for y in body.outputs[k:]]

    def run(*arrays):
        carries, seqs, params = list(arrays[:k]), arrays[k:k + s], arrays[k + s:]
        length = seqs[0].shape[0]
        if any(x.shape[0] != length for x in seqs):
            raise ShapeError("scan: sequences have different lengths "
                             + ", ".join(str(x.shape[0]) for x in seqs))
        history = [np.empty((length,) + np.shape(c), c.dtype) for c in carries]
        ys: list = [None] * len(out_dtypes)
        for t in (range(length - 1, -1, -1) if node.attrs["reverse"] else range(length)):
            for h, c in zip(history, carries):
                h[t] = c
            outs = step(*carries, *(x[t] for x in seqs), *params)
            carries = outs[:k]
            for m, y in enumerate(outs[k:]):
                if ys[m] is None:
                    ys[m] = np.empty((length,) + np.shape(y), out_dtypes[m])
                ys[m][t] = y
        if length == 0:
            if None in empty_shapes:
                raise ShapeError("scan: over an empty sequence the output shapes must be known")
            ys = [np.empty((0,) + shape(), dtype) for shape, dtype in zip(empty_shapes,
                                                                          out_dtypes)]
        # NOTE: copies, so no result aliases an input (a variable may be updated in place).
        return (*(np.array(c) for c in carries), *ys, *history)
    return run


@register("scan_result")
def _scan_result(node, dims):
    index = node.attrs["index"]
    return lambda results, *inputs: results[index]
