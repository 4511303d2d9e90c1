"""Scalar formulas: what each elementwise op computes, over a small closed set of primitives.

An elementwise op's formula is a Python function that builds an expression of `Scalar`s,
traced once per (op, attributes): `sigmoid` is

    e = exp(-abs(x))
    select(x >= 0, 1 / (1 + e), e / (1 + e))

the numerically stable form, which is the op's meaning. Constant folding evaluates it with
NumPy (`evaluate`), the LLVM backend generates code from it, fusion composes the formulas of a
group into one expression, and the NumPy backend's fast kernels are tested against it.

Primitives take operands of one dtype and keep it, except comparisons and logic (bool), cast
(its dtype) and select (its branches' dtype). Python numbers are weak constants taking the
dtype of what they meet, as in NumPy 2. Semantics are NumPy's: max and min propagate NaN,
float-to-int casts of NaN or out-of-range values give the minimum int (as x86 does).
"""
from __future__ import annotations

import math
import weakref
from typing import Callable, Mapping, Sequence

import numpy as np

# primitive -> arity; "const" and "arg" are leaves holding a value and an operand index.
PRIMITIVES = {
    "add": 2, "sub": 2, "mul": 2, "div": 2, "pow": 2, "max": 2, "min": 2,
    "neg": 1, "abs": 1, "floor": 1, "ceil": 1,
    "sqrt": 1, "exp": 1, "log": 1, "log1p": 1, "expm1": 1, "sin": 1, "cos": 1, "tanh": 1,
    "erf": 1,
    "lt": 2, "le": 2, "eq": 2, "ne": 2, "gt": 2, "ge": 2,
    "and": 2, "or": 2, "not": 1,
    "select": 3, "cast": 1, "const": 0, "arg": 0,
}
COMPARISONS = frozenset({"lt", "le", "eq", "ne", "gt", "ge"})
LOGIC = frozenset({"and", "or", "not"})
TRANSCENDENTAL = frozenset({"sqrt", "exp", "log", "log1p", "expm1", "sin", "cos", "tanh",
                            "erf", "pow"})

_cache: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


class Scalar:
    """One node of a scalar expression: a primitive applied to operands (hash-consed)."""

    __slots__ = ("prim", "args", "value", "__weakref__")
    prim: str
    args: tuple[Scalar, ...]
    value: object      # const: the number (dtype, or None when weak); cast: dtype; arg: index

    def __repr__(self) -> str:
        return format_scalar(self)

    # Python operators build expressions; == and != stay identity (use eq / ne).
    def __add__(self, other): return apply("add", self, other)
    def __radd__(self, other): return apply("add", other, self)
    def __sub__(self, other): return apply("sub", self, other)
    def __rsub__(self, other): return apply("sub", other, self)
    def __mul__(self, other): return apply("mul", self, other)
    def __rmul__(self, other): return apply("mul", other, self)
    def __truediv__(self, other): return apply("div", self, other)
    def __rtruediv__(self, other): return apply("div", other, self)
    def __neg__(self): return apply("neg", self)
    def __abs__(self): return apply("abs", self)
    def __lt__(self, other): return apply("lt", self, other)
    def __le__(self, other): return apply("le", self, other)
    def __gt__(self, other): return apply("gt", self, other)
    def __ge__(self, other): return apply("ge", self, other)
    __hash__ = object.__hash__


def _node(prim: str, args: tuple, value=None) -> Scalar:
    key = (prim, tuple(map(id, args)), _value_key(value))
    found = _cache.get(key)
    if found is not None:
        return found
    node = object.__new__(Scalar)
    node.prim, node.args, node.value = prim, args, value
    _cache[key] = node
    return node


def _value_key(value):
    if isinstance(value, tuple):          # a constant: (number, dtype or None)
        number, dtype = value
        return (float(number).hex() if isinstance(number, float) else number, dtype)
    return value


def const(number, dtype: str | None = None) -> Scalar:
    """A constant; without a dtype it is weak and takes the dtype of what it meets."""
    return _node("const", (), (number, dtype))


def arg(index: int) -> Scalar:
    return _node("arg", (), index)


def _as_scalar(x) -> Scalar:
    if isinstance(x, Scalar):
        return x
    if isinstance(x, (bool, int, float)):
        return const(x)
    raise TypeError(f"a scalar formula got {type(x).__name__}")


def apply(prim: str, *args) -> Scalar:
    if PRIMITIVES.get(prim) != len(args):
        raise ValueError(f"primitive {prim} takes {PRIMITIVES.get(prim)} operands")
    return _node(prim, tuple(_as_scalar(a) for a in args))


def cast(x, dtype: str) -> Scalar:
    return _node("cast", (_as_scalar(x),), dtype)


def _unary(prim: str) -> Callable[[Scalar], Scalar]:
    return lambda x: apply(prim, x)


def _binary(prim: str) -> Callable[[Scalar, Scalar], Scalar]:
    return lambda a, b: apply(prim, a, b)


sqrt, exp, log, log1p, expm1, sin, cos, tanh, erf = map(_unary, (
    "sqrt", "exp", "log", "log1p", "expm1", "sin", "cos", "tanh", "erf"))
floor, ceil, logical_not = _unary("floor"), _unary("ceil"), _unary("not")
maximum, minimum, power = _binary("max"), _binary("min"), _binary("pow")
eq, ne, logical_and, logical_or = _binary("eq"), _binary("ne"), _binary("and"), _binary("or")


def select(cond, a, b) -> Scalar:
    return apply("select", cond, a, b)


def is_nonpositive(e: Scalar) -> bool:
    """Whether e is <= 0 or NaN whatever its operands (a sufficient test, read off the
    primitives: -|x|, -exp(x), a non-positive constant, sums, differences and extrema)."""
    return _sign(e, {}) == -1


def _sign(e: Scalar, known: dict[int, int]) -> int:
    """1: always >= 0 (or NaN), -1: always <= 0 (or NaN), 0: not known (`known`: shared
    subterms' signs, so a deep DAG is walked once)."""
    if id(e) in known:
        return known[id(e)]
    prim = e.prim
    if prim == "const":
        value = e.value[0]
        sign = 1 if value >= 0 else -1 if value <= 0 else 0     # (NaN: not known)
    elif prim in ("abs", "exp", "sqrt"):
        sign = 1
    elif prim == "neg":
        sign = -_sign(e.args[0], known)
    elif prim in ("add", "sub"):
        a, b = _sign(e.args[0], known), _sign(e.args[1], known)
        b = -b if prim == "sub" else b
        sign = a if a == b else 0
    elif prim in ("max", "min"):
        a, b = (_sign(x, known) for x in e.args)
        wins = 1 if prim == "max" else -1        # one operand of that sign decides
        sign = wins if wins in (a, b) else (a if a == b else 0)
    else:
        sign = 0
    known[id(e)] = sign
    return sign


# ---- tracing and typing -----------------------------------------------------------------------

_traced: dict = {}


def trace(formula: Callable, arity: int, attrs: Mapping) -> Scalar:
    """The expression a formula builds over arg(0) ... arg(arity - 1) (memoized)."""
    from graphc.attrs import key
    cache_key = (formula, arity, tuple((k, key(v)) for k, v in sorted(attrs.items())))
    if cache_key not in _traced:
        _traced[cache_key] = _as_scalar(formula(*(arg(i) for i in range(arity)), **attrs))
    return _traced[cache_key]


def substitute(root: Scalar, args: Sequence[Scalar]) -> Scalar:
    """root with each arg(i) replaced by args[i] (composing formulas, as fusion does)."""
    memo: dict[int, Scalar] = {}

    def rebuild(e: Scalar) -> Scalar:
        if id(e) not in memo:
            if e.prim == "arg":
                memo[id(e)] = args[e.value]
            elif not e.args:
                memo[id(e)] = e
            else:
                memo[id(e)] = _node(e.prim, tuple(rebuild(a) for a in e.args), e.value)
        return memo[id(e)]
    return rebuild(root)


def nodes(roots: Sequence[Scalar]) -> list[Scalar]:
    """Every node of the expressions, operands before their users."""
    order, seen, stack = [], set(), [(r, False) for r in reversed(roots)]
    while stack:
        e, done = stack.pop()
        if done:
            order.append(e)
        elif id(e) not in seen:
            seen.add(id(e))
            stack.append((e, True))
            stack.extend((a, False) for a in reversed(e.args))
    return order


def dtypes(root: Scalar, arg_dtypes: Sequence[str], out_dtype: str) -> dict[int, str]:
    """The dtype of every node of the expression (weak constants resolved from context)."""
    result: dict[int, str] = {}

    def visit(e: Scalar, want: str) -> str:
        if id(e) in result:
            return result[id(e)]
        if e.prim == "arg":
            dtype = arg_dtypes[e.value]
        elif e.prim == "const":
            dtype = e.value[1] or want
        elif e.prim == "cast":
            visit(e.args[0], _strong(e.args[0], arg_dtypes) or e.value)
            dtype = e.value
        elif e.prim in COMPARISONS or e.prim in LOGIC or e.prim == "select":
            operands = e.args[1:] if e.prim == "select" else e.args
            inner = _common(operands, arg_dtypes) or ("bool" if e.prim in LOGIC else want)
            if e.prim == "select":
                visit(e.args[0], "bool")
            for a in operands:
                visit(a, inner)
            dtype = inner if e.prim == "select" else "bool"
        else:
            dtype = _common(e.args, arg_dtypes) or want
            for a in e.args:
                visit(a, dtype)
        result[id(e)] = dtype
        return dtype

    visit(root, out_dtype)
    return result


def typed(root: Scalar, arg_dtypes: Sequence[str], out_dtype: str) -> Scalar:
    """The expression with each weak constant made the dtype its context gives it.

    NOTE: nodes are shared, so one weak constant (the 1 of 1 / sqrt(x) and of sign(y)) may
    meet float32 in one place and float64 in another, as in a fused group's composed formulas;
    `dtypes` gives a node one dtype, so typing an expression first gives each place its own.
    """
    memo: dict[tuple[int, str], Scalar] = {}

    def visit(e: Scalar, want: str) -> Scalar:
        key = (id(e), want)
        if key in memo:
            return memo[key]
        if e.prim == "arg":
            new = e
        elif e.prim == "const":
            new = e if e.value[1] else const(e.value[0], want)
        elif e.prim == "cast":
            new = cast(visit(e.args[0], _strong(e.args[0], arg_dtypes) or e.value), e.value)
        elif e.prim in COMPARISONS or e.prim in LOGIC or e.prim == "select":
            operands = e.args[1:] if e.prim == "select" else e.args
            inner = _common(operands, arg_dtypes) or ("bool" if e.prim in LOGIC else want)
            condition = [visit(e.args[0], "bool")] if e.prim == "select" else []
            new = _node(e.prim, tuple(condition + [visit(a, inner) for a in operands]))
        else:
            dtype = _common(e.args, arg_dtypes) or want
            new = _node(e.prim, tuple(visit(a, dtype) for a in e.args))
        memo[key] = new
        return new
    return visit(root, out_dtype)


def _strong(e: Scalar, arg_dtypes: Sequence[str]) -> str | None:
    """The dtype an expression has by itself, or None when only weak constants decide it."""
    if e.prim == "arg":
        return arg_dtypes[e.value]
    if e.prim == "const":
        return e.value[1]
    if e.prim == "cast":
        return e.value
    if e.prim in COMPARISONS or e.prim in LOGIC:
        return "bool"
    return _common(e.args[1:] if e.prim == "select" else e.args, arg_dtypes)


def _common(args: Sequence[Scalar], arg_dtypes: Sequence[str]) -> str | None:
    for a in args:
        dtype = _strong(a, arg_dtypes)
        if dtype is not None:
            return dtype
    return None


# ---- evaluation with NumPy --------------------------------------------------------------------

_erf = np.frompyfunc(math.erf, 1, 1)


def ieee_power(a, b) -> np.ndarray:
    """np.power, but IEEE pow where NumPy takes a square root for a scalar exponent 0.5:
    pow(-inf, 0.5) is inf and pow(-0.0, 0.5) is +0.0 (sqrt gives nan and -0.0)."""
    result = np.power(a, b)
    if result.dtype.kind == "f" and np.size(b) == 1 and np.asarray(b).item() == 0.5:
        result = np.where(np.isneginf(a), np.inf, result) + 0.0     # NOTE: -0.0 + 0.0 is +0.0
    return result

NUMPY: dict[str, Callable] = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
    "pow": ieee_power, "max": np.maximum, "min": np.minimum, "neg": np.negative,
    "abs": np.abs, "floor": np.floor, "ceil": np.ceil, "sqrt": np.sqrt, "exp": np.exp,
    "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "sin": np.sin, "cos": np.cos,
    "tanh": np.tanh,
    "lt": np.less, "le": np.less_equal, "eq": np.equal, "ne": np.not_equal,
    "gt": np.greater, "ge": np.greater_equal, "and": np.logical_and, "or": np.logical_or,
    "not": np.logical_not, "select": np.where,
}


def evaluate(root: Scalar, args: Sequence[np.ndarray], out_dtype: str) -> np.ndarray:
    """The expression's value on NumPy arrays (broadcast together), in out_dtype."""
    root = typed(root, [str(a.dtype) for a in args], out_dtype)
    types = dtypes(root, [str(a.dtype) for a in args], out_dtype)
    values: dict[int, np.ndarray] = {}

    def ev(e: Scalar) -> np.ndarray:
        if id(e) in values:
            return values[id(e)]
        dtype = np.dtype(types[id(e)])
        if e.prim == "arg":
            out = args[e.value]
        elif e.prim == "const":
            out = np.asarray(e.value[0], dtype)
        elif e.prim == "cast":
            out = ev(e.args[0]).astype(dtype)
        elif e.prim == "erf":
            x = ev(e.args[0])
            out = np.asarray(_erf(x.astype(np.float64)), np.float64).astype(dtype)
        else:
            out = np.asarray(NUMPY[e.prim](*map(ev, e.args)))
            out = out.astype(dtype, copy=False)
        values[id(e)] = out
        return out

    with np.errstate(all="ignore"):
        result = ev(root)
    shape = np.broadcast_shapes(*(a.shape for a in args)) if args else ()
    return np.array(np.broadcast_to(result, shape), dtype=out_dtype)


def format_scalar(root: Scalar) -> str:
    """A readable one-line form, e.g. `select(ge(x0, 0), div(1, add(1, e)), ...)`."""
    if root.prim == "arg":
        return f"x{root.value}"
    if root.prim == "const":
        number, dtype = root.value
        return repr(number) if dtype is None else f"{dtype}({number!r})"
    inner = ", ".join(format_scalar(a) for a in root.args)
    if root.prim == "cast":
        inner += f", {root.value}"
    return f"{root.prim}({inner})"
