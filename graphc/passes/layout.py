"""Layout simplification: chains of transposes collapse; matmul takes transposes as flags."""
from __future__ import annotations

from graphc.ops import layout
from graphc.ops.linalg import flagged_matmul
from graphc.passes.manager import register, rule_pass
from graphc.pattern import P, RuleSet
from graphc.rewrite import Context
from graphc.tensor import Tensor

x = P.var("x")


def compose_transposes(x: Tensor, node: Tensor) -> Tensor:
    """transpose(transpose(x, p), q) -> transpose(x, p[q]) (or x itself)."""
    inner, outer = node.inputs[0].attrs["perm"], node.attrs["perm"]
    return layout.transpose(x, tuple(inner[i] for i in outer))


def swaps_last_two(t: Tensor) -> bool:
    """Whether t is a transpose exchanging the last two axes and nothing else (a matrix .T)."""
    if t.op != "transpose":
        return False
    n = len(t.attrs["perm"])
    return t.attrs["perm"] == tuple(range(n - 2)) + (n - 1, n - 2)


def absorb_transposes(node: Tensor) -> Tensor:
    """matmul(x.T, y) -> matmul(x, y, transpose_a), either operand; a transpose meeting a set
    flag clears it, as the two swaps cancel."""
    operands, flags = [], []
    for t, flag in zip(node.inputs, (node.attrs["transpose_a"], node.attrs["transpose_b"])):
        if swaps_last_two(t):
            t, flag = t.inputs[0], not flag
        operands.append(t)
        flags.append(flag)
    return flagged_matmul(*operands, *flags)


def transpose_product(node: Tensor, ctx: Context) -> Tensor | None:
    """transpose(op(a) @ op(b)) -> op'(b) @ op'(a), flags flipped: (A B)^T = B^T A^T.

    Not when the product is used elsewhere too (or was built by this pass, so its users are
    unknown): that would compute it twice.
    """
    product = node.inputs[0]
    if not swaps_last_two(node) or not ctx.users(product) or ctx.is_shared(product):
        return None
    a, b = product.inputs
    return flagged_matmul(b, a, not product.attrs["transpose_b"],
                          not product.attrs["transpose_a"])


RULES = RuleSet([
    (P("transpose", P("transpose", x)), compose_transposes, "transpose of transpose"),
    (P("matmul", where=lambda n: any(map(swaps_last_two, n.inputs))), absorb_transposes,
     "transpose into matmul"),
    (P("transpose", P("matmul")), transpose_product, "transpose of matmul"),
])
PASS = register(rule_pass("layout", RULES, __doc__.splitlines()[0]))
