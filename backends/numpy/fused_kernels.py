"""NumPy kernels for fusion groups: the body is compiled once and run op by op on each call.

The interpreter gains nothing from fusion, but every graph stays runnable on it, so native
code can be checked against it. The body's generated code reuses buffers as any graph's does,
writing only into its own temporaries; a result that would be a view of an operand is copied,
so a fused_result always owns its array.
"""
from __future__ import annotations

import numpy as np

from backends.numpy.executor import compile_graph
from backends.numpy.kernels import register
from backends.numpy.memory import buffer_owners


@register("fused")
def _fused(node, dims):
    body = node.attrs["body"]
    step = compile_graph(body)
    owner = buffer_owners(body)
    aliases = [owner[id(t)].op == "placeholder" for t in body.outputs]

    def run(*arrays):
        outs = step.run_unchecked(list(arrays), dims.bindings)
        return tuple(np.array(o) if alias else o for o, alias in zip(outs, aliases))
    return run


@register("fused_result")
def _fused_result(node, dims):
    index = node.attrs["index"]         # checked against the group when the node was made
    return lambda results: results[index]
