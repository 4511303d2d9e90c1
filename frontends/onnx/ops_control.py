"""Control flow: Scan and Loop (a fixed trip count) as gc.scan, If as a choice between branches.

Bodies are ONNX subgraphs converted like the main graph; they see outer values by name, and
gc.scan closes over what they use.
"""
from __future__ import annotations

import numpy as np

import graphc as gc
from frontends.onnx.fold import static_value
from frontends.onnx.node import Node
from frontends.onnx.table import converts
from graphc.tensor import Tensor


def _move_axis(x: Tensor, source: int, dest: int) -> Tensor:
    axes = [a for a in range(x.ndim) if a != source]
    axes.insert(dest, source)
    return gc.transpose(x, tuple(axes))


def _reversed(x: Tensor) -> Tensor:
    return x[::-1]


def _checked(n: Node, new: list[Tensor], old: list[Tensor]) -> tuple[Tensor, ...]:
    """The body's new loop-carried values, in the dtypes the loop started with."""
    for k, (a, b) in enumerate(zip(new, old)):
        if a.dtype != b.dtype:
            raise n.fail(f"the body turns state {k} from {b.dtype} into {a.dtype}")
    return tuple(new)


@converts("Scan", attrs=("body", "num_scan_inputs", "scan_input_axes", "scan_input_directions",
                         "scan_output_axes", "scan_output_directions"), min_opset=9)
def scan(n: Node):
    count = n.attr("num_scan_inputs")
    states, sequences = list(n.inputs[:len(n.inputs) - count]), n.inputs[len(n.inputs) - count:]
    in_axes = n.attr("scan_input_axes", [0] * count)
    in_dirs = n.attr("scan_input_directions", [0] * count)
    seqs = []
    for x, axis, backwards in zip(sequences, in_axes, in_dirs):
        x = _move_axis(x, n.axis(axis, x.ndim), 0)
        seqs.append(_reversed(x) if backwards else x)
    num_out = len(n.attr("body").output) - len(states)

    def step(carry, xs):
        outs = n.subgraph("body", list(carry) + list(xs))
        return _checked(n, outs[:len(states)], states), tuple(outs[len(states):]) or None
    final, ys = gc.scan(step, tuple(states), tuple(seqs))
    ys = list(ys or ())
    out_axes = n.attr("scan_output_axes", [0] * num_out)
    out_dirs = n.attr("scan_output_directions", [0] * num_out)
    for k, (y, axis, backwards) in enumerate(zip(ys, out_axes, out_dirs)):
        y = _reversed(y) if backwards else y
        ys[k] = _move_axis(y, 0, n.axis(axis, y.ndim))
    return list(final) + ys


MAX_UNROLLED = 64    # longer loops become one gc.scan node


@converts("Loop", attrs=("body",))
def loop(n: Node):
    """A loop with a trip count known at load time whose condition stays true.

    Short loops are unrolled, so the iteration number is a constant in each copy of the body
    (bodies often slice with it); longer ones become a gc.scan over the iteration numbers.
    """
    if not n.has(0):
        raise n.unsupported("a loop without a trip count (it ends on a computed condition)")
    trips = int(np.asarray(n.static(0)).reshape(-1)[0])
    if n.has(1) and not bool(np.asarray(n.static(1)).reshape(-1)[0]):
        raise n.unsupported("a loop whose condition starts false")
    if trips <= 0:
        raise n.unsupported("a loop of zero iterations")
    states = list(n.inputs[2:])
    keep_going = gc.constant(np.bool_(True))

    def body(carry, i):
        outs = n.subgraph("body", [i, keep_going] + list(carry))
        condition = static_value(outs[0])
        if condition is None or not bool(np.asarray(condition).reshape(-1)[0]):
            raise n.unsupported("a loop whose condition is computed (it may end early)")
        return _checked(n, outs[1:1 + len(states)], states), list(outs[1 + len(states):])
    if trips <= MAX_UNROLLED:
        carry, stacks = tuple(states), []
        for i in range(trips):
            carry, ys = body(carry, gc.constant(np.int64(i)))
            stacks.append(ys)
        return list(carry) + [gc.stack(list(column)) for column in zip(*stacks)]

    def step(carry, i):
        new, ys = body(carry, i)
        return new, tuple(ys) or None
    final, ys = gc.scan(step, tuple(states), gc.constant(np.arange(trips, dtype=np.int64)))
    return list(final) + list(ys or ())


@converts("If", attrs=("then_branch", "else_branch"))
def if_(n: Node):
    """The branch the condition picks; computed at run time, both branches and a where."""
    known = static_value(n.x(0))
    if known is not None:
        branch = "then_branch" if bool(np.asarray(known).reshape(-1)[0]) else "else_branch"
        return n.subgraph(branch, [])
    cond = gc.reshape(gc.cast(n.x(0), "bool"), ())
    then, other = n.subgraph("then_branch", []), n.subgraph("else_branch", [])
    for a, b in zip(then, other):
        if a.shape != b.shape or a.dtype != b.dtype:
            raise n.unsupported(f"branches of different types {a.type} and {b.type} chosen "
                                "at run time")
    return [gc.where(cond, a, b) for a, b in zip(then, other)]
