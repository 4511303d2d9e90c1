"""Sliding-window geometry shared by convolution and pooling: argument forms and output sizes.

A window op over `nd` spatial axes stores its geometry as attributes of plain tuples:
`stride` and `dilation` hold one int per axis, `pads` one (low, high) pair per axis.
"""
from __future__ import annotations

from numbers import Integral

from graphc.attrs import PADS, POSITIVE_INTS
from graphc.errors import ShapeError
from graphc.source import user_location
from graphc.types import Dim, shape_str

Pads = tuple[tuple[int, int], ...]
WINDOW_ATTRS = {"kernel": POSITIVE_INTS, "stride": POSITIVE_INTS, "pads": PADS,
                "dilation": POSITIVE_INTS}


def fail(op: str, message: str) -> ShapeError:
    """A ShapeError naming the DSL function and the user's line, like make()'s own errors."""
    loc = user_location()
    return ShapeError(f"{op}: {message}" + (f" (at {loc})" if loc else ""))


def int_tuple(op: str, what: str, value, nd: int) -> tuple[int, ...]:
    """An int, or a sequence of nd ints, as a tuple of nd positive ints."""
    values = (value,) * nd if isinstance(value, Integral) else tuple(value)
    if len(values) != nd or not all(isinstance(v, Integral) and v >= 1 for v in values):
        raise fail(op, f"{what} must be a positive int or {nd} positive ints, got {value!r}")
    return tuple(int(v) for v in values)


def resolve_pads(op: str, padding, spatial: tuple[Dim, ...], kernel: tuple[int, ...],
                 stride: tuple[int, ...], dilation: tuple[int, ...]) -> Pads:
    """Padding given as an int, nd ints, nd (low, high) pairs, "valid" or "same" -> pairs.

    "same" gives ceil(n / stride) outputs per axis (stride 1: the input's size), putting the
    odd pixel of padding at the high end, as PyTorch and TensorFlow do.
    """
    nd = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding != "same":
            raise fail(op, f'padding must be an int, a tuple, "same" or "valid", got {padding!r}')
        if not all(isinstance(n, int) for n in spatial):
            raise fail(op, f'padding="same" needs static spatial dims, got {shape_str(spatial)}')
        pads = []
        for n, k, s, d in zip(spatial, kernel, stride, dilation):
            total = max((-(-n // s) - 1) * s + d * (k - 1) + 1 - n, 0)
            pads.append((total // 2, total - total // 2))
        return tuple(pads)
    if isinstance(padding, Integral):
        padding = (padding,) * nd
    pairs = tuple((p, p) if isinstance(p, Integral) else tuple(p) for p in padding)
    if len(pairs) != nd or not all(
            len(p) == 2 and all(isinstance(v, Integral) and v >= 0 for v in p) for p in pairs):
        raise fail(op, f"padding must be a non-negative int, {nd} ints or {nd} (low, high) "
                       f"pairs, got {padding!r}")
    return tuple((int(lo), int(hi)) for lo, hi in pairs)


def output_size(n: int, k: int, stride: int, dilation: int, pad: tuple[int, int]) -> int:
    """How many windows fit: (n + low + high - dilation * (k - 1) - 1) // stride + 1."""
    return (n + pad[0] + pad[1] - dilation * (k - 1) - 1) // stride + 1


def output_spatial(spatial: tuple[Dim, ...], kernel: tuple[Dim, ...], attrs) -> tuple[int, ...]:
    """The output's spatial dims; raises when a dim is symbolic or no window fits."""
    if not all(isinstance(d, int) for d in spatial + tuple(kernel)):
        raise ShapeError(f"spatial dims must be static, got input {shape_str(spatial)} and "
                         f"window {shape_str(kernel)}")
    out = tuple(output_size(n, k, s, d, p) for n, k, s, d, p in
                zip(spatial, kernel, attrs["stride"], attrs["dilation"], attrs["pads"]))
    if any(o < 1 for o in out):
        raise ShapeError(f"the window {shape_str(kernel)} (dilation {attrs['dilation']}) does "
                         f"not fit the spatial dims {shape_str(spatial)} padded by "
                         f"{attrs['pads']}")
    return out


def check_geometry(attrs, nd: int) -> None:
    """The geometry attributes hold nd entries each (attributes parsed from text IR included)."""
    for key in ("stride", "dilation", "pads"):
        if len(attrs[key]) != nd:
            raise ShapeError(f"attribute {key}={attrs[key]} must have {nd} entries, one per "
                             "spatial axis")
