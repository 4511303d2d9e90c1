"""Shape and layout ops: Reshape, Flatten, Transpose, Squeeze/Unsqueeze, Concat, Split, Slice,
Gather, Expand, Pad, Tile, Shape, Size, Constant, ConstantOfShape, Range, Trilu, OneHot, ...

Shape-valued inputs (Reshape's shape, Slice's starts) must be known at load time: constants,
or values the loader folded from static shapes.
"""
from __future__ import annotations

import math

import numpy as np

import graphc as gc
from frontends.onnx.dtypes import graphc_dtype
from frontends.onnx.fold import static_value
from frontends.onnx.node import Node
from frontends.onnx.proto import MAX_ELEMENTS, to_array
from frontends.onnx.shapes import as_value
from frontends.onnx.table import converts
from graphc.ops.shapes import broadcast_shapes
from graphc.tensor import Tensor


def _static_shape(n: Node, x: Tensor) -> tuple[int, ...]:
    if not all(isinstance(d, int) for d in x.shape):
        raise n.unsupported(f"needs the static shape of its input, got {x.type}")
    return tuple(x.shape)


@converts("Reshape", attrs=("shape", "allowzero", "consumed_inputs"))
def reshape(n: Node) -> Tensor:
    x = n.x(0)
    target = n.attr("shape") if n.opset < 5 else n.dims(1)
    if any(isinstance(d, int) and d < -1 for d in target):
        raise n.fail(f"a negative dim in the target shape {target}")
    if not n.attr("allowzero", 0):
        target = [x.shape[i] if d == 0 else d for i, d in enumerate(target)]
    return gc.reshape(x, tuple(target))


@converts("Flatten", attrs=("axis",))
def flatten(n: Node) -> Tensor:
    x = n.x(0)
    axis = n.attr("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis
    if not 0 <= axis <= x.ndim:
        raise n.fail(f"axis {n.attr('axis')} is out of range for rank {x.ndim}")
    head, tail = x.shape[:axis], x.shape[axis:]
    if all(isinstance(d, int) for d in head):
        return gc.reshape(x, (math.prod(head), -1))
    if all(isinstance(d, int) for d in tail):
        return gc.reshape(x, (-1, math.prod(tail)))
    raise n.unsupported(f"flattens a shape {x.type} with symbolic dims on both sides")


@converts("Transpose", attrs=("perm",))
def transpose(n: Node) -> Tensor:
    perm = n.attr("perm")
    return gc.transpose(n.x(0), None if perm is None else tuple(perm))


@converts("Squeeze", attrs=("axes",))
def squeeze(n: Node) -> Tensor:
    axes = n.ints_input_or_attr(1, "axes", 13)
    return gc.squeeze(n.x(0), None if axes is None else tuple(axes))


@converts("Unsqueeze", attrs=("axes",))
def unsqueeze(n: Node) -> Tensor:
    axes = n.ints_input_or_attr(1, "axes", 13)
    if axes is None:
        raise n.fail("needs axes")
    return gc.expand_dims(n.x(0), tuple(axes))


@converts("Concat", attrs=("axis",))
def concat(n: Node) -> Tensor:
    xs = n.same_dtype(*[t for t in n.inputs if t is not None])
    return gc.concatenate(xs, axis=n.axis(n.attr("axis", 1), xs[0].ndim))


@converts("Split", attrs=("axis", "split", "num_outputs"))
def split(n: Node) -> list[Tensor]:
    x = n.x(0)
    axis = n.axis(n.attr("axis", 0), x.ndim)
    size = x.shape[axis]
    sizes = n.ints_input_or_attr(1, "split", 13)
    if sizes is None:
        parts = n.attr("num_outputs", n.num_outputs)
        if not isinstance(size, int):
            raise n.unsupported(f"splits a symbolic axis of {x.type}")
        chunk = -(-size // parts)
        sizes = [min(chunk, size - k * chunk) for k in range(parts)]
    bounds = list(np.cumsum(sizes)[:-1])
    return gc.split(x, [int(b) for b in bounds], axis=axis)


@converts("Slice", attrs=("starts", "ends", "axes"))
def slice_(n: Node) -> Tensor:
    x = n.x(0)
    if n.opset < 10:
        starts, ends, axes = n.attr("starts"), n.attr("ends"), n.attr("axes")
        steps = None
    else:
        starts, ends = n.static_ints(1), n.static_ints(2)
        axes = n.static_ints(3) if n.has(3) else None
        steps = n.static_ints(4) if n.has(4) else None
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    key = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        if step == 0:
            raise n.fail("a step of 0")
        key[n.axis(axis, x.ndim)] = slice(int(start), int(end), int(step))
    return x[tuple(key)]


@converts("Gather", attrs=("axis",))
def gather(n: Node) -> Tensor:
    x = n.x(0)
    return gc.take(x, n.x(1), axis=n.axis(n.attr("axis", 0), x.ndim))


@converts("GatherElements", attrs=("axis",))
def gather_elements(n: Node) -> Tensor:
    x = n.x(0)
    return gc.take_along_axis(x, n.x(1), axis=n.axis(n.attr("axis", 0), x.ndim))


@converts("Expand")
def expand(n: Node) -> Tensor:
    x = n.x(0)
    return gc.broadcast_to(x, broadcast_shapes(x.shape, tuple(n.dims(1))))


@converts("Tile")
def tile(n: Node) -> Tensor:
    x, repeats = n.x(0), n.static_ints(1)
    if len(repeats) != x.ndim:
        raise n.fail(f"{len(repeats)} repeats for an input of rank {x.ndim}")
    spread = gc.reshape(x, tuple(d for dim in x.shape for d in (1, dim)))
    shape = tuple(d for r, dim in zip(repeats, x.shape) for d in (r, dim))
    return gc.reshape(gc.broadcast_to(spread, shape),
                      tuple(r * d for r, d in zip(repeats, _static_shape(n, x))))


# ---- Pad --------------------------------------------------------------------------------------

@converts("Pad", attrs=("mode", "pads", "paddings", "value"))
def pad(n: Node) -> Tensor:
    x = n.x(0)
    if n.opset < 11:
        pads = list(n.attr("pads", n.attr("paddings", [])))
        value = n.attr("value", 0.0)
        axes = list(range(x.ndim))
    else:
        pads = n.static_ints(1)
        value = _pad_value(n) if n.has(2) else 0.0
        axes = [n.axis(a, x.ndim) for a in n.static_ints(3)] if n.has(3) else \
            list(range(x.ndim))
    if len(pads) != 2 * len(axes):
        raise n.fail(f"pads {pads} need two entries per padded axis ({len(axes)} axes)")
    widths = [(0, 0)] * x.ndim
    for k, axis in enumerate(axes):
        widths[axis] = (pads[k], pads[k + len(axes)])
    # Negative widths crop.
    x = x[tuple(slice(max(-lo, 0), (hi if hi < 0 else None)) for lo, hi in widths)]
    widths = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
    mode = n.attr("mode", "constant")
    if mode == "constant":
        if not any(lo or hi for lo, hi in widths):
            return x
        if isinstance(value, Tensor):       # a value fed at run time: fill a 0/1 border mask
            border = np.pad(np.zeros(_static_shape(n, x), x.dtype), widths, constant_values=1)
            return gc.pad(x, widths) + gc.constant(border) * value
        return gc.pad(x, widths, constant_value=value)
    if mode not in ("reflect", "edge", "wrap"):
        raise n.unsupported(f"mode {mode!r}")
    for axis, (lo, hi) in enumerate(widths):
        if lo or hi:
            x = _pad_axis(n, x, axis, lo, hi, mode)
    return x


def _pad_value(n: Node):
    """Pad's constant_value: a float when known at load time, else a scalar Tensor."""
    value = n.x(2)
    known = static_value(value)
    if known is not None:
        return float(np.asarray(known).reshape(-1)[0])
    return gc.reshape(gc.cast(value, n.x(0).dtype), ())


def _pad_axis(n: Node, x: Tensor, axis: int, lo: int, hi: int, mode: str) -> Tensor:
    size = x.shape[axis]
    if not isinstance(size, int):
        raise n.unsupported(f"{mode} padding of a symbolic axis of {x.type}")

    def part(start, stop, step=1):
        key = [slice(None)] * x.ndim
        key[axis] = slice(start, stop, step)
        return x[tuple(key)]

    def repeat(piece, count):
        shape = list(piece.shape)
        shape[axis] = count
        return gc.broadcast_to(piece, tuple(shape))
    if mode == "edge":
        left, right = repeat(part(0, 1), lo), repeat(part(size - 1, size), hi)
    elif mode == "reflect":
        if lo >= size or hi >= size:
            raise n.fail(f"reflect padding by ({lo}, {hi}) of an axis of size {size}")
        left = part(lo, 0, -1)
        right = part(size - 2, size - 2 - hi if size - 2 - hi >= 0 else None, -1)
    else:
        if lo > size or hi > size:
            raise n.unsupported(f"wrap padding by ({lo}, {hi}) beyond the axis size {size}")
        left, right = part(size - lo, size), part(0, hi)
    pieces = ([left] if lo else []) + [x] + ([right] if hi else [])
    return gc.concatenate(pieces, axis=axis)


# ---- shapes as values ---------------------------------------------------------------------------

@converts("Shape", attrs=("start", "end"))
def shape(n: Node) -> Tensor:
    x = n.x(0)
    dims = x.shape[slice(n.attr("start", 0), n.attr("end"))]
    return as_value(np.array(list(dims), dtype=object))


@converts("Size")
def size(n: Node) -> Tensor:
    return gc.constant(np.int64(math.prod(_static_shape(n, n.x(0)))))


@converts("Constant", attrs=("value", "value_float", "value_floats", "value_int",
                             "value_ints", "value_string", "value_strings", "sparse_value"))
def constant(n: Node) -> Tensor:
    if "value" in n.attrs:
        return gc.constant(to_array(n.attrs["value"], repr(n)))
    if "value_float" in n.attrs:
        return gc.constant(np.float32(n.attrs["value_float"]))
    if "value_floats" in n.attrs:
        return gc.constant(np.array(n.attrs["value_floats"], np.float32))
    if "value_int" in n.attrs:
        return gc.constant(np.int64(n.attrs["value_int"]))
    if "value_ints" in n.attrs:
        return gc.constant(np.array(n.attrs["value_ints"], np.int64))
    raise n.unsupported(f"constants of kind {', '.join(n.attrs) or '(none given)'}")


@converts("ConstantOfShape", attrs=("value",))
def constant_of_shape(n: Node) -> Tensor:
    dims = n.dims(0)
    value = to_array(n.attrs["value"], repr(n)) if "value" in n.attrs else np.zeros(1, "f4")
    if any(isinstance(d, int) and d < 0 for d in dims) or \
            math.prod(d for d in dims if isinstance(d, int)) > MAX_ELEMENTS:
        raise n.fail(f"absurd shape {dims}")
    # NOTE: a broadcast, not a stored array: it is a view in the backend.
    return gc.broadcast_to(gc.constant(value.reshape(-1)[:1].reshape(())), tuple(dims))


@converts("Range")
def range_(n: Node) -> Tensor:
    start, limit, delta = (np.asarray(n.static(i)).reshape(-1)[0] for i in range(3))
    count = max(int(np.ceil((limit - start) / delta)), 0) if delta else -1
    if count < 0 or count > MAX_ELEMENTS:
        raise n.fail(f"range({start}, {limit}, {delta}) has an absurd length")
    return gc.constant((start + np.arange(count) * delta).astype(np.asarray(start).dtype))


@converts("EyeLike", attrs=("dtype", "k"))
def eye_like(n: Node) -> Tensor:
    rows, cols = _static_shape(n, n.x(0))
    dtype = graphc_dtype(n.attr("dtype")) if n.attr("dtype") else n.x(0).dtype
    return gc.constant(np.eye(rows, cols, n.attr("k", 0), dtype=dtype))


@converts("Trilu", attrs=("upper",))
def trilu(n: Node) -> Tensor:
    x = n.x(0)
    rows, cols = _static_shape(n, x)[-2:]
    k = int(n.static(1)) if n.has(1) else 0
    ones = np.ones((rows, cols), bool)
    mask = np.triu(ones, k) if n.attr("upper", 1) else np.tril(ones, k)
    return gc.where(gc.constant(mask), x, gc.cast(0, x.dtype))


@converts("OneHot", attrs=("axis",))
def one_hot(n: Node) -> Tensor:
    indices, values = n.x(0), n.x(2)
    depth = int(np.asarray(n.static(1)).reshape(-1)[0])
    if not indices.dtype.startswith("int"):
        indices = gc.cast(indices, "int64")
    indices = gc.where(indices < 0, indices + depth, indices)
    # NOTE: ONNX gives an index outside [-depth, depth) a row of off-values; gc.one_hot
    # raises there, so such an index becomes 0 and its row is masked off.
    inside = (indices >= 0) & (indices < depth)
    hot = gc.one_hot(gc.where(inside, indices, 0), depth, values.dtype)
    off, on = values[0], values[1]
    y = hot * gc.cast(gc.expand_dims(inside, -1), values.dtype) * (on - off) + off
    axis = n.axis(n.attr("axis", -1), y.ndim)
    return gc.transpose(y, tuple(range(axis)) + (y.ndim - 1,) + tuple(range(axis, y.ndim - 1)))


@converts("DepthToSpace", attrs=("blocksize", "mode"))
def depth_to_space(n: Node) -> Tensor:
    x, b = n.x(0), n.attr("blocksize")
    batch, c, h, w = x.shape
    if n.attr("mode", "DCR") == "DCR":
        y = gc.transpose(gc.reshape(x, (batch, b, b, c // (b * b), h, w)), (0, 3, 4, 1, 5, 2))
    else:
        y = gc.transpose(gc.reshape(x, (batch, c // (b * b), b, b, h, w)), (0, 1, 4, 2, 5, 3))
    return gc.reshape(y, (batch, c // (b * b), h * b, w * b))


@converts("SpaceToDepth", attrs=("blocksize",))
def space_to_depth(n: Node) -> Tensor:
    x, b = n.x(0), n.attr("blocksize")
    batch, c, h, w = x.shape
    y = gc.transpose(gc.reshape(x, (batch, c, h // b, b, w // b, b)), (0, 3, 5, 1, 2, 4))
    return gc.reshape(y, (batch, c * b * b, h // b, w // b))




@converts("CenterCropPad", attrs=("axes",))
def center_crop_pad(n: Node) -> Tensor:
    """Crop or zero-pad each axis to the target size, keeping the centre."""
    x, target = n.x(0), n.static_ints(1)
    axes = [n.axis(a, x.ndim) for a in n.attr("axes", range(x.ndim))]
    key, widths = [slice(None)] * x.ndim, [(0, 0)] * x.ndim
    for axis, size in zip(axes, target):
        have = _static_shape(n, x)[axis]
        if size < have:
            start = (have - size) // 2
            key[axis] = slice(start, start + size)
        elif size > have:
            lo = (size - have) // 2
            widths[axis] = (lo, size - have - lo)
    y = x[tuple(key)]
    return gc.pad(y, widths) if any(lo or hi for lo, hi in widths) else y
