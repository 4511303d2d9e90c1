"""Convolution over 1, 2 or 3 spatial axes: one N-d op and the two ops its gradient needs.

Layout as ONNX and PyTorch: inputs NC(D)(H)W, weights O(I/groups)(D)(H)W, cross-correlation
(no kernel flip). `conv(x, w)` is bilinear, and so are its two gradient ops:
`conv_input_grad(g, w)` (the transposed convolution, d/dx) and `conv_weight_grad(x, g)`
(d/dw). Each one's gradient is built from the three, so gradients of gradients work.
The batch dim may be symbolic; channel and spatial dims must be static.
"""
from __future__ import annotations

from numbers import Integral

from graphc.dtypes import FLOATS
from graphc.errors import DTypeError, ShapeError
from graphc.ops import layout
from graphc.ops.leaves import as_tensor
from graphc.ops.shapes import same_dtype
from graphc.ops.windows import check_geometry, fail, int_tuple, output_spatial, resolve_pads
from graphc.registry import Kind, defgrad, defop
from graphc.tensor import Tensor, make
from graphc.types import TensorType, shape_str

__all__ = ["conv1d", "conv2d", "conv3d"]

_GEOMETRY = ("stride", "pads", "dilation", "groups")


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


def _check_ranks(*shapes: tuple, nd: int) -> None:
    if any(len(s) != nd + 2 for s in shapes):
        raise ShapeError(f"operands {', '.join(shape_str(s) for s in shapes)} must all have rank "
                         f"{nd + 2} (batch, channels and {nd} spatial axes)")


def _conv_rule(types, attrs):
    x, w = types
    dtype, nd = _float_dtype(types), len(attrs["stride"])
    check_geometry(attrs, nd)
    _check_ranks(x.shape, w.shape, nd=nd)
    _check_channels(x.shape, w.shape, attrs["groups"])
    out = output_spatial(x.shape[2:], w.shape[2:], attrs)
    return TensorType(dtype, (x.shape[0], w.shape[0]) + out)


def _input_grad_rule(types, attrs):
    g, w = types
    dtype, nd = _float_dtype(types), len(attrs["stride"])
    check_geometry(attrs, nd)
    _check_ranks(g.shape, w.shape, nd=nd)
    x_shape = (g.shape[0], w.shape[1] * attrs["groups"]) + tuple(attrs["shape"])
    _check_outputs(x_shape, w.shape, g.shape, attrs)
    return TensorType(dtype, x_shape)


def _weight_grad_rule(types, attrs):
    x, g = types
    dtype, nd = _float_dtype(types), len(attrs["stride"])
    check_geometry(attrs, nd)
    _check_ranks(x.shape, g.shape, nd=nd)
    groups = attrs["groups"]
    if not isinstance(x.shape[1], int) or x.shape[1] % groups:
        raise ShapeError(f"groups={groups} must divide the channels of {shape_str(x.shape)}")
    w_shape = (g.shape[1], x.shape[1] // groups) + tuple(attrs["shape"])
    _check_outputs(x.shape, w_shape, g.shape, attrs)
    return TensorType(dtype, w_shape)


def _check_outputs(x: tuple, w: tuple, g: tuple, attrs) -> None:
    """A gradient op's operands must be the shapes the forward conv(x, w) -> g had."""
    _check_channels(x, w, attrs["groups"])
    expected = (x[0], w[0]) + output_spatial(x[2:], w[2:], attrs)
    if any(a != b for a, b in zip(g, expected) if isinstance(a, int) and isinstance(b, int)):
        raise ShapeError(f"gradient {shape_str(g)} does not match the output "
                         f"{shape_str(expected)} of the convolution of {shape_str(x)} by "
                         f"{shape_str(w)}")


defop("conv", Kind.CONTRACTION, _conv_rule)
defop("conv_input_grad", Kind.CONTRACTION, _input_grad_rule)
defop("conv_weight_grad", Kind.CONTRACTION, _weight_grad_rule)


def _geometry(node: Tensor) -> dict:
    return {key: node.attrs[key] for key in _GEOMETRY}


def input_grad(g: Tensor, w: Tensor, geometry: dict, spatial: tuple) -> Tensor:
    """d<g, conv(x, w)>/dx for an x with these spatial dims: the transposed convolution."""
    return make("conv_input_grad", [g, w], {**geometry, "shape": tuple(spatial)})


def weight_grad(x: Tensor, g: Tensor, geometry: dict, kernel: tuple) -> Tensor:
    """d<g, conv(x, w)>/dw for a w with these kernel dims."""
    return make("conv_weight_grad", [x, g], {**geometry, "shape": tuple(kernel)})


# Every op here is bilinear in its operands (x, w, g), all three computing one form
# B(x, w, g) = <g, conv(x, w)>; a gradient is the partial of B with respect to another operand.
defgrad("conv", lambda g, out, x, w: (
    input_grad(g, w, _geometry(out), x.shape[2:]),
    weight_grad(x, g, _geometry(out), w.shape[2:])))
defgrad("conv_input_grad", lambda h, out, g, w: (
    make("conv", [h, w], _geometry(out)),
    weight_grad(h, g, _geometry(out), w.shape[2:])))
defgrad("conv_weight_grad", lambda h, out, x, g: (
    input_grad(g, h, _geometry(out), x.shape[2:]),
    make("conv", [x, h], _geometry(out))))


def _conv(op: str, nd: int, x, w, b, stride, padding, dilation, groups: int) -> Tensor:
    x, w = as_tensor(x), as_tensor(w)
    if x.ndim != nd + 2 or w.ndim != nd + 2:
        raise fail(op, f"expects an input of rank {nd + 2} (N, C, {nd} spatial axes) and a "
                       f"weight of rank {nd + 2} (O, C/groups, {nd} kernel axes), got "
                       f"{shape_str(x.shape)} and {shape_str(w.shape)}")
    if not isinstance(groups, Integral) or groups < 1:
        raise fail(op, f"groups must be a positive int, got {groups!r}")
    stride = int_tuple(op, "stride", stride, nd)
    dilation = int_tuple(op, "dilation", dilation, nd)
    pads = resolve_pads(op, padding, x.shape[2:], w.shape[2:], stride, dilation)
    y = make("conv", [x, w], {"stride": stride, "pads": pads, "dilation": dilation,
                              "groups": int(groups)})
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
