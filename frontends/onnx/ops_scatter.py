"""GatherND, ScatterElements/Scatter/ScatterND, Compress and ReverseSequence.

GatherND computes flat row indices in the graph and gathers them with take. The others need
their indices (or condition, or lengths) when the model loads: a scatter becomes gathers
from the updates through static maps of which update lands where, layered by multiplicity
so duplicate indices combine as the reduction says.
"""
from __future__ import annotations

import math

import numpy as np

import graphc as gc
from frontends.onnx.node import Node
from frontends.onnx.table import converts
from graphc.tensor import Tensor


def _static_shape(n: Node, t: Tensor) -> tuple[int, ...]:
    if not all(isinstance(d, int) for d in t.shape):
        raise n.unsupported(f"{n.op_type} of {t.type}: shapes must be static")
    return tuple(t.shape)


@converts("GatherND", attrs=("batch_dims",))
def gather_nd(n: Node) -> Tensor:
    data, idx = n.x(0), n.x(1)
    shape, batch = _static_shape(n, data), n.attr("batch_dims", 0)
    depth = idx.shape[-1]
    indexed = shape[batch:batch + depth]
    rows = None
    for j, size in enumerate(indexed):
        i = idx[..., j]
        i = gc.where(i < 0, i + size, i) * math.prod(indexed[j + 1:])
        rows = i if rows is None else rows + i
    batch_shape = shape[:batch]
    if batch:      # each batch position reads its own block of rows
        offsets = np.arange(math.prod(batch_shape)).reshape(batch_shape) * math.prod(indexed)
        rows = rows + gc.constant(offsets.reshape(batch_shape + (1,) * (rows.ndim - batch)))
    table = gc.reshape(data, (-1,) + shape[batch + depth:])
    return gc.take(table, gc.cast(rows, "int64"), axis=0)


def _scatter(n: Node, data: Tensor, updates: Tensor, targets: np.ndarray) -> Tensor:
    """data with updates.flat[k] combined into data.flat[targets[k]] (targets static)."""
    size = math.prod(_static_shape(n, data))
    if targets.size and (targets.min() < 0 or targets.max() >= size):
        raise n.fail("an index is out of bounds")
    layers: list[tuple[np.ndarray, np.ndarray]] = []      # (source map, mask) per multiplicity
    seen = np.zeros(size, np.int64)
    for k, t in enumerate(targets):
        if seen[t] == len(layers):
            layers.append((np.zeros(size, np.int64), np.zeros(size, bool)))
        source, mask = layers[seen[t]]
        source[t], mask[t] = k, True
        seen[t] += 1
    flat_x = gc.reshape(data, (-1,))
    flat_u = gc.reshape(gc.cast(updates, data.dtype), (-1,))
    reduction = n.attr("reduction", "none")
    y = flat_x
    if reduction == "none" and layers:       # the last write wins, as the reference assigns
        source = np.zeros(size, np.int64)
        for layer_source, mask in layers:
            source = np.where(mask, layer_source, source)
        return gc.reshape(gc.where(gc.constant(seen > 0), gc.take(flat_u, gc.constant(source)),
                                   flat_x), data.shape)
    combine = {"add": gc.add, "mul": gc.multiply, "max": gc.maximum, "min": gc.minimum}
    if reduction not in combine:
        raise n.unsupported(f"reduction {reduction!r}")
    for source, mask in layers:
        y = gc.where(gc.constant(mask), combine[reduction](y, gc.take(flat_u,
                                                                      gc.constant(source))), y)
    return gc.reshape(y, data.shape)


@converts("ScatterElements", "Scatter", attrs=("axis", "reduction"))
def scatter_elements(n: Node) -> Tensor:
    data, updates = n.x(0), n.x(2)
    shape = _static_shape(n, data)
    axis = n.axis(n.attr("axis", 0), data.ndim)
    idx = np.asarray(n.static(1)).astype(np.int64)
    idx = np.where(idx < 0, idx + shape[axis], idx)
    where = list(np.indices(idx.shape))
    where[axis] = idx
    return _scatter(n, data, updates, np.ravel_multi_index(tuple(where), shape,
                                                           mode="wrap").reshape(-1))


@converts("ScatterND", attrs=("reduction",))
def scatter_nd(n: Node) -> Tensor:
    data, updates = n.x(0), n.x(2)
    shape = _static_shape(n, data)
    idx = np.asarray(n.static(1)).astype(np.int64)
    depth = idx.shape[-1]
    block = math.prod(shape[depth:])
    idx = np.where(idx < 0, idx + np.array(shape[:depth]), idx).reshape(-1, depth)
    starts = np.ravel_multi_index(tuple(idx.T), shape[:depth]) * block
    return _scatter(n, data, updates, (starts[:, None] + np.arange(block)).reshape(-1))


@converts("Compress", attrs=("axis",))
def compress(n: Node) -> Tensor:
    x = n.x(0)
    keep = np.flatnonzero(np.asarray(n.static(1)).reshape(-1))
    if n.attr("axis") is None:
        return gc.take(gc.reshape(x, (-1,)), gc.constant(keep), axis=0)
    axis = n.axis(n.attr("axis"), x.ndim)
    return gc.take(x, gc.constant(keep[keep < x.shape[axis]]), axis=axis)


@converts("ReverseSequence", attrs=("batch_axis", "time_axis"))
def reverse_sequence(n: Node) -> Tensor:
    x = n.x(0)
    shape = _static_shape(n, x)
    batch_axis, time_axis = n.attr("batch_axis", 1), n.attr("time_axis", 0)
    lengths = np.asarray(n.static(1)).reshape(-1)
    t = np.arange(shape[time_axis])
    source = np.where(t[None, :] < lengths[:, None], lengths[:, None] - 1 - t[None, :], t)
    if batch_axis > time_axis:                  # source is (batch, time): lay it as x does
        source = source.T
    view = [1] * x.ndim
    view[batch_axis], view[time_axis] = shape[batch_axis], shape[time_axis]
    index = np.broadcast_to(source.reshape(view), shape)
    return gc.take_along_axis(x, gc.constant(np.ascontiguousarray(index)), axis=time_axis)
