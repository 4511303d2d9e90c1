"""Reductions over axes (sum, prod, max, min, argmax, argmin) and the statistics built on them."""
from __future__ import annotations

import math

import numpy as np

from graphc.attrs import AXES, BOOL, DTYPE, OPTIONAL_AXIS
from graphc.dtypes import is_float
from graphc.errors import DTypeError, ShapeError
from graphc.ops import elementwise as ew
from graphc.ops import layout
from graphc.ops.leaves import as_tensor, constant
from graphc.ops.shapes import normalize_axes, normalize_axis, num_elements, reduced_shape
from graphc.registry import Kind, defgrad, defop
from graphc.tensor import Tensor, located, make
from graphc.types import TensorType

_ACCUMULATE_DTYPE = {"bool": "int64", "int32": "int64"}   # as NumPy sums them


def _check_axes(axes: tuple[int, ...], ndim: int) -> None:
    # NOTE: this module defines its own sum, max, min, any and all (the DSL's)
    if (axes and axes[-1] >= ndim) or list(axes) != sorted(set(axes)):
        raise ShapeError(f"axes {axes} must be distinct, sorted and below the rank {ndim}")


def _reduce_rule(accumulate: bool):
    def rule(types, attrs):
        (x,) = types
        _check_axes(attrs["axes"], x.ndim)
        dtype = _ACCUMULATE_DTYPE.get(x.dtype, x.dtype) if accumulate else x.dtype
        return TensorType(dtype, reduced_shape(x.shape, attrs["axes"], attrs["keepdims"]))
    return rule


_REDUCERS = {"sum": np.add.reduce, "prod": np.multiply.reduce,
             "max": np.maximum.reduce, "min": np.minimum.reduce}


def _reduce_ref(node, dims):
    reducer, axes, keepdims = _REDUCERS[node.op], node.attrs["axes"], node.attrs["keepdims"]
    if node.op in ("sum", "prod"):
        dtype = np.dtype(node.dtype)
        return lambda x: reducer(x, axis=axes, dtype=dtype, keepdims=keepdims)

    def extremum(x):
        _check_not_empty(node, x, axes)
        return reducer(x, axis=axes, keepdims=keepdims)
    return extremum


def _check_not_empty(node, x: np.ndarray, axes: tuple[int, ...]) -> None:
    """max, min, argmax and argmin of nothing have no value (NumPy raises a bare ValueError)."""
    if math.prod(x.shape[a] for a in axes) == 0:
        built = f" (built at {node.loc})" if node.loc else ""
        raise ShapeError(f"{node.op}: the axes {axes} of an array of shape {x.shape} have no "
                         f"element to take the {node.op} of{built}")


def _keepdims_shape(x: Tensor, out: Tensor) -> tuple:
    return reduced_shape(x.shape, out.attrs["axes"], True)


def _grad_broadcast(g: Tensor, x: Tensor, out: Tensor) -> Tensor:
    """g laid back over x's shape: undo the reduction's dropped axes, then broadcast."""
    return layout.broadcast_to(layout.reshape(g, _keepdims_shape(x, out)), x.shape)


def _extremum_grad(g, out, x):
    """Gradient flows to the elements equal to the extremum, split evenly among ties."""
    hit = ew.cast(ew.equal(x, _grad_broadcast(out, x, out)), x.dtype)
    count = _grad_broadcast(sum(hit, out.attrs["axes"], keepdims=out.attrs["keepdims"]), x, out)
    return _grad_broadcast(g, x, out) * hit / count


_REDUCE_ATTRS = {"axes": AXES, "keepdims": BOOL}
for _name, _accumulate in (("sum", True), ("prod", True), ("max", False), ("min", False)):
    defop(_name, Kind.REDUCTION, _reduce_rule(_accumulate), attrs=_REDUCE_ATTRS,
          reference=_reduce_ref)
defgrad("sum", lambda g, out, x: _grad_broadcast(g, x, out))
defgrad("prod", lambda g, out, x: _grad_broadcast(g * out, x, out) / x)
defgrad("max", _extremum_grad)
defgrad("min", _extremum_grad)


def _reduce(op: str, x, axis, keepdims: bool) -> Tensor:
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    if not axes and op in ("max", "min"):
        return x
    return make(op, [x], {"axes": axes, "keepdims": bool(keepdims)})


@located("sum")
def sum(x, axis=None, keepdims: bool = False) -> Tensor:
    """Sum over `axis` (None: all axes), as numpy.sum."""
    return _reduce("sum", x, axis, keepdims)


@located("prod")
def prod(x, axis=None, keepdims: bool = False) -> Tensor:
    """Product over `axis`; its gradient divides by x, so it is undefined at zeros."""
    return _reduce("prod", x, axis, keepdims)


@located("max")
def max(x, axis=None, keepdims: bool = False) -> Tensor:
    """Maximum over `axis`; ties share the gradient equally."""
    return _reduce("max", x, axis, keepdims)


@located("min")
def min(x, axis=None, keepdims: bool = False) -> Tensor:
    """Minimum over `axis`; ties share the gradient equally."""
    return _reduce("min", x, axis, keepdims)


def _arg_rule(types, attrs):
    (x,) = types
    axis = attrs["axis"]
    if axis is not None and axis >= x.ndim:
        raise ShapeError(f"axis {axis} is out of range for rank {x.ndim}")
    if axis is None:
        return TensorType("int64", (1,) * x.ndim if attrs["keepdims"] else ())
    return TensorType("int64", reduced_shape(x.shape, (axis,), attrs["keepdims"]))


def _arg_ref(node, dims):
    fn, axis, keepdims = getattr(np, node.op), node.attrs["axis"], node.attrs["keepdims"]

    def arg_extremum(x):
        _check_not_empty(node, x, tuple(range(x.ndim)) if axis is None else (axis,))
        return fn(x, axis=axis, keepdims=keepdims)
    return arg_extremum


for _name in ("argmax", "argmin"):
    defop(_name, Kind.REDUCTION, _arg_rule, attrs={"axis": OPTIONAL_AXIS, "keepdims": BOOL},
          reference=_arg_ref)


def _arg(op: str, x, axis, keepdims: bool) -> Tensor:
    x = as_tensor(x)
    if axis is not None:
        axis = normalize_axis(axis, x.ndim)
    return make(op, [x], {"axis": axis, "keepdims": bool(keepdims)})


@located("argmax")
def argmax(x, axis=None, keepdims: bool = False) -> Tensor:
    """Index of the maximum along `axis` (int64; the flat index when axis is None)."""
    return _arg("argmax", x, axis, keepdims)


@located("argmin")
def argmin(x, axis=None, keepdims: bool = False) -> Tensor:
    """Index of the minimum along `axis` (int64; the flat index when axis is None)."""
    return _arg("argmin", x, axis, keepdims)


# ---- statistics -------------------------------------------------------------------------------

# NOTE: shape_size reads the sizes off its operand at run time, so it needs no symbol bindings
# and is scheduled after the node that produces them; it has no gradient.
def _shape_size_rule(types, attrs):
    _check_axes(attrs["axes"], types[0].ndim)
    return TensorType(attrs["dtype"], ())


def _shape_size_ref(node, dims):
    axes, dtype = node.attrs["axes"], np.dtype(node.dtype)
    return lambda x: np.array(math.prod(x.shape[a] for a in axes), dtype)


defop("shape_size", Kind.REDUCTION, _shape_size_rule, attrs={"axes": AXES, "dtype": DTYPE},
      reference=_shape_size_ref)
defgrad("shape_size", lambda g, out, x: None)


def count(x: Tensor, axes: tuple[int, ...], dtype: str) -> Tensor:
    """The number of elements of x over `axes` as a scalar; a graph node when dims are symbolic."""
    dims = tuple(x.shape[a] for a in axes)
    static = num_elements(dims)
    if static is not None:
        return constant(static, dtype)
    return make("shape_size", [x], {"axes": tuple(axes), "dtype": dtype})


@located("mean")
def mean(x, axis=None, keepdims: bool = False) -> Tensor:
    """Arithmetic mean over `axis` (ints average as float64, as in NumPy)."""
    x = as_tensor(x)
    if not is_float(x.dtype):
        x = ew.cast(x, "float64")
    axes = normalize_axes(axis, x.ndim)
    return sum(x, axes, keepdims) / count(x, axes, x.dtype)


@located("var")
def var(x, axis=None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Variance over `axis` (population variance unless ddof=1)."""
    x = as_tensor(x)
    if not is_float(x.dtype):
        x = ew.cast(x, "float64")
    axes = normalize_axes(axis, x.ndim)
    centered = x - mean(x, axes, keepdims=True)
    total = sum(ew.square(centered), axes, keepdims)
    return total / (count(x, axes, x.dtype) - ddof)


@located("std")
def std(x, axis=None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Standard deviation over `axis`."""
    return ew.sqrt(var(x, axis, keepdims, ddof))


def shifted_log_sum_exp(x: Tensor, axes: tuple[int, ...]) -> tuple[Tensor, Tensor, Tensor]:
    """(x - shift, log(sum(exp(x - shift))), shift) over `axes`, kept, for a gradient-free shift.

    The shift is the maximum, so exp cannot overflow, clipped to the finite floats: shifting
    by an infinite maximum would give inf - inf = nan (with the clip, all -inf gives -inf and
    a +inf gives inf). log_softmax is the difference of the first two, which keeps float32
    accuracy where x - logsumexp(x) would lose it to rounding the large logsumexp.
    """
    big = float(np.finfo(x.dtype).max)
    shift = ew.stop_gradient(ew.clip(max(x, axes, keepdims=True), -big, big))
    shifted = x - shift
    return shifted, ew.log(sum(ew.exp(shifted), axes, keepdims=True)), shift


@located("logsumexp")
def logsumexp(x, axis=None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) computed stably by shifting by the (gradient-free) maximum."""
    x = as_tensor(x)
    if not is_float(x.dtype):
        raise DTypeError(f"logsumexp: expects a float operand, got {x.dtype}")
    axes = normalize_axes(axis, x.ndim)
    _, log_sum, shift = shifted_log_sum_exp(x, axes)
    result = log_sum + shift
    return result if keepdims else layout.reshape(result, reduced_shape(x.shape, axes, False))


@located("all")
def all(x, axis=None, keepdims: bool = False) -> Tensor:
    """Whether every element is true along `axis`."""
    return min(ew.cast(x, "bool"), axis, keepdims)


@located("any")
def any(x, axis=None, keepdims: bool = False) -> Tensor:
    """Whether some element is true along `axis`."""
    return max(ew.cast(x, "bool"), axis, keepdims)


Tensor.sum = sum
Tensor.mean = mean
Tensor.max = max
Tensor.min = min
Tensor.argmax = argmax
