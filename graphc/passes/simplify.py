"""Algebraic simplification: identities that remove work without changing any result.

"Without changing any result" is meant for every feed: an identity that fails for NaN or
infinity (x - x, x * 0) applies only to values known finite, and one that fails below zero
(exp(log x)) only to values known non-negative (graphc/passes/facts.py). Results may differ
in rounding where the rewrite does less float arithmetic (x ** 3 as x * x * x, the sum of n
copies as n times the copy), and in the sign of a zero: -0.0 + 0 is +0.0, which x + 0 -> x
keeps as -0.0 (they compare equal). log(exp x) -> x is the one rule that changes results on
purpose: where exp overflows, the rewrite gives x instead of inf.
"""
from __future__ import annotations

import numpy as np

from graphc.dtypes import is_float
from graphc.ops import elementwise as ew
from graphc.ops import layout, reductions
from graphc.ops.leaves import constant, is_constant
from graphc.ops.shapes import broadcast_shapes, reduced_shape
from graphc.passes.facts import known_finite, known_nonneg
from graphc.passes.manager import register, rule_pass
from graphc.passes.products import merge_products, share_stack
from graphc.passes.unslices import merge_unslices
from graphc.pattern import P, RuleSet
from graphc.registry import Kind, ops_of_kind
from graphc.tensor import Tensor, make

x, y, c = P.var("x"), P.var("y"), P.const(name="c")


def keep_x(x: Tensor, node: Tensor) -> Tensor | None:
    """The operand itself, when it already has the result's shape (no broadcast to keep)."""
    return x if x.shape == node.shape else None


def filled(value, node: Tensor) -> Tensor:
    """A tensor of node's type holding value everywhere (a broadcast scalar)."""
    return layout.broadcast_to(constant(value, node.dtype), node.shape)


def zeros_if_exact(x: Tensor, node: Tensor) -> Tensor | None:
    """x - x and x * 0 are 0 for ints and finite floats; NaN and infinities give NaN."""
    return filled(0, node) if not is_float(x.dtype) or known_finite(x) else None


def drop_implied_broadcast(node: Tensor) -> Tensor | None:
    """op(broadcast_to(a), b) -> op(a, b) when the op's own broadcasting gives the same shape."""
    for i, inp in enumerate(node.inputs):
        if inp.op != "broadcast_to":
            continue
        inputs = list(node.inputs)
        inputs[i] = inp.inputs[0]
        if broadcast_shapes(*(t.shape for t in inputs)) == node.shape:
            return node.replace(inputs)
    return None


def collapse_reshapes(x: Tensor, node: Tensor) -> Tensor | None:
    """reshape(reshape(x)) -> reshape(x), and a reshape to x's own shape -> x."""
    if x.shape == node.shape:
        return x
    return node.replace([x]) if node.inputs[0] is not x else None


# ---- casts ------------------------------------------------------------------------------------

def represents(wide: str, narrow: str) -> bool:
    """Whether every value of dtype `narrow` converts to `wide` exactly (and so back again)."""
    if narrow == "bool" or wide == narrow:
        return True
    if wide == "bool" or (is_float(narrow) and not is_float(wide)):
        return False
    if is_float(narrow):
        n, w = np.finfo(narrow), np.finfo(wide)
        return w.nmant >= n.nmant and w.maxexp >= n.maxexp and w.minexp <= n.minexp
    ints = np.iinfo(narrow)
    if is_float(wide):
        return max(-int(ints.min), int(ints.max)) <= 2 ** (np.finfo(wide).nmant + 1)
    wider = np.iinfo(wide)
    return wider.min <= ints.min and wider.max >= ints.max


def skip_exact_cast(x: Tensor, node: Tensor) -> Tensor | None:
    """cast(cast(x, wide), t) -> cast(x, t) (x itself when t is x's dtype) if wide holds every
    value of x exactly: the inner cast then changes no value, so the outer sees x's."""
    wide = node.inputs[0].dtype
    return ew.cast(x, node.dtype) if represents(wide, x.dtype) else None


# ---- powers and division ----------------------------------------------------------------------

def _same_shape(new: Tensor, node: Tensor) -> Tensor | None:
    return new if new.shape == node.shape else None


def _power_of(x: Tensor, node: Tensor, k: int) -> Tensor | None:
    """x ** k as products (k = 2, 3, 4: one or two roundings instead of pow's)."""
    square = x * x
    return _same_shape({2: square, 3: square * x, 4: square * square}[k], node)


def reciprocal_power(x: Tensor, node: Tensor) -> Tensor | None:
    """x ** -1 -> 1 / x for floats (ints raise for negative powers, as in NumPy)."""
    return _same_shape(ew.reciprocal(x), node) if is_float(x.dtype) else None


def _exact_reciprocal(c: Tensor) -> np.ndarray | None:
    """1 / c when it is exact: every element a power of two whose reciprocal is representable."""
    value = c.value
    with np.errstate(all="ignore"):
        inverse = (1 / value).astype(value.dtype)
    mantissa, _ = np.frexp(value)
    exact = (np.abs(mantissa) == 0.5) & np.isfinite(inverse) & (inverse != 0)
    return inverse if value.size and bool(exact.all()) else None


# NOTE: x / c and x * (1 / c) agree bit for bit only when 1 / c is exact, that is when c is a
# power of two; for c = 3 or 10 they differ in the last bit for some x. The rewrite keeps
# results exact, so other divisors stay divisions.
def divide_by_power_of_two(x: Tensor, c: Tensor) -> Tensor | None:
    """x / 2**k -> x * 2**-k (a multiplication is several times cheaper than a division)."""
    if not is_float(x.dtype):
        return None
    inverse = _exact_reciprocal(c)
    return None if inverse is None else make("multiply", [x, constant(inverse)])


# ---- reductions -------------------------------------------------------------------------------

def reduce_over_ones(x: Tensor, node: Tensor) -> Tensor | None:
    """A sum, product, max or min over axes of length 1 only is a reshape (and the cast to the
    accumulator's dtype that summing int32 or bool would make)."""
    if not all(x.shape[a] == 1 for a in node.attrs["axes"]):
        return None        # NOTE: a symbolic dim is never assumed to be 1
    return ew.cast(layout.reshape(x, node.shape), node.dtype)


def sum_of_broadcast(x: Tensor, node: Tensor) -> Tensor | None:
    """sum(broadcast_to(x), axes) -> sum(x, the axes x has) times the length of the others.

    The axes broadcasting created (leading axes, or axes where x has length 1) hold copies,
    so summing them multiplies by their element count (a shape_size node when symbolic).
    """
    spread, axes, keepdims = node.inputs[0], node.attrs["axes"], node.attrs["keepdims"]
    lead = spread.ndim - x.ndim
    created = tuple(a for a in axes if a < lead or x.shape[a - lead] == 1)
    if not created:
        return None
    count = reductions.count(spread, created, node.dtype)
    if is_constant(count, 0):
        return None        # the sum is zeros; nothing to gain on an empty axis
    own = tuple(a - lead for a in axes if a not in created)
    inner = reductions.sum(x, own, keepdims=True) if own else x
    padded = (1,) * lead + inner.shape          # 1 along every summed axis
    value = ew.cast(layout.reshape(inner, reduced_shape(padded, axes, keepdims)), node.dtype)
    value = layout.broadcast_to(value, node.shape)
    return value if is_constant(count, 1) else value * count


ELEMENTWISE = tuple(sorted(ops_of_kind(Kind.ELEMENTWISE)))
REDUCTIONS = ("sum", "prod", "max", "min")

RULES = RuleSet([
    (P("add", x, P.const(0)), keep_x, "x + 0"),
    (P("subtract", x, P.const(0)), keep_x, "x - 0"),
    (P("multiply", x, P.const(1)), keep_x, "x * 1"),
    (P("divide", x, P.const(1)), keep_x, "x / 1"),
    (P("subtract", x, x), zeros_if_exact, "x - x"),
    (P("multiply", x, P.const(0)), zeros_if_exact, "x * 0"),
    (P("neg", P("neg", x)), lambda x: x, "--x"),
    (P("exp", P("log", x)), lambda x: x if known_nonneg(x) else None, "exp(log x)"),
    (P("log", P("exp", x)), lambda x: x, "log(exp x)"),
    (P("power", x, P.const(1)), keep_x, "x ** 1"),
    (P("power", x, P.const(0)), lambda x, node: filled(1, node), "x ** 0"),
    (P("power", x, P.const(2)), lambda x, node: _power_of(x, node, 2), "x ** 2"),
    (P("power", x, P.const(3)), lambda x, node: _power_of(x, node, 3), "x ** 3"),
    (P("power", x, P.const(4)), lambda x, node: _power_of(x, node, 4), "x ** 4"),
    (P("power", x, P.const(-1)), reciprocal_power, "x ** -1"),
    (P("divide", x, c), divide_by_power_of_two, "x / 2**k"),
    (P("cast", x, where=lambda n: n.dtype == n.inputs[0].dtype), lambda x: x,
     "cast to own dtype"),
    (P("cast", P("cast", x)), skip_exact_cast, "cast of exact cast"),
    (P("reshape", P("reshape", x)), collapse_reshapes, "reshape of reshape"),
    (P("reshape", x), keep_x, "reshape to own shape"),
    (P(REDUCTIONS, x), reduce_over_ones, "reduce over ones"),
    (P("sum", P("broadcast_to", x)), sum_of_broadcast, "sum of broadcast"),
    (P(ELEMENTWISE, where=lambda n: len(n.inputs) > 1 and any(
        i.op == "broadcast_to" for i in n.inputs)), drop_implied_broadcast,
     "implied broadcast"),
    (P(("add", "unslice")), merge_unslices, "unslices to concatenate"),
    (P("add"), merge_products, "sum of products"),
    (P("matmul"), share_stack, "products on a shared stack"),
])
PASS = register(rule_pass("simplify", RULES, __doc__.splitlines()[0]))
