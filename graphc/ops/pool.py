"""Max and average pooling over 1, 2 or 3 spatial axes (rank from the input), global average.

Inputs are NC(D)(H)W. Max pooling pads with -inf, so padding never wins a window; its
gradient goes to the first maximum of each window (PyTorch's choice on ties) through
`max_pool_grad(x, y, g)`, whose own gradient `max_pool_select` reads a cotangent back at those
positions. Average pooling divides by the full kernel size, padding included (PyTorch's
default count_include_pad=True), so its gradient spreads each output's share evenly.
"""
from __future__ import annotations

from graphc.assumptions import same_dim
from graphc.attrs import POSITIVE_INTS
from graphc.dtypes import FLOATS
from graphc.errors import DTypeError, ShapeError
from graphc.ops import reductions
from graphc.ops.leaves import as_tensor
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

__all__ = ["max_pool", "avg_pool", "global_avg_pool"]

_GEOMETRY = ("kernel", "stride", "pads", "dilation")


def _check_input(x: TensorType, attrs) -> tuple[int, ...]:
    """x's pooled shape; every window must hold at least one element of x, not only padding."""
    if x.dtype not in FLOATS:
        raise DTypeError(f"expects a float input, got {x.dtype}")
    nd, kernel = len(attrs["kernel"]), attrs["kernel"]
    check_geometry(attrs, nd)
    if x.ndim != nd + 2:
        raise ShapeError(f"a {len(kernel)}-D window {shape_str(kernel)} needs an input of rank "
                         f"{nd + 2}, got {shape_str(x.shape)}")
    out = output_spatial(x.shape[2:], kernel, attrs)
    for n, k, s, (lo, hi), o in zip(x.shape[2:], kernel, attrs["stride"], attrs["pads"], out):
        if lo >= k or (o - 1) * s - lo > n - 1:
            raise ShapeError(f"padding {attrs['pads']} puts a whole {shape_str(kernel)} window "
                             f"of {shape_str(x.shape)} in the padding; use at most half the "
                             "kernel")
    return x.shape[:2] + out


def _pool_rule(types, attrs):
    (x,) = types
    return TensorType(x.dtype, _check_input(x, attrs))


def _max_grad_rule(types, attrs):
    x, y, g = types
    _same_shape(y, g, "output", "gradient")
    _same_shape(TensorType(x.dtype, _check_input(x, attrs)), y, "pooled input", "output")
    return x


def _max_select_rule(types, attrs):
    x, y, h = types
    _same_shape(x, h, "input", "cotangent")
    _max_grad_rule([x, y, y], attrs)
    return y


def _avg_grad_rule(types, attrs):
    (g,) = types
    x = TensorType(g.dtype, g.shape[:2] + tuple(attrs["shape"]))
    _same_shape(TensorType(g.dtype, _check_input(x, attrs)), g, "pooled input", "gradient")
    return x


def _same_shape(a: TensorType, b: TensorType, what_a: str, what_b: str) -> None:
    if a.dtype != b.dtype or a.ndim != b.ndim or None in map(same_dim, a.shape, b.shape):
        raise ShapeError(f"{what_b} {b} does not match the {what_a} {a}")


for _name in ("max_pool", "avg_pool"):
    defop(_name, Kind.REDUCTION, _pool_rule, attrs=WINDOW_ATTRS)
defop("max_pool_grad", Kind.INDEXING, _max_grad_rule, arity=3, attrs=WINDOW_ATTRS)
defop("max_pool_select", Kind.INDEXING, _max_select_rule, arity=3, attrs=WINDOW_ATTRS)
defop("avg_pool_grad", Kind.INDEXING, _avg_grad_rule,
      attrs={**WINDOW_ATTRS, "shape": POSITIVE_INTS})


def _geometry(node: Tensor) -> dict:
    return {key: node.attrs[key] for key in _GEOMETRY}


# max_pool_grad(x, y, g) is linear in g (a scatter to each window's first maximum) and
# max_pool_select(x, y, h) is its transpose (a gather from there); x and y only pick positions,
# so their gradients are zero almost everywhere.
defgrad("max_pool", lambda g, out, x: make("max_pool_grad", [x, out, g], _geometry(out)))
defgrad("max_pool_grad", lambda h, out, x, y, g: (
    None, None, make("max_pool_select", [x, y, h], _geometry(out))))
defgrad("max_pool_select", lambda h, out, x, y, g: (
    None, None, make("max_pool_grad", [x, y, h], _geometry(out))))
defgrad("avg_pool", lambda g, out, x: make("avg_pool_grad", [g],
                                           {**_geometry(out), "shape": x.shape[2:]}))
defgrad("avg_pool_grad", lambda h, out, g: make("avg_pool", [h], _geometry(out)))


def _pool(op: str, x, kernel, stride, padding) -> Tensor:
    x = as_tensor(x)
    nd = x.ndim - 2
    if nd not in (1, 2, 3):
        raise fail(op, f"expects an input of rank 3, 4 or 5 (N, C and 1 to 3 spatial axes), got "
                       f"{shape_str(x.shape)}")
    kernel = int_tuple(op, "kernel", kernel, nd)
    stride = kernel if stride is None else int_tuple(op, "stride", stride, nd)
    dilation = (1,) * nd
    pads = resolve_pads(op, padding, x.shape[2:], kernel, stride, dilation)
    return make(op, [x], {"kernel": kernel, "stride": stride, "pads": pads,
                          "dilation": dilation})


def max_pool(x, kernel, stride=None, padding=0) -> Tensor:
    """Maximum over each window (stride defaults to the kernel); 1-, 2- or 3-D from x's rank."""
    return _pool("max_pool", x, kernel, stride, padding)


def avg_pool(x, kernel, stride=None, padding=0) -> Tensor:
    """Mean over each window, zero padding counted (PyTorch's count_include_pad=True)."""
    return _pool("avg_pool", x, kernel, stride, padding)


def global_avg_pool(x, keepdims: bool = False) -> Tensor:
    """Mean over every spatial axis: (N, C, ...) -> (N, C), or (N, C, 1, ...) with keepdims."""
    x = as_tensor(x)
    if x.ndim < 3:
        raise fail("global_avg_pool", f"expects an input (N, C, spatial...), got "
                                      f"{shape_str(x.shape)}")
    return reductions.mean(x, axis=tuple(range(2, x.ndim)), keepdims=keepdims)
