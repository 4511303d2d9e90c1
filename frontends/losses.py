"""Loss functions: one value per example (reduce with gc.mean), computed stably from logits."""
from __future__ import annotations

from graphc.dtypes import INTS
from graphc.ops import elementwise as ew
from graphc.ops import indexing, layout, reductions
from graphc.ops.activations import log_softmax
from graphc.ops.leaves import as_tensor
from graphc.tensor import Tensor


def _per_example(loss: Tensor) -> Tensor:
    """Average over every axis but the first (the batch)."""
    return reductions.mean(loss, axis=tuple(range(1, loss.ndim))) if loss.ndim > 1 else loss


def mse(pred, target) -> Tensor:
    """Mean squared error per example."""
    pred = as_tensor(pred)
    return _per_example(ew.square(pred - target))


def cross_entropy(logits, labels, axis: int = -1) -> Tensor:
    """Softmax cross-entropy per example from logits; labels are class indices or one-hot."""
    logits, labels = as_tensor(logits), as_tensor(labels)
    if labels.dtype in INTS:
        picked = indexing.take_along_axis(logits, layout.expand_dims(labels, axis), axis)
        return reductions.logsumexp(logits, axis) - layout.squeeze(picked, axis)
    return -reductions.sum(labels * log_softmax(logits, axis), axis)
