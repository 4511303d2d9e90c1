"""Elementwise ops: unary math, binary arithmetic and comparisons, where, cast.

Each op is declared once with its type rule and followed by its gradient rule. The DSL
functions promote dtypes as NumPy 2 does (inserting casts), so the ops themselves always
see operands of one dtype.
"""
from __future__ import annotations

import math

from graphc import scalar as S
from graphc.attrs import DTYPE
from graphc.dtypes import FLOATS, INTS, canonical, is_float, promote
from graphc.errors import DTypeError
from graphc.ops import layout, reductions
from graphc.ops.leaves import as_tensor, constant, is_constant
from graphc.ops.shapes import broadcast_shapes, same_dtype
from graphc.precision import warn_if_mixed
from graphc.registry import Kind, Trait, defgrad, defop
from graphc.tensor import Tensor, located, make
from graphc.types import TensorType

NUMERIC = FLOATS | INTS


def _require(dtype: str, allowed: frozenset, what: str) -> None:
    if dtype not in allowed:
        raise DTypeError(f"expects {what} operands, got {dtype}")


def _describe(allowed: frozenset) -> str:
    names = {FLOATS: "float", NUMERIC: "numeric", NUMERIC | {"bool"}: "numeric or bool"}
    return names.get(allowed, "bool")


def _unary_rule(allowed: frozenset, what: str):
    def rule(types, attrs):
        _require(types[0].dtype, allowed, what)
        return types[0]
    return rule


def _to_float(x: Tensor) -> Tensor:
    """Int and bool operands of float math become float64, as in NumPy."""
    return x if is_float(x.dtype) else cast(x, "float64")


def unbroadcast(g: Tensor, target: TensorType) -> Tensor:
    """Sum g over the axes broadcasting added, so it has target's shape (a VJP of broadcast).

    Two different symbolic dims at one position were assumed equal when broadcast, so they
    need no summing.
    """
    if g.shape == target.shape:
        return g
    lead = g.ndim - target.ndim
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(target.shape) if d == 1 and g.shape[lead + i] != 1)
    if axes:
        g = reductions.sum(g, axis=axes, keepdims=True)
    return layout.reshape(g, g.shape[lead:]) if lead else g


# ---- unary ops ------------------------------------------------------------------------------

def _unary(name: str, allowed: frozenset, formula, grad, *, to_float: bool = True, traits=()):
    defop(name, Kind.ELEMENTWISE, _unary_rule(allowed, _describe(allowed)), formula=formula,
          traits=traits)
    if grad is not None:
        defgrad(name, grad)

    def fn(x) -> Tensor:
        x = as_tensor(x)
        if to_float and allowed == FLOATS:
            x = _to_float(x)
        return make(name, [x])
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise {name}, as numpy.{name}."
    return fn


def _zero_grad(g, out, x):
    return None


neg = _unary("neg", NUMERIC, lambda x: -x, lambda g, out, x: -g)
abs = _unary("abs", NUMERIC, lambda x: S.apply("abs", x), lambda g, out, x: g * sign(x))
sign = _unary("sign", NUMERIC, lambda x: S.select(x > 0, 1, S.select(x < 0, -1, S.select(
    S.eq(x, 0), 0, x))), _zero_grad)
exp = _unary("exp", FLOATS, S.exp, lambda g, out, x: g * out)
log = _unary("log", FLOATS, S.log, lambda g, out, x: g / x)
log1p = _unary("log1p", FLOATS, S.log1p, lambda g, out, x: g / (x + 1))
expm1 = _unary("expm1", FLOATS, S.expm1, lambda g, out, x: g * (out + 1))
sqrt = _unary("sqrt", FLOATS, S.sqrt, lambda g, out, x: g * 0.5 / out)
rsqrt = _unary("rsqrt", FLOATS, lambda x: 1 / S.sqrt(x), lambda g, out, x: g * -0.5 * out / x)
square = _unary("square", NUMERIC, lambda x: x * x, lambda g, out, x: g * 2 * x)
reciprocal = _unary("reciprocal", FLOATS, lambda x: 1 / x, lambda g, out, x: -g * square(out))
sin = _unary("sin", FLOATS, S.sin, lambda g, out, x: g * cos(x))
cos = _unary("cos", FLOATS, S.cos, lambda g, out, x: -g * sin(x))
tanh = _unary("tanh", FLOATS, S.tanh, lambda g, out, x: g * (1 - square(out)))
erf = _unary("erf", FLOATS, S.erf,
             lambda g, out, x: g * (2 / math.sqrt(math.pi)) * exp(-square(x)))
floor = _unary("floor", FLOATS, S.floor, _zero_grad)
ceil = _unary("ceil", FLOATS, S.ceil, _zero_grad)
logical_not = _unary("logical_not", frozenset({"bool"}), S.logical_not, None)
stop_gradient = _unary("stop_gradient", NUMERIC, lambda x: x, _zero_grad, to_float=False,
                       traits=(Trait.VIEW,))
stop_gradient.__doc__ = "Identity whose gradient is zero (used for stable softmax and friends)."


# ---- binary ops -----------------------------------------------------------------------------

def _binary_rule(allowed: frozenset, what: str, out_dtype: str | None = None):
    def rule(types, attrs):
        dtype = same_dtype(types)
        _require(dtype, allowed, what)
        return TensorType(out_dtype or dtype, broadcast_shapes(*(t.shape for t in types)))
    return rule


def coerce(a, b, *, float_result: bool = False) -> tuple[Tensor, Tensor]:
    """Turn operands into Tensors of one dtype (NumPy 2 promotion, Python scalars weak)."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = as_tensor(a)
    a = as_tensor(a, like=b if isinstance(b, Tensor) else None)
    b = as_tensor(b, like=a)
    warn_if_mixed(a, b)
    dtype = promote(a.dtype, b.dtype)
    if float_result and not is_float(dtype):
        dtype = "float64"
    return (a if a.dtype == dtype else cast(a, dtype)), (b if b.dtype == dtype else cast(b, dtype))


def _binary(name: str, allowed: frozenset, formula, grad, *, out_dtype: str | None = None,
            float_result: bool = False, traits=(), identity=None, absorbing=None):
    defop(name, Kind.ELEMENTWISE, _binary_rule(allowed, _describe(allowed), out_dtype),
          arity=2, formula=formula, traits=traits, identity=identity, absorbing=absorbing)
    if grad is not None:
        defgrad(name, grad)

    def fn(a, b) -> Tensor:
        return make(name, coerce(a, b, float_result=float_result))
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise {name} with NumPy broadcasting."
    return fn


def _both(fa, fb):
    """A binary gradient rule from the two partials, each summed back to its operand's shape."""
    def rule(g, out, a, b):
        return unbroadcast(fa(g, out, a, b), a.type), unbroadcast(fb(g, out, a, b), b.type)
    return rule


_AC = (Trait.COMMUTATIVE, Trait.ASSOCIATIVE)
add = _binary("add", NUMERIC, lambda a, b: a + b,
              _both(lambda g, o, a, b: g, lambda g, o, a, b: g), traits=_AC, identity=0)
subtract = _binary("subtract", NUMERIC, lambda a, b: a - b,
                   _both(lambda g, o, a, b: g, lambda g, o, a, b: -g), identity=0)
multiply = _binary("multiply", NUMERIC, lambda a, b: a * b,
                   _both(lambda g, o, a, b: g * b, lambda g, o, a, b: g * a), traits=_AC,
                   identity=1)
divide = _binary("divide", FLOATS, lambda a, b: a / b,
                 _both(lambda g, o, a, b: g / b, lambda g, o, a, b: -g * o / b),
                 float_result=True, identity=1)
power = _binary("power", NUMERIC, S.power, _both(
    lambda g, o, a, b: g * b * a ** (b - 1),
    lambda g, o, a, b: g * o * log(where(a > 0, a, 1))), identity=1)
_MINMAX = (Trait.COMMUTATIVE, Trait.ASSOCIATIVE, Trait.IDEMPOTENT)
maximum = _binary("maximum", NUMERIC, S.maximum,
                  _both(lambda g, o, a, b: where(a >= b, g, 0),
                        lambda g, o, a, b: where(a >= b, 0, g)), traits=_MINMAX)
minimum = _binary("minimum", NUMERIC, S.minimum,
                  _both(lambda g, o, a, b: where(a <= b, g, 0),
                        lambda g, o, a, b: where(a <= b, 0, g)), traits=_MINMAX)
ANY = NUMERIC | {"bool"}
equal = _binary("equal", ANY, S.eq, None, out_dtype="bool", traits=(Trait.COMMUTATIVE,))
not_equal = _binary("not_equal", ANY, S.ne, None, out_dtype="bool",
                    traits=(Trait.COMMUTATIVE,))
less = _binary("less", NUMERIC, lambda a, b: a < b, None, out_dtype="bool")
less_equal = _binary("less_equal", NUMERIC, lambda a, b: a <= b, None, out_dtype="bool")
greater = _binary("greater", NUMERIC, lambda a, b: a > b, None, out_dtype="bool")
greater_equal = _binary("greater_equal", NUMERIC, lambda a, b: a >= b, None, out_dtype="bool")
_LOGIC = _MINMAX
logical_and = _binary("logical_and", frozenset({"bool"}), S.logical_and, None, traits=_LOGIC,
                      identity=True, absorbing=False)
logical_or = _binary("logical_or", frozenset({"bool"}), S.logical_or, None, traits=_LOGIC,
                     identity=False, absorbing=True)
sub, mul, div = subtract, multiply, divide


def pow(a, b) -> Tensor:
    """a ** b; small constant exponents become cheaper ops (square, sqrt, reciprocal)."""
    if isinstance(a, Tensor) and not isinstance(b, Tensor) and is_float(a.dtype):
        special = {1: lambda: a, 2: lambda: square(a), 0.5: lambda: sqrt(a),
                   -1: lambda: reciprocal(a), -0.5: lambda: rsqrt(a)}
        if b in special and not isinstance(b, bool):
            return special[b]()
    return power(a, b)


# ---- where, clip, cast ------------------------------------------------------------------------

def _where_rule(types, attrs):
    cond, a, b = types
    if cond.dtype != "bool":
        raise DTypeError(f"condition must be bool, got {cond.dtype}")
    dtype = same_dtype([a, b])
    return TensorType(dtype, broadcast_shapes(cond.shape, a.shape, b.shape))


defop("where", Kind.ELEMENTWISE, _where_rule, arity=3, formula=S.select)
defgrad("where", lambda g, out, c, a, b: (None, unbroadcast(where(c, g, 0), a.type),
                                          unbroadcast(where(c, 0, g), b.type)))


def where(cond, a, b) -> Tensor:
    """Elementwise choice: a where cond is true, else b (NumPy broadcasting)."""
    cond = as_tensor(cond)
    if cond.dtype != "bool":
        cond = cast(cond, "bool")
    a, b = coerce(a, b)
    return make("where", [cond, a, b])


def clip(x, lo=None, hi=None) -> Tensor:
    """Limit x to [lo, hi]; either bound may be None."""
    x = as_tensor(x)
    if lo is not None:
        x = maximum(x, lo)
    if hi is not None:
        x = minimum(x, hi)
    return x


defop("cast", Kind.ELEMENTWISE, lambda types, attrs: TensorType(attrs["dtype"], types[0].shape),
      attrs={"dtype": DTYPE}, formula=S.cast)
defgrad("cast", lambda g, out, x: cast(g, x.dtype) if is_float(x.dtype) else None)


@located("cast")
def cast(x, dtype) -> Tensor:
    """Convert to another dtype (NumPy's astype)."""
    x, dtype = as_tensor(x), canonical(dtype)
    if x.dtype == dtype:
        return x
    if is_constant(x):
        return constant(x.value.astype(dtype))
    return make("cast", [x], {"dtype": dtype})


astype = cast


def _reflect(fn):
    return lambda self, other: fn(other, self)


Tensor.__add__, Tensor.__radd__ = add, _reflect(add)
Tensor.__sub__, Tensor.__rsub__ = subtract, _reflect(subtract)
Tensor.__mul__, Tensor.__rmul__ = multiply, _reflect(multiply)
Tensor.__truediv__, Tensor.__rtruediv__ = divide, _reflect(divide)
Tensor.__pow__, Tensor.__rpow__ = pow, _reflect(pow)
Tensor.__neg__, Tensor.__abs__ = neg, abs
Tensor.__pos__ = lambda self: self
Tensor.__lt__, Tensor.__le__ = less, less_equal
Tensor.__gt__, Tensor.__ge__ = greater, greater_equal
Tensor.__eq__, Tensor.__ne__ = equal, not_equal
Tensor.__and__, Tensor.__or__, Tensor.__invert__ = logical_and, logical_or, logical_not
Tensor.astype = cast
