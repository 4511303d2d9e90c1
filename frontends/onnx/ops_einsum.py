"""Einsum as transposes, reshapes, sums and batched matmuls (static shapes).

Each operand first loses its repeated letters (a diagonal: masked by an identity, summed) and
the letters nothing else uses (summed); operands are then multiplied pairwise, a pair's
shared letters becoming matmul batch or contracted dims.
"""
from __future__ import annotations

import math
import string

import numpy as np

import graphc as gc
from frontends.onnx.node import Node
from frontends.onnx.table import converts
from graphc.tensor import Tensor


def _parse(n: Node, equation: str, ranks: list[int]) -> tuple[list[str], str]:
    """Terms and output with each ... replaced by letters of its own."""
    lhs, arrow, rhs = equation.replace(" ", "").partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise n.fail(f"equation {equation!r} has {len(terms)} operands, given {len(ranks)}")
    spare = [c for c in string.ascii_letters if c not in equation]
    widest = max((r - len(t.replace("...", "")) for t, r in zip(terms, ranks) if "..." in t),
                 default=0)
    ellipsis = "".join(spare[:widest])
    terms = [t.replace("...", ellipsis[widest - (r - len(t.replace("...", ""))):])
             for t, r in zip(terms, ranks)]
    if not arrow:       # implicit output: the letters used once, alphabetically
        counts = "".join(terms)
        rhs = ellipsis + "".join(sorted(c for c in set(counts) if counts.count(c) == 1
                                        and c not in ellipsis))
    rhs = rhs.replace("...", ellipsis)
    for t, r in zip(terms, ranks):
        if len(t) != r:
            raise n.fail(f"term {t!r} of {equation!r} does not fit an operand of rank {r}")
    return terms, rhs


def _diagonal(x: Tensor, letters: str) -> tuple[Tensor, str]:
    """Remove repeated letters: keep the diagonal of each repeated pair."""
    while len(set(letters)) < len(letters):
        letter = next(c for c in letters if letters.count(c) > 1)
        first = letters.index(letter)
        second = letters.index(letter, first + 1)
        size = x.shape[first]
        mask_shape = [1] * x.ndim
        mask_shape[first] = mask_shape[second] = size
        eye = gc.constant(np.eye(size, dtype=x.dtype).reshape(mask_shape))
        x = gc.sum(x * eye, second)
        letters = letters[:second] + letters[second + 1:]
    return x, letters


def _sum_out(x: Tensor, letters: str, keep: set[str]) -> tuple[Tensor, str]:
    axes = tuple(i for i, c in enumerate(letters) if c not in keep)
    if not axes:
        return x, letters
    return gc.sum(x, axes), "".join(c for c in letters if c in keep)


def _product(a: Tensor, la: str, b: Tensor, lb: str, keep: set[str]) -> tuple[Tensor, str]:
    """a * b summed over the letters they share that `keep` does not hold, as one matmul."""
    batch = [c for c in la if c in lb and c in keep]
    contracted = [c for c in la if c in lb and c not in keep]
    left = [c for c in la if c not in lb]
    right = [c for c in lb if c not in la]
    size = dict(zip(la, a.shape)) | dict(zip(lb, b.shape))

    def arrange(x, letters, groups):
        order = [letters.index(c) for group in groups for c in group]
        x = gc.transpose(x, order)
        return gc.reshape(x, tuple(math.prod(size[c] for c in group) for group in groups))
    y = gc.matmul(arrange(a, la, [batch, left, contracted]),
                  arrange(b, lb, [batch, contracted, right]))
    letters = batch + left + right
    return gc.reshape(y, tuple(size[c] for c in letters)), "".join(letters)


@converts("Einsum", attrs=("equation",))
def einsum(n: Node) -> Tensor:
    xs = [t for t in n.inputs if t is not None]
    for x in xs:
        if not all(isinstance(d, int) for d in x.shape):
            raise n.unsupported(f"einsum of {x.type}: shapes must be static")
    terms, out = _parse(n, n.attr("equation"), [x.ndim for x in xs])
    operands = [_diagonal(x, t) for x, t in zip(xs, terms)]
    for k, (x, letters) in enumerate(operands):
        others = set(out).union(*(t for j, (_, t) in enumerate(operands) if j != k))
        operands[k] = _sum_out(x, letters, others)
    y, letters = operands[0]
    for k, (x, lx) in enumerate(operands[1:], start=1):
        later = set(out).union(*(t for _, t in operands[k + 1:]))
        y, letters = _product(y, letters, x, lx, later)
    y, letters = _sum_out(y, letters, set(out))
    return gc.transpose(y, [letters.index(c) for c in out]) if out else y
