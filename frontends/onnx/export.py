"""gc.onnx.save: a graphc inference graph as an ONNX model (opset 17).

Each graphc op maps to a few ONNX nodes through one table. im2col + conv become one Conv; a
scan loop over a static length is unrolled, one over a symbolic length becomes an ONNX Scan
whose body reads the values it closes over from the outer graph by name. Variables
are written as initializers with their current values. Graphs with updates (training steps)
and ops without an ONNX equivalent (random draws, gradient-only ops) raise OnnxError.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from frontends.onnx.dtypes import FROM_GRAPHC
from frontends.onnx.errors import OnnxError
from graphc.dims import DimExpr
from graphc.graph import Graph
from graphc.ops.scan import step_nodes
from graphc.tensor import Tensor

OPSET = 17
INT64_MAX, INT64_MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min


class Emitter:
    """Accumulates ONNX nodes and initializers; names every value it emits."""

    def __init__(self, graph: Graph, input_names: dict, prefix: str = ""):
        self.graph, self.input_names, self.prefix = graph, input_names, prefix
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.counter = 0
        self.constants: dict[tuple, str] = {}
        self.names: dict = {}       # value -> name, for rules that read past their inputs

    def fresh(self, hint: str = "v") -> str:
        self.counter += 1
        return f"{self.prefix}{hint}_{self.counter}"

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        return self.ops(op_type, inputs, 1, **attrs)[0]

    def ops(self, op_type: str, inputs: list[str], outputs: int, **attrs) -> list[str]:
        names = [self.fresh(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, **attrs))
        return names

    def const(self, value, dtype=None) -> str:
        array = np.asarray(value, dtype=dtype)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self.constants:
            name = self.fresh("const")
            self.initializers.append(numpy_helper.from_array(array, name))
            self.constants[key] = name
        return self.constants[key]

    def ints(self, values) -> str:
        return self.const(np.array(list(values), np.int64))

    def shape_of(self, shape) -> str:
        """A 1-D int64 tensor holding `shape`, reading symbolic dims off the graph's inputs."""
        if all(isinstance(d, int) for d in shape):
            return self.ints(shape)
        parts = []
        for d in shape:
            if isinstance(d, int):
                parts.append(self.ints([d]))
                continue
            source = next(((t, axis) for t in self.graph.inputs
                           for axis, e in enumerate(t.shape) if e == d), None)
            if source is None:
                raise OnnxError(f"cannot export: dim {d} is not a dim of any input")
            whole = self.op("Shape", [self.input_names[source[0]]])
            parts.append(self.op("Slice", [whole, self.ints([source[1]]),
                                           self.ints([source[1] + 1])]))
        return self.op("Concat", parts, axis=0)


Rule = Callable[[Emitter, Tensor, list[str]], str]
RULES: dict[str, Rule] = {}


def rule(*ops: str):
    def decorate(fn: Rule) -> Rule:
        for op in ops:
            RULES[op] = fn
        return fn
    return decorate


_SAME = {"add": "Add", "subtract": "Sub", "multiply": "Mul", "divide": "Div", "power": "Pow",
         "maximum": "Max", "minimum": "Min", "neg": "Neg", "abs": "Abs", "sign": "Sign",
         "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "reciprocal": "Reciprocal", "sin": "Sin",
         "cos": "Cos", "tanh": "Tanh", "erf": "Erf", "floor": "Floor", "ceil": "Ceil",
         "sigmoid": "Sigmoid", "relu": "Relu", "softplus": "Softplus", "equal": "Equal",
         "less": "Less", "less_equal": "LessOrEqual", "greater": "Greater",
         "greater_equal": "GreaterOrEqual", "logical_and": "And", "logical_or": "Or",
         "logical_not": "Not", "where": "Where", "matmul": "MatMul",
         "stop_gradient": "Identity", "concatenate": "Concat"}


@rule(*_SAME)
def _same(e: Emitter, t: Tensor, ins: list[str]) -> str:
    attrs = {"axis": t.attrs["axis"]} if t.op == "concatenate" else {}
    return e.op(_SAME[t.op], ins, **attrs)


@rule("not_equal")
def _not_equal(e, t, ins):
    return e.op("Not", [e.op("Equal", ins)])


@rule("square")
def _square(e, t, ins):
    return e.op("Mul", [ins[0], ins[0]])


@rule("rsqrt")
def _rsqrt(e, t, ins):
    return e.op("Reciprocal", [e.op("Sqrt", ins)])


@rule("log1p", "expm1")
def _log1p_expm1(e, t, ins):
    one = e.const(np.array(1, t.dtype))
    if t.op == "log1p":
        return e.op("Log", [e.op("Add", [ins[0], one])])
    return e.op("Sub", [e.op("Exp", ins), one])


@rule("cast")
def _cast(e, t, ins):
    return e.op("Cast", ins, to=FROM_GRAPHC[t.dtype])


@rule("sum", "prod", "max", "min")
def _reduce(e, t, ins):
    op = {"sum": "ReduceSum", "prod": "ReduceProd", "max": "ReduceMax", "min": "ReduceMin"}
    keepdims = int(t.attrs["keepdims"])
    if t.inputs[0].dtype == "bool":      # max/min of bools: any/all
        as_int = e.op("Cast", ins, to=onnx.TensorProto.INT32)
        y = e.op(op[t.op], [as_int], axes=list(t.attrs["axes"]), keepdims=keepdims)
        return e.op("Cast", [y], to=onnx.TensorProto.BOOL)
    if t.op == "sum":
        return e.op("ReduceSum", [ins[0], e.ints(t.attrs["axes"])], keepdims=keepdims)
    return e.op(op[t.op], ins, axes=list(t.attrs["axes"]), keepdims=keepdims)


@rule("argmax", "argmin")
def _arg(e, t, ins):
    x, axis = ins[0], t.attrs["axis"]
    if axis is None:
        x, axis = e.op("Reshape", [x, e.ints([-1])]), 0
    y = e.op("ArgMax" if t.op == "argmax" else "ArgMin", [x], axis=axis,
             keepdims=int(t.attrs["keepdims"]))
    if t.attrs["axis"] is None and t.attrs["keepdims"]:
        y = e.op("Reshape", [y, e.ints([1] * t.inputs[0].ndim)])
    return y


@rule("shape_size")
def _shape_size(e, t, ins):
    dims = e.op("Gather", [e.op("Shape", ins), e.ints(t.attrs["axes"])])
    size = e.op("ReduceProd", [dims], keepdims=0)
    return e.op("Cast", [size], to=FROM_GRAPHC[t.dtype])


def _target_shape(e: Emitter, x: Tensor, shape) -> str:
    """Reshape's target: a symbolic dim becomes 0 where x has it at that position, or -1."""
    dims = []
    for i, d in enumerate(shape):
        if isinstance(d, int):
            dims.append(d)
        elif i < x.ndim and x.shape[i] == d:
            dims.append(0)
        else:
            dims.append(-1)
    if dims.count(-1) > 1 or (0 in dims and any(d == 0 for d in shape)):
        return e.shape_of(shape)
    return e.ints(dims)


@rule("reshape")
def _reshape(e, t, ins):
    return e.op("Reshape", [ins[0], _target_shape(e, t.inputs[0], t.attrs["shape"])])


@rule("transpose")
def _transpose(e, t, ins):
    return e.op("Transpose", ins, perm=list(t.attrs["perm"]))


@rule("broadcast_to")
def _broadcast(e, t, ins):
    x, shape = t.inputs[0], t.attrs["shape"]
    lead = len(shape) - x.ndim
    # Expand keeps a dim of x where the target says 1, so a symbol x already has needs no value.
    dims = [1 if not isinstance(d, int) and i >= lead and x.shape[i - lead] == d else d
            for i, d in enumerate(shape)]
    return e.op("Expand", [ins[0], e.shape_of(dims)])


@rule("slice")
def _slice(e, t, ins):
    starts, ends, axes, steps = [], [], [], []
    for axis, (start, stop, step) in enumerate(t.attrs["slices"]):
        if (start, stop, step) == (None, None, None):
            continue
        step = 1 if step is None else step
        starts.append(start if start is not None else (0 if step > 0 else INT64_MAX))
        ends.append(stop if stop is not None else (INT64_MAX if step > 0 else INT64_MIN))
        axes.append(axis)
        steps.append(step)
    if not axes:
        return e.op("Identity", ins)
    return e.op("Slice", [ins[0], e.ints(starts), e.ints(ends), e.ints(axes), e.ints(steps)])


@rule("pad")
def _pad(e, t, ins):
    pads = t.attrs["pads"]
    flat = [lo for lo, _ in pads] + [hi for _, hi in pads]
    value = e.const(np.array(t.attrs["value"], t.dtype))
    return e.op("Pad", [ins[0], e.ints(flat), value], mode="constant")


@rule("take")
def _take(e, t, ins):
    return e.op("Gather", ins, axis=t.attrs["axis"])


@rule("take_along_axis")
def _take_along(e, t, ins):
    return e.op("GatherElements", ins, axis=t.attrs["axis"])


@rule("one_hot")
def _one_hot(e, t, ins):
    values = e.const(np.array([0, 1], t.dtype))
    return e.op("OneHot", [ins[0], e.ints([t.attrs["depth"]]), values], axis=-1)


def _window(t: Tensor) -> dict:
    nd = len(t.attrs["kernel"])
    return {"kernel_shape": list(t.attrs["kernel"]), "strides": list(t.attrs["stride"]),
            "pads": [p[0] for p in t.attrs["pads"]] + [p[1] for p in t.attrs["pads"]],
            "dilations": list(t.attrs["dilation"])} if nd else {}


@rule("conv")
def _conv(e, t, ins):
    cols = t.inputs[0]
    if cols.op != "im2col":
        raise OnnxError("cannot export a conv whose columns are not an im2col of its input")
    window = _window(cols)
    window.pop("kernel_shape")
    return e.op("Conv", [e.names[cols.inputs[0]], ins[1]], group=t.attrs["groups"], **window)


@rule("im2col")
def _im2col(e, t, ins):
    return ""      # emitted as part of the Conv that reads it


@rule("max_pool")
def _max_pool(e, t, ins):
    return e.op("MaxPool", ins, **_window(t))


@rule("avg_pool")
def _avg_pool(e, t, ins):
    window = _window(t)
    if any(d != 1 for d in window.pop("dilations")):
        raise OnnxError("cannot export a dilated average pool at opset 17")
    return e.op("AveragePool", ins, count_include_pad=1, **window)


# ---- scan: unrolled over a static length, an ONNX Scan over a symbolic one ---------------------

def _scan(e: Emitter, node: Tensor) -> list[str]:
    """The names of a scan node's results (final carries, stacked outputs)."""
    length = node.inputs[node.attrs["num_carry"]].shape[0]
    return _unroll(e, node) if isinstance(length, int) else _onnx_scan(e, node)


def _onnx_scan(e: Emitter, node: Tensor) -> list[str]:
    """One ONNX Scan whose body is the loop's body; closed-over values are outer names."""
    body, k, s = node.attrs["body"], node.attrs["num_carry"], node.attrs["num_xs"]
    outer = [e.names[i] for i in node.inputs]
    inner = Emitter(e.graph, e.input_names, prefix=e.fresh("body") + "_")
    env: dict = dict(zip(body.inputs[k + s:], outer[k + s:]))
    inputs = []
    for t in body.inputs[:k + s]:
        env[t] = inner.fresh("in")
        inputs.append(helper.make_tensor_value_info(env[t], FROM_GRAPHC[t.dtype], _dims(t.shape)))
    for t in step_nodes(body):
        if t not in env:
            env[t] = emit(inner, t, env)
    outputs = []
    for t in body.outputs:
        name = inner.fresh("out")
        inner.nodes.append(helper.make_node("Identity", [env[t]], [name]))
        outputs.append(helper.make_tensor_value_info(name, FROM_GRAPHC[t.dtype], _dims(t.shape)))
    graph = helper.make_graph(inner.nodes, inner.prefix + "graph", inputs, outputs,
                              inner.initializers)
    backwards = int(node.attrs["reverse"])
    return e.ops("Scan", outer[:k + s], len(body.outputs), body=graph, num_scan_inputs=s,
                 scan_input_directions=[backwards] * s,
                 scan_output_directions=[backwards] * (len(body.outputs) - k))


def _unroll(e: Emitter, node: Tensor) -> list[str]:
    """The scan's results from a copy of its body per step."""
    body, k, s = node.attrs["body"], node.attrs["num_carry"], node.attrs["num_xs"]
    length = node.inputs[k].shape[0]
    outer = [e.names[i] for i in node.inputs]
    carries, seqs, free = outer[:k], outer[k:k + s], outer[k + s:]
    ys: list[list[str]] = [[] for _ in body.outputs[k:]]
    steps = range(length - 1, -1, -1) if node.attrs["reverse"] else range(length)
    for step in steps:
        xs = [e.op("Gather", [seq, e.const(np.int64(step))], axis=0) for seq in seqs]
        env = dict(zip(body.inputs, carries + xs + free))
        for inner in step_nodes(body):
            if inner not in env:
                env[inner] = emit(e, inner, env)
        carries = [env[t] for t in body.outputs[:k]]
        for stack, t in zip(ys, body.outputs[k:]):
            stack.append(env[t])
    if node.attrs["reverse"]:
        ys = [list(reversed(stack)) for stack in ys]
    stacked = [e.op("Concat", [e.op("Unsqueeze", [y, e.ints([0])]) for y in stack], axis=0)
               for stack in ys]
    return carries + stacked


def emit(e: Emitter, t: Tensor, env: dict) -> str:
    """Emit t (its inputs already in env) and return its value's name."""
    e.names = env
    if t.op in ("constant", "variable"):
        return e.const(t.value)
    if t.op == "scan":
        return ""
    if t.op == "scan_result":
        scan = t.inputs[0]
        results = env.get(("scan", scan))
        if results is None:
            results = env[("scan", scan)] = _scan(e, scan)
        if t.attrs["index"] >= len(results):
            raise OnnxError("cannot export the stored per-step values of a scan (a gradient)")
        return results[t.attrs["index"]]
    fn = RULES.get(t.op)
    if fn is None:
        raise OnnxError(f"cannot export op {t.op}: it has no ONNX equivalent here"
                        + (f" (built at {t.loc})" if t.loc else ""))
    return fn(e, t, [env[i] for i in t.inputs])


def _dims(shape) -> list:
    """Static dims as ints, symbols as dim_params (an anonymous ?3 becomes d3); an expression
    of symbols (n - 1) is left unnamed, as ONNX has no way to say it."""
    return [None if isinstance(d, DimExpr) else d if isinstance(d, int) else d.replace("?", "d")
            for d in shape]


def to_model(graph: Graph) -> onnx.ModelProto:
    """The ONNX model of an inference graph."""
    if not isinstance(graph, Graph):
        raise OnnxError(f"gc.onnx.save takes a gc.Graph, got {type(graph).__name__}")
    if graph.updates:
        raise OnnxError("cannot export a graph with variable updates (a training step); export "
                        "the inference graph")
    env: dict = {}
    inputs = []
    for k, t in enumerate(graph.inputs):
        name = t.name or f"input_{k}"
        env[t] = name if name not in env.values() else f"{name}_{k}"
        inputs.append(helper.make_tensor_value_info(env[t], FROM_GRAPHC[t.dtype],
                                                    _dims(t.shape)))
    e = Emitter(graph, dict(env))
    for t in graph.nodes:
        if t not in env:
            env[t] = emit(e, t, env)
    outputs = []
    for k, t in enumerate(graph.outputs):
        name = f"output_{k}"
        e.nodes.append(helper.make_node("Identity", [env[t]], [name]))
        outputs.append(helper.make_tensor_value_info(name, FROM_GRAPHC[t.dtype], _dims(t.shape)))
    model = helper.make_model(helper.make_graph(e.nodes, "graphc", inputs, outputs,
                                                e.initializers),
                              opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="graphc")
    onnx.checker.check_model(model)
    return model


def save(graph: Graph, path) -> Path:
    """Write an inference graph as an ONNX model file; returns the path."""
    path = Path(path)
    path.write_bytes(to_model(graph).SerializeToString())
    return path


