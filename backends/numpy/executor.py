"""Run a graph with NumPy: the schedule is generated once as straight-line Python code.

Compiling turns the topologically ordered nodes into one Python function in which every node
is a single call of its kernel on local variables, with each temporary deleted after its last
use. A call then costs the kernels plus feed checking, with no graph walking or dispatch.
"""
from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from backends.numpy import finite
from backends.numpy.kernels import factory
from backends.numpy.memory import plan_copies, plan_in_place
from graphc.dimenv import DimEnv
from graphc.dims import evaluate
from graphc.errors import CompileError
from graphc.feeds import FeedChecker, arrange_feeds
from graphc.graph import Graph
from graphc.ops.leaves import COMMITTING, UPDATING
from graphc.printing import node_line, value_names

_FILENAME = "<graphc-numpy>"


class DimBinder:
    """Shapes with symbolic dims, resolved against the dims the current call's feeds bind.

    The bindings belong to the calling thread, so calls from several threads with different
    sizes do not mix.
    """

    def __init__(self, env: DimEnv):
        self.env = env
        self._local = threading.local()

    @property
    def bindings(self) -> dict[str, int]:
        return self._local.bindings

    @bindings.setter
    def bindings(self, bindings: dict[str, int]) -> None:
        self._local.bindings = bindings

    def __call__(self, shape) -> Callable[[], tuple[int, ...]]:
        shape = self.env.resolve_shape(shape)
        if all(isinstance(d, int) for d in shape):
            return lambda: shape
        unbound = set().union(*(self.env.unbound(d) for d in shape))
        if unbound:
            raise CompileError(f"symbolic dim {sorted(unbound)[0]} is not bound by any "
                               "input's shape")
        local = self._local
        return lambda: tuple(evaluate(d, local.bindings) for d in shape)


class NumpyFunction:
    """A compiled graph: call it with one array per input; it returns new arrays.

    A call computes every output and every variable's new value before it assigns any: a call
    that raises leaves all variables as they were. With check_finite, a node producing NaN or
    infinity raises NonFiniteError (see backends/numpy/finite.py).
    """

    def __init__(self, graph: Graph, single_output: bool = False, check_finite: bool = False):
        self.graph = graph
        self.single_output = single_output
        self._check = FeedChecker(graph.inputs, graph.dims)
        self._dims = DimBinder(graph.dims)
        self._variables = [v.attrs["var"] for v in graph.variables]
        self._targets = [var.attrs["var"] for var, _ in graph.updates]
        self._copy_updates, self._copy_outputs = plan_copies(graph)
        self.source, self._run, self._line_nodes = _generate(graph, self._dims, check_finite)

    def __call__(self, *args, **named):
        if named:
            args = arrange_feeds([t.name for t in self.graph.inputs], args, named)
        arrays, bindings = self._check(args)
        if self._targets:
            with UPDATING:
                values = [v._value for v in self._variables]
                outputs, new_values = self._execute(arrays, values, bindings)
                _copy_at(new_values, self._copy_updates)
                _commit(self._targets, new_values)
        else:
            outputs = self._execute(arrays, _snapshot(self._variables), bindings)[0]
        _copy_at(outputs, self._copy_outputs)
        return outputs[0] if self.single_output else outputs

    def _execute(self, arrays: list, variables, bindings: dict[str, int]) -> tuple[list, list]:
        """The outputs and the new values of the updated variables, as the kernels left them."""
        self._dims.bindings = bindings
        try:
            return self._run(arrays, variables, bindings)
        except Exception as exc:
            _annotate(exc, self._line_nodes, self.graph)
            raise

    def run_unchecked(self, arrays: list, bindings: dict[str, int]) -> list:
        """The raw outputs for feeds already checked (bindings from a FeedChecker), no copies.

        For a graph without variables called once per loop step (a scan body), where feed
        checks would cost as much as a small step.
        """
        return self._execute(arrays, (), bindings)[0]


def _copy_at(arrays: list, positions: tuple[int, ...]) -> None:
    """Replace the arrays at these positions by copies (the list is the call's own)."""
    for i in positions:
        arrays[i] = np.array(arrays[i])


def _snapshot(variables: list) -> list[np.ndarray]:
    """The variables' values, all as one commit left them."""
    if not variables:
        return []
    with COMMITTING:
        return [v._value for v in variables]


def _commit(variables: list, values: list) -> None:
    """Assign every new value (computed in full, so nothing here can fail half-way)."""
    with COMMITTING:
        for var, value in zip(variables, values):
            var._value = value


def _generate(graph: Graph, dims: DimBinder, check_finite: bool = False):
    """Source of the straight-line function, the function, and its line -> node map.

    With check_finite, no node computes in place, so that a bad result's inputs are intact.
    """
    kernels = {}
    for node in graph.nodes:
        if node.op not in ("placeholder", "variable", "constant"):
            kernels[id(node)] = _kernel(node, dims)
    in_place = {} if check_finite else plan_in_place(graph, kernels)
    namespace: dict = {"__builtins__": {}}
    if check_finite:
        namespace.update(all_finite=finite.all_finite, nonfinite=finite.reporter(graph))
    names: dict[int, str] = {}
    for k, t in enumerate(graph.inputs):
        names[id(t)] = f"x{k}"
    for k, t in enumerate(graph.variables):
        names[id(t)] = f"v{k}"
    last_use = _last_uses(graph)
    keep = {id(t) for t in graph.outputs} | {id(v) for _, v in graph.updates}
    body: list[str] = [_unpack(graph.inputs, names, "inputs"),
                       _unpack(graph.variables, names, "variables")]
    line_nodes: dict[int, object] = {}
    for i, node in enumerate(graph.nodes):
        if node.op == "constant":
            names[id(node)] = f"c{i}"
            namespace[f"c{i}"] = node.attrs["value"].array
            continue
        if node.op in ("placeholder", "variable"):
            continue
        namespace[f"f{i}"] = kernels[id(node)]
        names[id(node)] = f"t{i}"
        args = [names[id(a)] for a in node.inputs]
        if i in in_place:
            args.append(f"out={args[in_place[i]]}")
        body.append(f"    t{i} = f{i}({', '.join(args)})")
        line_nodes[len(body) + 1] = node
        if check_finite and finite.is_checked(node):
            body.append(f"    if not all_finite(t{i}): nonfinite({i}, t{i}, {', '.join(args)})")
        dead = [names[id(a)] for a in dict.fromkeys(node.inputs)
                if last_use.get(id(a)) == i and id(a) not in keep and names[id(a)][0] == "t"]
        if dead:
            body.append(f"    del {', '.join(dead)}")
    outs = ", ".join(names[id(t)] for t in graph.outputs)
    news = ", ".join(names[id(v)] for _, v in graph.updates)
    body.append(f"    return [{outs}], [{news}]")
    source = "def run(inputs, variables, bindings):\n" + "\n".join(body) + "\n"
    exec(compile(source, _FILENAME, "exec"), namespace)  # noqa: S102 (our own generated code)
    return source, namespace["run"], line_nodes


def _kernel(node, dims: DimBinder):
    make_kernel = factory(node.op)
    if make_kernel is None:
        raise CompileError(f"the numpy backend has no kernel for op {node.op}"
                           + (f" (built at {node.loc})" if node.loc else ""))
    return make_kernel(node, dims)


def _unpack(tensors, names: dict[int, str], source: str) -> str:
    if not tensors:
        return "    pass"
    return f"    {', '.join(names[id(t)] for t in tensors)}, = {source}"


def _last_uses(graph: Graph) -> dict[int, int]:
    last: dict[int, int] = {}
    for i, node in enumerate(graph.nodes):
        for inp in node.inputs:
            last[id(inp)] = i
    return last


def _annotate(exc: Exception, line_nodes: dict, graph: Graph) -> None:
    """Name the node whose kernel failed (and where the user built it) in the error."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == _FILENAME and tb.tb_lineno in line_nodes:
            node = line_nodes[tb.tb_lineno]
            exc.add_note(f"graphc: while computing {node_line(node, value_names(graph)).strip()}")
            return
        tb = tb.tb_next


def compile_graph(graph: Graph, single_output: bool = False,
                  check_finite: bool = False) -> NumpyFunction:
    return NumpyFunction(graph, single_output, check_finite)

