"""Softmax, LogSoftmax and Hardmax (both axis semantics), and the two classification losses."""
from __future__ import annotations

import numpy as np

import graphc as gc
from frontends.onnx.node import Node
from frontends.onnx.table import converts
from graphc.tensor import Tensor


def _along_axis(n: Node, x: Tensor, fn) -> Tensor:
    """fn along the node's axis: before opset 13, over x coerced to 2-D at axis (default 1)."""
    if n.opset >= 13:
        return fn(x, n.axis(n.attr("axis", -1), x.ndim))
    axis = n.axis(n.attr("axis", 1), x.ndim) if x.ndim else 0
    if fn is not _hardmax:
        return fn(x, tuple(range(axis, x.ndim)))      # the trailing axes as one
    head = x.shape[:axis]
    if not all(isinstance(d, int) for d in head):
        raise n.unsupported(f"opset-{n.opset} Hardmax over axis {axis} of {x.type}, whose "
                            "leading dims are symbolic")
    return gc.reshape(fn(gc.reshape(x, (int(np.prod(head)), -1)), 1), x.shape)


def _hardmax(x: Tensor, axis: int) -> Tensor:
    hot = gc.one_hot(gc.argmax(x, axis), x.shape[axis], x.dtype)
    return gc.transpose(hot, tuple(range(axis)) + (x.ndim - 1,) + tuple(range(axis, x.ndim - 1)))


_FUNCTIONS = {"Softmax": gc.softmax, "LogSoftmax": gc.log_softmax, "Hardmax": _hardmax}


@converts(*_FUNCTIONS, attrs=("axis",))
def softmax(n: Node) -> Tensor:
    return _along_axis(n, n.x(0), _FUNCTIONS[n.op_type])


def nll(n: Node, log_prob: Tensor, target: Tensor, weight: Tensor | None) -> Tensor:
    """-log_prob[i, target[i], ...] weighted, ignore_index dropped, reduced as asked."""
    ignore = n.attr("ignore_index")
    index = target if ignore is None else gc.where(gc.equal(target, ignore), 0, target)
    picked = gc.squeeze(gc.take_along_axis(log_prob, gc.expand_dims(index, 1), axis=1), 1)
    w = gc.take(gc.cast(weight, log_prob.dtype), index) if weight is not None else None
    if ignore is not None:
        keep = gc.cast(gc.not_equal(target, ignore), log_prob.dtype)
        w = keep if w is None else w * keep
    loss = -picked if w is None else -picked * w
    reduction = n.attr("reduction", "mean")
    if reduction == "none":
        return loss
    if reduction == "sum":
        return gc.sum(loss)
    if reduction != "mean":
        raise n.unsupported(f"reduction {reduction!r}")
    return gc.mean(loss) if w is None else gc.sum(loss) / gc.sum(gc.broadcast_to(w, loss.shape))


@converts("NegativeLogLikelihoodLoss", attrs=("ignore_index", "reduction"))
def negative_log_likelihood(n: Node) -> Tensor:
    return nll(n, n.x(0), n.x(1), n.input(2))


@converts("SoftmaxCrossEntropyLoss", attrs=("ignore_index", "reduction"))
def softmax_cross_entropy(n: Node):
    log_prob = gc.log_softmax(n.x(0), axis=1)
    return nll(n, log_prob, n.x(1), n.input(2)), log_prob
