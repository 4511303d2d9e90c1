"""Loss functions and penalties: losses give one value per example (reduce with gc.mean).

Classification losses take logits (or log-probabilities for nll) and compute stably, without
exponentiating large values or taking log(0). Labels are integer class indices or one-hot
(soft) targets along `axis`. Penalties (l1, l2, elastic_net) are scalars over a list of
parameters, to add to a mean loss.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from graphc.dtypes import INTS, is_float
from graphc.errors import DTypeError, ShapeError
from graphc.ops import elementwise as ew
from graphc.ops import indexing, layout, reductions
from graphc.ops.activations import log_softmax, relu, softplus
from graphc.ops.leaves import as_tensor
from graphc.ops.shapes import normalize_axes
from graphc.tensor import Tensor, located
from graphc.types import shape_str

__all__ = ["mse", "mae", "hinge", "multiclass_hinge", "cross_entropy", "binary_cross_entropy",
           "nll", "l1", "l2", "elastic_net"]


def _per_example(loss: Tensor) -> Tensor:
    """Average over every axis but the first (the batch)."""
    return reductions.mean(loss, axis=tuple(range(1, loss.ndim))) if loss.ndim > 1 else loss


def _pick(x: Tensor, labels: Tensor, axis: int) -> Tensor:
    """x at each example's class along `axis` (axis removed): index for ints, dot for one-hot."""
    if labels.dtype in INTS:
        picked = indexing.take_along_axis(x, layout.expand_dims(labels, axis), axis,
                                          negative_from_end=False)
        return layout.squeeze(picked, axis)
    return reductions.sum(labels * x, axis)


def _class_mask(x: Tensor, labels: Tensor, axis: int) -> Tensor:
    """A bool tensor shaped like x, true at each example's class (ints or one-hot labels)."""
    if labels.dtype in INTS:
        if axis not in (-1, x.ndim - 1):
            raise ValueError(f"integer labels need the class axis last, got axis={axis}")
        return indexing.one_hot(labels, x.shape[-1], "bool")
    return labels > 0


def _elementwise(pred: Tensor, target, combined: Tensor, what: str) -> Tensor:
    """`combined` (pred op target), refusing targets that would broadcast pred to a new shape.

    NOTE: (N, 1) predictions against (N,) targets would silently give an (N, N) loss.
    """
    if combined.ndim != pred.ndim or any(p == 1 != c for p, c in zip(pred.shape, combined.shape)):
        raise ShapeError(f"{what}: targets {shape_str(as_tensor(target).shape)} would broadcast "
                         f"predictions {shape_str(pred.shape)} to "
                         f"{shape_str(combined.shape)}; give them the same shape"
                         + (f" (at {combined.loc})" if combined.loc else ""))
    return combined


def _float_logits(x, what: str) -> Tensor:
    x = as_tensor(x)
    if not is_float(x.dtype):
        raise DTypeError(f"{what}: expects float scores or logits, got {x.dtype} {x.shape}")
    return x


def mse(pred, target) -> Tensor:
    """Mean squared error per example."""
    pred = as_tensor(pred)
    return _per_example(ew.square(_elementwise(pred, target, pred - target, "mse")))


def mae(pred, target) -> Tensor:
    """Mean absolute error (L1 loss) per example; its gradient is sign(pred - target)."""
    pred = as_tensor(pred)
    return _per_example(ew.abs(_elementwise(pred, target, pred - target, "mae")))


def hinge(scores, labels, margin: float = 1.0) -> Tensor:
    """Binary hinge loss max(0, margin - y * score) per example, labels y in {-1, 1}."""
    scores = _float_logits(scores, "hinge")
    signed = _elementwise(scores, labels, scores * ew.cast(as_tensor(labels), scores.dtype),
                          "hinge")
    return _per_example(relu(margin - signed))


def multiclass_hinge(scores, labels, margin: float = 1.0, axis: int = -1,
                     variant: str = "weston_watkins") -> Tensor:
    """Multiclass SVM loss per example from class scores (labels: class indices or one-hot).

    "weston_watkins" (the default, CS231n's SVM loss) sums the violations of every wrong
    class: sum_{j != y} max(0, s_j - s_y + margin). "crammer_singer" keeps only the worst:
    max(0, max_{j != y} s_j - s_y + margin).
    """
    scores, labels = _float_logits(scores, "multiclass_hinge"), as_tensor(labels)
    correct = layout.expand_dims(_pick(scores, labels, axis), axis)
    is_true = _class_mask(scores, labels, axis)
    if variant == "weston_watkins":
        violations = ew.where(is_true, 0, relu(scores - correct + margin))
        return reductions.sum(violations, axis)
    if variant == "crammer_singer":
        rival = reductions.max(ew.where(is_true, float("-inf"), scores), axis, keepdims=True)
        return layout.squeeze(relu(rival - correct + margin), axis)
    raise ValueError(f"multiclass_hinge: variant must be 'weston_watkins' or 'crammer_singer', "
                     f"got {variant!r}")


@located("cross_entropy")
def cross_entropy(logits, labels, axis: int = -1) -> Tensor:
    """Softmax cross-entropy per example from logits; labels are class indices or one-hot.

    A logit of -inf for a class with label 0 adds nothing (0 log 0 = 0, not nan).
    """
    logits, labels = _float_logits(logits, "cross_entropy"), as_tensor(labels)
    if labels.dtype in INTS:
        axes = normalize_axes(axis, logits.ndim)
        shifted, log_sum, _ = reductions.shifted_log_sum_exp(logits, axes)
        return layout.squeeze(log_sum, axis) - _pick(shifted, labels, axis)
    if labels.ndim != logits.ndim:
        raise ShapeError(f"labels {labels.type} for logits {logits.type}: class indices must "
                         "be integers (cast them with .astype('int64')); float labels are "
                         "one-hot or probabilities with the logits' shape")
    # NOTE: log-probabilities of -inf are clamped to the lowest finite float, so that a label
    # of 0 there gives 0, not 0 * -inf = nan, and the gradient for soft labels stays defined.
    lowest = float(np.finfo(logits.dtype).min)
    log_probs = ew.maximum(log_softmax(logits, axis), lowest)
    return -reductions.sum(_elementwise(logits, labels, labels * log_probs, "cross_entropy"),
                           axis)


def binary_cross_entropy(logits, targets) -> Tensor:
    """Sigmoid cross-entropy per example from logits, targets in [0, 1].

    -y log(sigmoid(x)) - (1 - y) log(1 - sigmoid(x)) = softplus(x) - x * y, which neither
    overflows nor takes log(0); its gradient is sigmoid(x) - y.
    """
    logits = _float_logits(logits, "binary_cross_entropy")
    targets = ew.cast(as_tensor(targets), logits.dtype)
    agreement = _elementwise(logits, targets, logits * targets, "binary_cross_entropy")
    return _per_example(softplus(logits) - agreement)


def nll(log_probs, labels, axis: int = -1) -> Tensor:
    """Negative log-likelihood per example from log-probabilities (e.g. gc.log_softmax)."""
    log_probs = _float_logits(log_probs, "nll")
    return -_pick(log_probs, as_tensor(labels), axis)


# ---- penalties --------------------------------------------------------------------------------

def _total(params: Sequence[Tensor] | Tensor, term) -> Tensor:
    params = [params] if isinstance(params, Tensor) else list(params)
    if not params:
        raise ValueError("a penalty needs at least one parameter")
    parts = [reductions.sum(term(as_tensor(p))) for p in params]
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def l1(params: Sequence[Tensor] | Tensor, scale: float = 1.0) -> Tensor:
    """scale * sum |p| over every parameter (lasso; pushes weights to exactly zero)."""
    return _total(params, ew.abs) * scale


def l2(params: Sequence[Tensor] | Tensor, scale: float = 1.0) -> Tensor:
    """scale * sum p^2 over every parameter (not halved: SGD weight_decay=wd is l2 scale wd/2)."""
    return _total(params, ew.square) * scale


def elastic_net(params: Sequence[Tensor] | Tensor, scale: float = 1.0,
                l1_ratio: float = 0.5) -> Tensor:
    """scale * (l1_ratio * sum |p| + (1 - l1_ratio) * sum p^2): a mix of l1 and l2."""
    if not 0 <= l1_ratio <= 1:
        raise ValueError(f"elastic_net: l1_ratio must be in [0, 1], got {l1_ratio}")
    return (l1(params, l1_ratio) + l2(params, 1 - l1_ratio)) * scale
