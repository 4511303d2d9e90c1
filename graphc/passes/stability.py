"""Numerical stability: expressions that overflow or lose precision, rewritten to stable forms.

    log(exp(u) / s)        -> u - log(s)              (log of softmax: log_softmax)
    log(sigmoid(x))        -> -softplus(-x)
    log(1 - sigmoid(x))    -> -softplus(x)            (with the above: BCE on sigmoid)
    log(1 + x)             -> log1p(x)
    exp(x) - 1             -> expm1(x)
    log(sum(exp(x)))       -> logsumexp(x)            (shifted by the maximum)

gc.grad differentiates the stabilized form of its target (`stabilize`), so a loss written
the unstable way by hand also gets finite gradients; the pass then rewrites the forward
values the same way, and hash-consing makes the two one.
"""
from __future__ import annotations

from graphc.errors import ShapeError
from graphc.graph import Graph, topological_order
from graphc.ops import activations, elementwise, reductions
from graphc.passes.manager import register, rule_pass
from graphc.pattern import P, RuleSet
from graphc.registry import Trait, ops_with
from graphc.rewrite import Rewriter
from graphc.tensor import Tensor

x, u, s = P.var("x"), P.var("u"), P.var("s")
VIEWS = tuple(sorted(ops_with(Trait.VIEW) - {"stop_gradient"}))


def _same_shape(new: Tensor, node: Tensor) -> Tensor | None:
    return new if new.shape == node.shape else None


def log_of_ratio(u: Tensor, s: Tensor, node: Tensor) -> Tensor | None:
    return _same_shape(u - elementwise.log(s), node)


def log_of_view_of_ratio(u: Tensor, s: Tensor, node: Tensor) -> Tensor | None:
    """log(view(exp(u) / s)) -> view(u - log(s)): the log of a slice of a softmax."""
    view = node.inputs[0]
    ratio = view.inputs[0]
    inner = u - elementwise.log(s)
    return view.replace([inner]) if inner.shape == ratio.shape else None


def _is_shifted(x: Tensor) -> bool:
    """x already has the form a - stop_gradient(...) (logsumexp's own shift)."""
    return x.op == "subtract" and x.inputs[1].op in ("stop_gradient", "broadcast_to")


def log_sum_exp(x: Tensor, node: Tensor) -> Tensor | None:
    total = node.inputs[0]
    attrs = total.attrs
    sizes = [x.shape[a] for a in attrs["axes"]]
    if _is_shifted(x) or not all(isinstance(n, int) and n > 0 for n in sizes):
        return None       # NOTE: the shift is a max, which an empty axis has not
    return reductions.logsumexp(x, attrs["axes"], keepdims=attrs["keepdims"])


RULES = RuleSet([
    (P("log", P("divide", P("exp", u), s)), log_of_ratio, "log(exp(u) / s)"),
    (P("log", P(VIEWS, P("divide", P("exp", u), s))), log_of_view_of_ratio,
     "log(view(exp(u) / s))"),
    (P("log", P("sigmoid", x)), lambda x: -activations.softplus(-x), "log(sigmoid)"),
    (P("log", P("subtract", P.const(1), P("sigmoid", x))),
     lambda x, node: _same_shape(-activations.softplus(x), node), "log(1 - sigmoid)"),
    (P("log", P("add", x, P.const(1))),
     lambda x, node: _same_shape(elementwise.log1p(x), node), "log(1 + x)"),
    (P("subtract", P("exp", x), P.const(1)),
     lambda x, node: _same_shape(elementwise.expm1(x), node), "exp(x) - 1"),
    (P("log", P("sum", P("exp", x))), log_sum_exp, "log(sum(exp))"),
])
PASS = register(rule_pass("stability", RULES, __doc__.splitlines()[0]))


def stabilize(y: Tensor, keep: list[Tensor]) -> Tensor:
    """y rewritten by the stability rules; y itself if a node in `keep` would be lost."""
    order = topological_order([y])
    try:
        graph = Graph([n for n in order if n.op == "placeholder"], [y])
    except ShapeError:
        return y         # contradicting dim assumptions: reported when the graph is built
    (new,) = Rewriter(RULES)(graph).outputs
    if new is y:
        return y
    survivors = {id(n) for n in topological_order([new])}
    return new if all(id(t) in survivors for t in keep) else y
