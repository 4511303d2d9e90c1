"""Reductions over axes (sum, prod, max, min, argmax, argmin) and the statistics built on them."""
from __future__ import annotations

from graphc.dtypes import is_float
from graphc.errors import DTypeError
from graphc.ops import elementwise as ew
from graphc.ops import layout
from graphc.ops.leaves import as_tensor, constant
from graphc.ops.shapes import normalize_axes, normalize_axis, num_elements, reduced_shape
from graphc.registry import Kind, defgrad, defop
from graphc.tensor import Tensor, located, make
from graphc.types import TensorType

_ACCUMULATE_DTYPE = {"bool": "int64", "int32": "int64"}   # as NumPy sums them


def _reduce_rule(accumulate: bool):
    def rule(types, attrs):
        (x,) = types
        dtype = _ACCUMULATE_DTYPE.get(x.dtype, x.dtype) if accumulate else x.dtype
        return TensorType(dtype, reduced_shape(x.shape, attrs["axes"], attrs["keepdims"]))
    return rule


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


for _name, _accumulate in (("sum", True), ("prod", True), ("max", False), ("min", False)):
    defop(_name, Kind.REDUCTION, _reduce_rule(_accumulate))
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
    if axis is None:
        return TensorType("int64", (1,) * x.ndim if attrs["keepdims"] else ())
    return TensorType("int64", reduced_shape(x.shape, (axis,), attrs["keepdims"]))


defop("argmax", Kind.REDUCTION, _arg_rule)
defop("argmin", Kind.REDUCTION, _arg_rule)


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
defop("shape_size", Kind.REDUCTION, lambda types, attrs: TensorType(attrs["dtype"], ()))
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


@located("logsumexp")
def logsumexp(x, axis=None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) computed stably by shifting by the (gradient-free) maximum."""
    x = as_tensor(x)
    if not is_float(x.dtype):
        raise DTypeError(f"logsumexp: expects a float operand, got {x.dtype}")
    axes = normalize_axes(axis, x.ndim)
    shift = ew.stop_gradient(max(x, axes, keepdims=True))
    result = ew.log(sum(ew.exp(x - shift), axes, keepdims=True)) + shift
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
