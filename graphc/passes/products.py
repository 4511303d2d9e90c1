"""Merge a sum of products into one product over operands joined along the contracted axis.

    A_1·B_1 + A_2·B_2 + ... + A_n·B_n  ->  [A_1 A_2 ... A_n]·[B_1; B_2; ...; B_n]

A weight used at every step of an unrolled loop (a recurrent weight) gets one gradient term
per step, A_t^T·G_t with a contracted length (the batch) far shorter than the weight's sides:
n small products each writing a full-size result, then an add of all n. One product over the
concatenated operands does the same arithmetic in one call, with the contraction n times
longer, and writes the result once. Transpose flags are kept: the contracted axis of A is its
last (its rows, axis -2, for A^T), that of B its rows (its last for B^T).

Products merge when they share their flags, dtype and the result's type, are read by nothing
else, and their operands agree outside the contracted axis (batch dims included), proven
under the graph's dim equalities. Adds of any association are flattened and merged at the
tree's root (an add read only by an add of its type leaves it to that one); a product an
earlier merge built (both operands concatenates along their contracted axes, in matching
pieces) is taken apart again, so a tree ends as one product of two concatenates of all the
operands, not nested concatenates.

When it pays: the concatenates copy every operand once, K_t (M + N) elements per term, where
the separate products write and the add reads M N per term and BLAS runs short of work on a
short contraction. For large K_t the copy costs more than the add it saves, but then each
product's arithmetic, 2 K_t M N, dominates: the extra copying is at most (1/M + 1/N) / 2 of
it. The rule fires only when that bound is at most 1/16, that is 8 (M + N) <= M N for the
result's static sides M and N (both 16 and more, or 9 against 72, and so on); so never for
matrix-vector products, where copying the matrix would double the memory traffic. A symbolic
side is unknown and does not qualify. The merged product sums in another order: results
change by rounding.
"""
from __future__ import annotations

from graphc.passes.unslices import summands
from graphc.tensor import Tensor, make

MIN_SIDE_RATIO = 8      # fire when MIN_SIDE_RATIO * (M + N) <= M * N


def inner_axes(product: Tensor) -> tuple[int, int]:
    """The contracted axes of a matmul's operands, counted from the front."""
    a, b = product.inputs
    ta, tb = product.attrs["transpose_a"], product.attrs["transpose_b"]
    return a.ndim - (2 if ta else 1), b.ndim - (1 if tb else 2)


def pays(m, n) -> bool:
    """Whether merging products with an M x N result pays whatever their contracted lengths
    (see the module doc); M and N resolved dims, False unless both are static."""
    return (isinstance(m, int) and isinstance(n, int)
            and MIN_SIDE_RATIO * (m + n) <= m * n)


def factors(product: Tensor, dims) -> list[tuple[Tensor, Tensor]]:
    """The operand pairs a product sums over: its operands, or the matching pieces of two
    concatenates along the contracted axes (what an earlier merge built)."""
    a, b = product.inputs
    ia, ib = inner_axes(product)
    if (a.op == "concatenate" == b.op and a.attrs["axis"] == ia and b.attrs["axis"] == ib
            and len(a.inputs) == len(b.inputs)
            and all(dims.resolve(x.shape[ia]) == dims.resolve(y.shape[ib])
                    for x, y in zip(a.inputs, b.inputs))):
        return list(zip(a.inputs, b.inputs))
    return [(a, b)]


def _agree(xs: list[Tensor], axis: int, dims) -> bool:
    """Whether tensors of one rank have equal dims outside `axis` (under the dim equalities)."""
    first = [dims.resolve(d) for d in xs[0].shape]
    return all(x.ndim == len(first) and all(
        i == axis or dims.resolve(d) == e for i, (d, e) in enumerate(zip(x.shape, first)))
        for x in xs[1:])


def _mergeable(leaf: Tensor, node: Tensor, ctx) -> bool:
    return (leaf.op == "matmul" and ctx.dims.same_type(leaf.type, node.type)
            and not ctx.is_shared(leaf)
            and pays(ctx.dims.resolve(node.shape[-2]), ctx.dims.resolve(node.shape[-1])))


def merge_products(node: Tensor, ctx) -> Tensor | None:
    """A sum (of any association) of products -> one product of concatenated operands."""
    users = ctx.users(node)
    if len(users) == 1 and users[0].op == "add" and users[0].type == node.type \
            and not ctx.is_shared(node):
        return None     # the add tree's root merges the whole tree at once
    terms: list[Tensor | tuple] = []     # a group's key stands where its first product was
    groups: dict[tuple, list[tuple[Tensor, Tensor]]] = {}
    leaves: dict[tuple, list[Tensor]] = {}
    for leaf in summands(node):
        if not _mergeable(leaf, node, ctx):
            terms.append(leaf)
            continue
        a, b = leaf.inputs
        key = (leaf.attrs["transpose_a"], leaf.attrs["transpose_b"], a.ndim, b.ndim)
        if key not in groups:
            groups[key], leaves[key] = [], []
            terms.append(key)
        groups[key].extend(factors(leaf, ctx.dims))
        leaves[key].append(leaf)
    merged: dict[tuple, Tensor] = {}
    for key, pairs in groups.items():
        ta, tb, rank_a, rank_b = key
        axis_a, axis_b = rank_a - (2 if ta else 1), rank_b - (1 if tb else 2)
        a_parts, b_parts = [p[0] for p in pairs], [p[1] for p in pairs]
        if (len(leaves[key]) > 1 and _agree(a_parts, axis_a, ctx.dims)
                and _agree(b_parts, axis_b, ctx.dims)):
            merged[key] = make("matmul", [make("concatenate", a_parts, {"axis": axis_a}),
                                          make("concatenate", b_parts, {"axis": axis_b})],
                               {"transpose_a": ta, "transpose_b": tb})
    if not merged:
        return None
    total: Tensor | None = None
    for t in terms:
        if isinstance(t, tuple):
            parts = [merged[t]] if t in merged else leaves[t]
        else:
            parts = [t]
        for part in parts:
            total = part if total is None else make("add", [total, part], {})
    return total
