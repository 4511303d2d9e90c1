"""check_finite: name the first node whose result holds NaN or infinity, and what it was fed.

With the guard on, the generated code checks each float node's result right after computing
it (`if not all_finite(t5): nonfinite(5, t5, t3, v0)`), so a guarded call stops at the first
bad value; with it off, the code holds no check at all.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from graphc.dtypes import FLOATS, SHORT
from graphc.errors import NonFiniteError
from graphc.graph import Graph
from graphc.ops.leaves import UPDATING
from graphc.printing import node_line, value_names
from graphc.registry import OPS, Kind
from graphc.tensor import Tensor


def is_checked(node: Tensor) -> bool:
    """Whether the guard checks this node: a computed float value (a scan's results are)."""
    return node.dtype in FLOATS and OPS[node.op].kind not in (Kind.LEAF, Kind.COMPOSITE)


def all_finite(a) -> bool:
    # NOTE: a function of this module, not code run in the generated function's namespace,
    # which has no builtins for the imports NumPy makes on first use (ndarray.all does).
    return bool(np.isfinite(a).all())


def reporter(graph: Graph) -> Callable[..., None]:
    """nonfinite(index, result, *inputs): raise NonFiniteError for graph.nodes[index]."""
    def nonfinite(index: int, result, *inputs) -> None:
        node, names = graph.nodes[index], value_names(graph)
        lines = [f"check_finite: {node_line(node, names).split('  # ')[0]} produced "
                 f"{_bad_counts(np.asarray(result))}"]
        if node.loc:
            lines.append(f"  built at {node.loc}")
        if node.grad_of is not None:
            lines.append(f"  in the gradient of {_forward(node.grad_of, names)}")
        lines.append("  inputs:")
        lines += [f"    {names.ref(t)} {summary(np.asarray(a))}"
                  for t, a in zip(node.inputs, inputs)]
        raise NonFiniteError("\n".join(lines))
    return nonfinite


def _forward(node: Tensor, names) -> str:
    """The forward node a gradient node differentiates, by name when the graph still has it."""
    ref = f"{names.ref(node)} = " if id(node) in names else ""
    return f"{ref}{node.op}" + (f" (built at {node.loc})" if node.loc else "")


def _bad_counts(a: np.ndarray) -> str:
    counts = [(int(np.isnan(a).sum()), "nan"), (int((a == np.inf).sum()), "inf"),
              (int((a == -np.inf).sum()), "-inf")]
    bad = " and ".join(f"{n} {what}" for n, what in counts if n)
    return f"{bad} among its {a.size} values"


def summary(a: np.ndarray) -> str:
    """An array's type and what its values hold: finite range, negatives, zeros, non-finite."""
    head = f"{SHORT.get(a.dtype.name, a.dtype.name)}[{','.join(map(str, a.shape))}]"
    if a.size == 0:
        return head + ": empty"
    if a.dtype.kind == "b":
        return f"{head}: {int(a.sum())} true of {a.size}"
    finite = a[np.isfinite(a)] if a.dtype.kind == "f" else a
    parts = ([f"min {finite.min():.6g}, max {finite.max():.6g}"] if finite.size
             else ["no finite values"])
    parts += [f"{n} {what}" for n, what in ((int((finite < 0).sum()), "negative"),
                                            (int((finite == 0).sum()), "zero")) if n]
    if a.dtype.kind == "f" and finite.size < a.size:
        parts.append(_bad_counts(a).removesuffix(f" among its {a.size} values"))
    return f"{head}: " + ", ".join(parts)


class ResultGuard:
    """check_finite for a backend without per-node checks (native code), as JAX's debug_nans
    does it: a call's float outputs and new values are checked; a bad one undoes the call's
    commit (a backend's steps give variables new arrays, so the old ones are intact) and runs
    the same call here, guarded node by node, which names the node. A NaN hidden inside the
    graph (masked by a where) is seen only by the interpreter's own guard."""

    def __init__(self, function, graph: Graph, single_output: bool):
        self.function, self.graph, self.single_output = function, graph, single_output
        self._targets = [var.attrs["var"] for var, _ in graph.updates]
        self._interpreter = None

    def __call__(self, *args, **named):
        with UPDATING:      # no other call may commit between this one and its undoing
            before = [var._value for var in self._targets]
            result = self.function(*args, **named)
            outputs = [result] if self.single_output else list(result)
            if all(map(_all_finite, [*outputs, *(var._value for var in self._targets)])):
                return result
            self._undo(before)
            self._locate(args, named)

    def _undo(self, values: list) -> None:
        for var, value in zip(self._targets, values):
            var._value = value

    def _locate(self, args: tuple, named: dict) -> None:
        """Raise the interpreter's NonFiniteError for this call (leaving variables as before)."""
        if self._interpreter is None:
            from backends.numpy.executor import compile_graph
            self._interpreter = compile_graph(self.graph, self.single_output, check_finite=True)
        before = [var._value for var in self._targets]
        self._interpreter(*args, **named)
        self._undo(before)
        raise NonFiniteError("check_finite: the native code's results hold NaN or infinity, but "
                             "the interpreter's node-by-node guard found none on this call (a "
                             "difference in rounding between the backends)")

    def __getattr__(self, name: str):
        return getattr(self.function, name)      # llvm_ir(), asm(), ...


def _all_finite(array) -> bool:
    array = np.asarray(array)
    return array.dtype.kind != "f" or bool(np.isfinite(array).all())
