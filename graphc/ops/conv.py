"""Convolution over 1, 2 or 3 spatial axes as im2col then a grouped product, and their gradients.

Layout as ONNX and PyTorch: inputs NC(D)(H)W, weights O(I/groups)(D)(H)W, cross-correlation
(no kernel flip). `conv2d(x, w)` builds `conv(im2col(x), w)`: `im2col` copies every window of
the padded input into a column matrix (C * taps, *out, N), rows (channel, kernel position),
and `conv` multiplies it by the weights. Keeping the columns a node of their own lets the
forward product and the weight gradient share one copy (hash-consing builds it once).
`im2col` is linear with adjoint `col2im` (the scatter-add of columns back onto the input), and
`conv(cols, w)` is bilinear, as are its two gradient ops `conv_input_grad(g, w)` (d/dcols)
and `conv_weight_grad(cols, g)` (d/dw); each gradient is built from these five ops, so
gradients of gradients work. The batch dim may be symbolic; channel and spatial dims must be
static.
"""
from __future__ import annotations

import math
from numbers import Integral

from graphc.assumptions import same_dim
from graphc.attrs import POSITIVE_INT, POSITIVE_INTS
from graphc.dtypes import FLOATS
from graphc.errors import DTypeError, ShapeError
from graphc.ops import layout
from graphc.ops.leaves import as_tensor
from graphc.ops.shapes import same_dtype
from graphc.ops.windows import (
    WINDOW_ATTRS,
    check_geometry,
    fail,
    int_tuple,
    output_spatial,
    resolve_pads,
)
from graphc.registry import Kind, defgrad, defop
from graphc.tensor import Tensor, make
from graphc.types import TensorType, shape_str

__all__ = ["conv1d", "conv2d", "conv3d"]

_WINDOW = ("kernel", "stride", "pads", "dilation")


def _float_dtype(types: list[TensorType]) -> str:
    dtype = same_dtype(types)
    if dtype not in FLOATS:
        raise DTypeError(f"expects float operands, got {dtype}")
    return dtype


def _check_channels(x: tuple, w: tuple, groups: int) -> None:
    """x's channels, split into `groups`, must each meet w's input channels."""
    channels, out_channels, per_group = x[1], w[0], w[1]
    if not all(isinstance(d, int) for d in (channels,) + w):
        raise ShapeError(f"channel and kernel dims must be static, got input {shape_str(x)} "
                         f"and weight {shape_str(w)}")
    if groups < 1 or channels % groups or out_channels % groups:
        raise ShapeError(f"groups={groups} must divide both the {channels} input channels of "
                         f"{shape_str(x)} and the {out_channels} output channels of weight "
                         f"{shape_str(w)}")
    if channels != per_group * groups:
        raise ShapeError(f"input {shape_str(x)} has {channels} channels but weight "
                         f"{shape_str(w)} with groups={groups} expects {per_group * groups} "
                         f"({groups} x {per_group})")


# ---- im2col and col2im: the window copy and its adjoint ---------------------------------------

def _im2col_rule(types, attrs):
    (x,), kernel = types, attrs["kernel"]
    check_geometry(attrs, len(kernel))
    if x.ndim != len(kernel) + 2 or not isinstance(x.shape[1], int):
        raise ShapeError(f"a {len(kernel)}-D window {shape_str(kernel)} needs an input of rank "
                         f"{len(kernel) + 2} with static channels, got {shape_str(x.shape)}")
    out = output_spatial(x.shape[2:], kernel, attrs)
    return TensorType(x.dtype, (x.shape[1] * math.prod(kernel),) + out + (x.shape[0],))


def _col2im_rule(types, attrs):
    (cols,), kernel, spatial = types, attrs["kernel"], tuple(attrs["shape"])
    check_geometry(attrs, len(kernel))
    rows, taps = cols.shape[0], math.prod(kernel)
    out = output_spatial(spatial, kernel, attrs)
    if cols.shape[1:-1] != out or not isinstance(rows, int) or rows % taps:
        raise ShapeError(f"columns {shape_str(cols.shape)} are not those of a {shape_str(kernel)}"
                         f" window over {shape_str(spatial)}: expected (C * {taps}, "
                         f"{', '.join(map(str, out))}, N)")
    return TensorType(cols.dtype, (cols.shape[-1], rows // taps) + spatial)


defop("im2col", Kind.LAYOUT, _im2col_rule, attrs=WINDOW_ATTRS)
defop("col2im", Kind.LAYOUT, _col2im_rule, attrs={**WINDOW_ATTRS, "shape": POSITIVE_INTS})


def _window(node: Tensor) -> dict:
    return {key: node.attrs[key] for key in _WINDOW}


def im2col(x: Tensor, window: dict) -> Tensor:
    """The columns (C * taps, *out, N) of x for a window {kernel, stride, pads, dilation}."""
    return make("im2col", [x], window)


def col2im(cols: Tensor, window: dict, spatial: tuple) -> Tensor:
    """The adjoint of im2col: each column entry added back onto the input pixel it copied."""
    return make("col2im", [cols], {**window, "shape": tuple(spatial)})


defgrad("im2col", lambda h, out, x: (col2im(h, _window(out), x.shape[2:]),))
defgrad("col2im", lambda h, out, cols: (im2col(h, _window(out)),))


# ---- the grouped product and its two gradients ------------------------------------------------

def _check_columns(cols: tuple, w: tuple, groups: int) -> None:
    """cols (C * taps, *out, N) must have the rows a w (O, C/groups, *kernel) reads."""
    if len(cols) != len(w) or not all(isinstance(d, int) for d in w):
        raise ShapeError(f"columns {shape_str(cols)} and weight {shape_str(w)} must have equal "
                         "ranks and the weight static dims")
    if groups < 1 or w[0] % groups:
        raise ShapeError(f"groups={groups} must divide the {w[0]} output channels of weight "
                         f"{shape_str(w)}")
    if cols[0] != groups * math.prod(w[1:]):
        raise ShapeError(f"columns {shape_str(cols)} need {groups * math.prod(w[1:])} rows for "
                         f"weight {shape_str(w)} with groups={groups}")


def _conv_rule(types, attrs):
    cols, w = types
    dtype = _float_dtype(types)
    _check_columns(cols.shape, w.shape, attrs["groups"])
    return TensorType(dtype, (cols.shape[-1], w.shape[0]) + cols.shape[1:-1])


def _input_grad_rule(types, attrs):
    g, w = types
    dtype = _float_dtype(types)
    cols = (attrs["groups"] * math.prod(w.shape[1:]),) + g.shape[2:] + (g.shape[0],)
    _check_columns(cols, w.shape, attrs["groups"])
    _check_gradient(cols, w.shape, g.shape)
    return TensorType(dtype, cols)


def _weight_grad_rule(types, attrs):
    cols, g = types
    dtype, groups, kernel = _float_dtype(types), attrs["groups"], tuple(attrs["shape"])
    rows = groups * math.prod(kernel)
    if not isinstance(cols.shape[0], int) or cols.shape[0] % rows:
        raise ShapeError(f"columns {shape_str(cols.shape)} need a multiple of {rows} rows for a "
                         f"{shape_str(kernel)} kernel with groups={groups}")
    w = (g.shape[1], cols.shape[0] // rows) + kernel
    _check_columns(cols.shape, w, groups)
    _check_gradient(cols.shape, w, g.shape)
    return TensorType(dtype, w)


def _check_gradient(cols: tuple, w: tuple, g: tuple) -> None:
    """A gradient op's operands must be the shapes the forward conv(cols, w) -> g had."""
    expected = (cols[-1], w[0]) + cols[1:-1]
    if len(g) != len(expected) or None in map(same_dim, g, expected):
        raise ShapeError(f"gradient {shape_str(g)} does not match the output "
                         f"{shape_str(expected)} of the convolution of columns "
                         f"{shape_str(cols)} by {shape_str(w)}")


_GROUPS = {"groups": POSITIVE_INT}
defop("conv", Kind.CONTRACTION, _conv_rule, arity=2, attrs=_GROUPS)
defop("conv_input_grad", Kind.CONTRACTION, _input_grad_rule, arity=2, attrs=_GROUPS)
defop("conv_weight_grad", Kind.CONTRACTION, _weight_grad_rule, arity=2,
      attrs={**_GROUPS, "shape": POSITIVE_INTS})


def _groups(node: Tensor) -> dict:
    return {"groups": node.attrs["groups"]}


def weight_grad(cols: Tensor, g: Tensor, groups: dict, kernel: tuple) -> Tensor:
    """d<g, conv(cols, w)>/dw for a w with these kernel dims."""
    return make("conv_weight_grad", [cols, g], {**groups, "shape": tuple(kernel)})


# Every product here is bilinear in its operands (cols, w, g), all three computing one form
# B(cols, w, g) = <g, conv(cols, w)>; a gradient is the partial of B with respect to another.
defgrad("conv", lambda g, out, cols, w: (
    make("conv_input_grad", [g, w], _groups(out)),
    weight_grad(cols, g, _groups(out), w.shape[2:])))
defgrad("conv_input_grad", lambda h, out, g, w: (
    make("conv", [h, w], _groups(out)),
    weight_grad(h, g, _groups(out), w.shape[2:])))
defgrad("conv_weight_grad", lambda h, out, cols, g: (
    make("conv_input_grad", [g, h], _groups(out)),
    make("conv", [cols, h], _groups(out))))


def _conv(op: str, nd: int, x, w, b, stride, padding, dilation, groups: int) -> Tensor:
    x, w = as_tensor(x), as_tensor(w)
    if x.ndim != nd + 2 or w.ndim != nd + 2:
        raise fail(op, f"expects an input of rank {nd + 2} (N, C, {nd} spatial axes) and a "
                       f"weight of rank {nd + 2} (O, C/groups, {nd} kernel axes), got "
                       f"{shape_str(x.shape)} and {shape_str(w.shape)}")
    if not isinstance(groups, Integral) or groups < 1:
        raise fail(op, f"groups must be a positive int, got {groups!r}")
    try:
        _check_channels(x.shape, w.shape, int(groups))
    except ShapeError as error:
        raise fail(op, str(error)) from None
    stride = int_tuple(op, "stride", stride, nd)
    dilation = int_tuple(op, "dilation", dilation, nd)
    pads = resolve_pads(op, padding, x.shape[2:], w.shape[2:], stride, dilation)
    cols = im2col(x, {"kernel": tuple(w.shape[2:]), "stride": stride, "pads": pads,
                      "dilation": dilation})
    y = make("conv", [cols, w], {"groups": int(groups)})
    if b is None:
        return y
    b = as_tensor(b)
    if b.shape != (w.shape[0],):
        raise fail(op, f"bias {shape_str(b.shape)} must have shape ({w.shape[0]},), one value "
                       f"per output channel of weight {shape_str(w.shape)}")
    return y + layout.reshape(b, (w.shape[0],) + (1,) * nd)


def conv1d(x, w, b=None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """1-D cross-correlation of (N, C, L) by (O, C/groups, K), plus an optional bias (O,)."""
    return _conv("conv1d", 1, x, w, b, stride, padding, dilation, groups)


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """2-D cross-correlation of (N, C, H, W) by (O, C/groups, KH, KW), plus a bias (O,)."""
    return _conv("conv2d", 2, x, w, b, stride, padding, dilation, groups)


def conv3d(x, w, b=None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """3-D cross-correlation of (N, C, D, H, W) by (O, C/groups, KD, KH, KW), plus a bias."""
    return _conv("conv3d", 3, x, w, b, stride, padding, dilation, groups)
