"""Merge a sum of products into one product over operands joined along the contracted axis.

    A_1·B_1 + A_2·B_2 + ... + A_n·B_n  ->  [A_1 A_2 ... A_n]·[B_1; B_2; ...; B_n]

A weight used at every step of an unrolled loop (a recurrent weight) gets one gradient term
per step, A_t^T·G_t with a contracted length (the batch) far shorter than the weight's sides:
n small products each writing a full-size result, then an add of all n. One product over the
concatenated operands does the same arithmetic in one call, with the contraction n times
longer, and writes the result once. Transpose flags are kept: the contracted axis of A is its
last (its rows, axis -2, for A^T), that of B its rows (its last for B^T).

Where every A_t^T B_t contracts the same number of rows n (a batch), the sides are stacked
batch-major instead: (n, steps, k) arrays read as (n * steps, k), row i of every step
together, so the stacks keep the batch's rows apart (graphc/rows.py) and a row group writes
them where the steps make their values. A side the graph stacks so anyway (an unrolled
loop's gradient of z = x W_ih, from the slices z[:, t] each step read) is read from that
stack, the other side's parts in its order (`share_stack`): dW_ih and dW_hh read one stack.

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

from graphc import dims as D
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
    concatenates along the contracted axes, or of two row-interleaved stacks (what an earlier
    merge built)."""
    a, b = product.inputs
    a_rows, b_rows = _interleaved(a), _interleaved(b)
    if (a_rows and b_rows and len(a_rows) == len(b_rows)
            and product.attrs["transpose_a"] and not product.attrs["transpose_b"]):
        return list(zip(a_rows, b_rows))
    ia, ib = inner_axes(product)
    if (a.op == "concatenate" == b.op and a.attrs["axis"] == ia and b.attrs["axis"] == ib
            and len(a.inputs) == len(b.inputs)
            and all(dims.resolve(x.shape[ia]) == dims.resolve(y.shape[ib])
                    for x, y in zip(a.inputs, b.inputs))):
        return list(zip(a.inputs, b.inputs))
    return [(a, b)]


def share_stack(node: Tensor, ctx) -> Tensor | None:
    """A product of two interleaved stacks (an earlier merge's) reading, instead of its own,
    a stack of the same parts the graph builds anyway in another order (a sequence's
    gradient, which the slices' gradients become after the products merged): one stack
    written, not two."""
    if not node.attrs["transpose_a"] or node.attrs["transpose_b"]:
        return None
    a, b = node.inputs
    a_parts, b_parts = _interleaved(a), _interleaved(b)
    if not a_parts or not b_parts or len(a_parts) != len(b_parts):
        return None
    own = {id(a.inputs[0]), id(b.inputs[0])}
    if not any(_stack_of(side, ctx, own) for side in (a_parts, b_parts)):
        return None
    return make("matmul", _interleaved_pairs(a_parts, b_parts, ctx, own), dict(node.attrs))


def _interleaved_pairs(a_parts: list[Tensor], b_parts: list[Tensor], ctx,
                       own: set[int] = frozenset()) -> list[Tensor]:
    """Both sides' matrices of n rows each as matrices of n * len(parts) rows, row i of
    every part together (stack i of an (n, parts, k) array): a batch's rows stay apart, so a
    row group writes the stacks where an unrolled loop's steps make the parts (graphc/passes/
    row_groups.py). A side already stacked so (a sequence's gradient, from the slices each
    step read) is read from that stack, the other side's parts put in its order."""
    found = _stack_of(b_parts, ctx, own)
    if found is not None:
        stack, order = found
        return [_interleave([a_parts[i] for i in order]), _flat(stack)]
    found = _stack_of(a_parts, ctx, own)
    if found is not None:
        stack, order = found
        return [_flat(stack), _interleave([b_parts[i] for i in order])]
    return [_interleave(a_parts), _interleave(b_parts)]


def _stack_of(parts: list[Tensor], ctx, own: set[int]) -> tuple[Tensor, list[int]] | None:
    """An (n, len(parts), k) concatenate of exactly these parts, each as (n, 1, k), that
    something other than merged products reads, and the position in parts of each of its
    pieces; None if the graph has none but those in `own` (ids)."""
    position = {id(p): i for i, p in enumerate(parts)}
    if len(position) != len(parts):
        return None
    for reshaped in ctx.users(parts[0]):
        if reshaped.op != "reshape" or reshaped.ndim != 3:
            continue
        for stack in ctx.users(reshaped):
            if (stack.op == "concatenate" and stack.attrs["axis"] == 1 and stack.ndim == 3
                    and id(stack) not in own and _read_elsewhere(stack, ctx)
                    and len(stack.inputs) == len(parts)
                    and all(i.op == "reshape" and id(i.inputs[0]) in position
                            and ctx.dims.resolve(i.shape[1]) == 1 for i in stack.inputs)):
                order = [position[id(i.inputs[0])] for i in stack.inputs]
                if len(set(order)) == len(parts):
                    return stack, order
    return None


def _read_elsewhere(stack: Tensor, ctx) -> bool:
    """Whether something reads stack besides products of two interleaved stacks (the ones
    merges build, which a shared stack replaces)."""
    for user in ctx.users(stack):
        readers = ctx.users(user) if user.op == "reshape" else [user]
        if ctx.is_returned(user) or any(
                r.op != "matmul" or not all(map(_interleaved, r.inputs)) for r in readers):
            return True
    return False


def _interleave(parts: list[Tensor]) -> Tensor:
    n, k = parts[0].shape
    return _flat(make("concatenate", [make("reshape", [p], {"shape": (n, 1, k)})
                                      for p in parts], {"axis": 1}))


def _flat(stack: Tensor) -> Tensor:
    """An (n, s, k) stack as (n * s, k)."""
    n, s, k = stack.shape
    return make("reshape", [stack], {"shape": (D.mul(n, s), k)})


def _interleaved(x: Tensor) -> list[Tensor] | None:
    """The parts of an _interleave (matrices (n, k), each reshaped to (n, 1, k), stacked
    along axis 1 and read as (n * parts, k)), or None."""
    stack = x.inputs[0] if x.op == "reshape" and x.ndim == 2 else None
    if stack is None or stack.op != "concatenate" or stack.ndim != 3 or stack.attrs["axis"] != 1 \
            or x.shape[1] != stack.shape[2]:
        return None
    pieces = stack.inputs
    if any(p.op != "reshape" or p.shape[1] != 1 or p.inputs[0].ndim != 2 for p in pieces):
        return None
    return [p.inputs[0] for p in pieces]


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
        if not (len(leaves[key]) > 1 and _agree(a_parts, axis_a, ctx.dims)
                and _agree(b_parts, axis_b, ctx.dims)):
            continue
        if (ta, tb, rank_a, rank_b) == (True, False, 2, 2) and _agree(a_parts + b_parts, 1,
                                                                         ctx.dims):
            stacked = _interleaved_pairs(a_parts, b_parts, ctx)    # A_t^T B_t, n each
        else:
            stacked = [make("concatenate", a_parts, {"axis": axis_a}),
                       make("concatenate", b_parts, {"axis": axis_b})]
        merged[key] = make("matmul", stacked, {"transpose_a": ta, "transpose_b": tb})
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
