"""Is each node of a graph right given its operands? The check behind tests of other backends.

A backend's end-to-end results may differ from the interpreter's by more than rounding when
the graph amplifies rounding (1 - tanh(x)^2 near tanh(x) = 1), or when a comparison, floor or
argmax flips on an operand that moved by one ulp. Neither is a wrong result. `local_divergence`
tells them apart: it takes every node's value as the other backend computed it and
recomputes each node with the interpreter's kernel from the *other backend's* operand values;
only a node that differs from that by more than its own op can explain is wrong:

- ints, bools, and ops that move, select or compare values (layout, gathers, max, argmax,
  where, casts, random draws) and IEEE arithmetic (+ - * / sqrt): exactly;
- an elementwise formula with transcendentals (exp, log, tanh, erf, pow, ...): by how much its
  result moves when each transcendental is off by ULPS ulps (its own rounding amplified by
  the formula, as 1 + erf(x) does for x < -3), plus ULPS ulps of the result;
- sums of products (sum, prod, matmul, conv and their gradients, pooling): by ULPS n ulps of
  the op applied to the operands' magnitudes (n, for the number of terms: one plus the
  operands' elements per result element);
- a scan's results: its body's rounding grows over the steps, as much as the interpreter's
  results move when the scan's float operands move by ULPS ulps (times SPREAD), plus
  SCAN_RTOL of their scale.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from backends.numpy.executor import DimBinder
from backends.numpy.kernels import factory
from graphc import scalar
from graphc.feeds import FeedChecker
from graphc.graph import Graph
from graphc.printing import node_line, value_names
from graphc.registry import OPS, Kind
from graphc.tensor import Tensor

ULPS = 4            # how far a backend's transcendental may be from NumPy's, in ulps
SCAN_RTOL = {"float32": 1e-4, "float64": 1e-12}
SPREAD = 4
# op -> the operands it is linear in: the op of their magnitudes bounds its rounding error
LINEAR = {"sum": (0,), "prod": (0,), "matmul": (0, 1), "conv": (0, 1),
          "conv_input_grad": (0, 1), "conv_weight_grad": (0, 1), "avg_pool": (0,),
          "avg_pool_grad": (0,), "take_grad": (0,), "take_along_axis_grad": (0,),
          "col2im": (0,), "max_pool_grad": (2,)}
LEAVES = ("placeholder", "variable", "constant")


def probe_nodes(graph: Graph) -> list[Tensor]:
    """The nodes whose values a probe graph returns (all but leaves and composite tokens)."""
    return [n for n in graph.nodes if n.op not in LEAVES and n.op != "scan"]


def local_divergence(graph: Graph, feeds: Sequence[np.ndarray], values: Sequence[np.ndarray],
                     results: Sequence[tuple[Tensor, np.ndarray]] = ()) -> str | None:
    """The first node of `graph` whose value in `values` (one per probe_nodes(graph), computed
    from `feeds` and the variables' current values) its operands' values do not explain; then
    the first of `results` (a node and another value for it) they do not explain."""
    nodes = probe_nodes(graph)
    known: dict[int, object] = {id(n): v for n, v in zip(nodes, values)}
    for t, a in zip(graph.inputs, feeds):
        known[id(t)] = a
    for v in graph.variables:
        known[id(v)] = np.array(v.attrs["var"].value)
    for c in graph.constants:
        known[id(c)] = c.attrs["value"].array
    binder = DimBinder(graph.dims)
    binder.bindings = FeedChecker(graph.inputs, graph.dims)(list(feeds))[1]
    names = value_names(graph)
    spreads: dict[int, list] = {}
    with np.errstate(all="ignore"):
        for node in graph.nodes:
            if node.op == "scan":       # the interpreter's scan of the other's operands
                known[id(node)], spreads[id(node)] = _scan(
                    node, [known[id(i)] for i in node.inputs], binder)
        checks = [(n, known[id(n)], "") for n in nodes] + [
            (n, value, " (as computed with fewer outputs)") for n, value in results
            if n.op not in LEAVES]
        for node, value, how in checks:
            operands = [known[id(i)] for i in node.inputs]
            spread = spreads[id(node.inputs[0])][node.attrs["index"]] \
                if node.op == "scan_result" else 0.0
            why = _differs(node, operands, value, binder, spread)
            if why:
                return f"{node_line(node, names).strip()}{how}: {why}"
    return None


def _kernel(node: Tensor, binder: DimBinder) -> Callable[..., np.ndarray]:
    return factory(node.op)(node, binder)


def _scan(node: Tensor, operands: list, binder: DimBinder) -> tuple[tuple, list]:
    """The interpreter's scan results, and how far each moves when every float operand moves
    by ULPS ulps, either way."""
    run = _kernel(node, binder)
    results = run(*operands)
    spread: list = [0.0] * len(results)
    for sign in (1, -1):
        moved = run(*(a * a.dtype.type(1 + sign * ULPS * np.finfo(a.dtype).eps)
                      if a.dtype.kind == "f" else a for a in map(np.asarray, operands)))
        spread = [np.fmax(s, np.abs(np.asarray(m, np.float64) - r)) if r.dtype.kind == "f"
                  else s for s, m, r in zip(spread, moved, map(np.asarray, results))]
    return results, spread


def _differs(node: Tensor, operands: list, actual: np.ndarray, binder,
             spread: np.ndarray | float = 0.0) -> str | None:
    expected = np.asarray(_kernel(node, binder)(*operands), node.dtype)
    if expected.shape != actual.shape:
        return f"shape {actual.shape}, expected {expected.shape}"
    same = (expected == actual) | (np.isnan(expected) & np.isnan(actual)) \
        if expected.dtype.kind == "f" else expected == actual
    if same.all():
        return None
    if expected.dtype.kind == "f":
        tol = _tolerance(node, operands, expected, binder) + SPREAD * spread
        close = np.isfinite(expected) & (np.abs(expected - actual) <= tol)
        same |= close
        if same.all():
            return None
    where = tuple(int(i) for i in np.argwhere(~same)[0])
    operand_values = ", ".join(f"{np.asarray(a)[_at(np.asarray(a), where, actual.ndim)]!r}"
                               for a in operands if isinstance(a, np.ndarray))
    return (f"{int((~same).sum())} of {same.size} elements differ from the interpreter's "
            f"{node.op} of the same operands; first at {where}: expected {expected[where]!r}, "
            f"got {actual[where]!r} (operands there: {operand_values or 'n/a'})")


def _at(a: np.ndarray, where: tuple, ndim: int) -> tuple:
    """The element of a broadcast operand at an output position (for elementwise ops)."""
    if a.ndim > ndim:
        return (0,) * a.ndim
    return tuple(0 if d == 1 else i for d, i in zip(a.shape, where[ndim - a.ndim:]))


def _tolerance(node: Tensor, operands: list, expected: np.ndarray, binder) -> np.ndarray | float:
    eps = float(np.finfo(expected.dtype).eps)
    if OPS[node.op].kind is Kind.ELEMENTWISE:
        return _formula_spread(node, operands) + ULPS * eps * np.abs(expected)
    if node.op in LINEAR:
        magnitudes = [np.abs(a) if i in LINEAR[node.op] else a for i, a in enumerate(operands)]
        bound = np.abs(np.asarray(_kernel(node, binder)(*magnitudes), np.float64))
        terms = 1 + sum(np.size(a) for a in operands) // max(1, expected.size)
        return ULPS * eps * terms * bound
    if node.op == "scan_result":
        finite = np.abs(expected[np.isfinite(expected)])
        scale = max(1.0, float(finite.max())) if finite.size else 1.0
        return SCAN_RTOL[str(expected.dtype)] * (scale + np.abs(expected))
    return 0.0


def _formula_spread(node: Tensor, operands: list) -> np.ndarray | float:
    """How far the op's formula moves when each transcendental in it is off by ULPS ulps
    (each way, in two sign patterns so that errors cannot cancel in a ratio)."""
    expr = scalar.trace(OPS[node.op].formula, len(node.inputs), dict(node.attrs))
    inexact = [e for e in scalar.nodes([expr]) if e.prim in scalar.TRANSCENDENTAL
               and e.prim != "sqrt"]
    if not inexact:
        return 0.0
    eps = float(np.finfo(node.dtype).eps)
    base = scalar.evaluate(expr, operands, node.dtype)
    spread = np.zeros(base.shape)
    for signs in ([1] * len(inexact), [(-1) ** k for k in range(len(inexact))]):
        for sign in (1, -1):
            factors = {id(e): 1 + sign * s * ULPS * eps for e, s in zip(inexact, signs)}
            moved = scalar.evaluate(_perturbed(expr, factors), operands, node.dtype)
            spread = np.fmax(spread, np.abs(moved.astype(np.float64) - base))
    return spread


def _perturbed(expr: scalar.Scalar, factors: dict[int, float]) -> scalar.Scalar:
    """expr with each node in `factors` multiplied by its factor."""
    memo: dict[int, scalar.Scalar] = {}

    def rebuild(e: scalar.Scalar) -> scalar.Scalar:
        if id(e) in memo:
            return memo[id(e)]
        if e.prim in ("arg", "const"):
            new = e
        elif e.prim == "cast":
            new = scalar.cast(rebuild(e.args[0]), e.value)
        else:
            new = scalar.apply(e.prim, *map(rebuild, e.args))
        if id(e) in factors:
            new = new * factors[id(e)]
        memo[id(e)] = new
        return new
    return rebuild(expr)

