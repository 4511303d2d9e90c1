"""Feed fuzzing: random dtypes, shapes, lists, scalars, NaN/Inf and variables' own buffers.

Every call must either succeed or raise a gc.GraphcError. A failed call leaves every variable
as it was; a call never writes a feed, and never returns an array sharing memory with a
feed or a variable; a valid feed always succeeds, with the outputs and new values NumPy
computes. `fuzz` returns the counts the issue asks for (cases / GraphcError / anything else).
The functions run on both backends.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import scipy.special

import graphc as gc


@dataclass
class Target:
    """A compiled function, its inputs and a NumPy reference of one call."""

    name: str
    inputs: list
    fn: Callable
    updated: list                 # the variables (Tensors) its updates assign
    reference: Callable           # (converted feeds, {variable name: value}) -> (outs, news)
    index_ranges: dict            # input position -> the integer range a valid feed draws from


def linear_softmax(rng, backend: str) -> Target:
    x = gc.placeholder((None, 4), "float32", name="x")
    y = gc.placeholder((None,), "int64", name="y")
    W = gc.variable(rng.standard_normal((4, 3)).astype(np.float32), name="fz_W")
    b = gc.variable(np.zeros(3, np.float32), name="fz_b")
    logits = x @ W + b
    loss = gc.mean(gc.losses.cross_entropy(logits, y))
    gW, gb = gc.grad(loss, [W, b])
    fn = gc.compile([x, y], [loss, logits], updates=[(W, W - 0.1 * gW), (b, b - 0.1 * gb)],
                    backend=backend)

    def reference(feeds, v):
        xs, ys = (f.astype(np.float64) for f in feeds)
        z = xs @ v["fz_W"] + v["fz_b"]
        logp = z - scipy.special.logsumexp(z, axis=1, keepdims=True)
        n = len(ys)
        picked = logp[np.arange(n), ys.astype(np.int64)]
        dz = (np.exp(logp) - np.eye(3)[ys.astype(np.int64)]) / n
        return [-picked.mean(), z], [v["fz_W"] - 0.1 * xs.T @ dz, v["fz_b"] - 0.1 * dz.sum(0)]
    return Target("linear_softmax", [x, y], fn, [W, b], reference, {1: (0, 3)})


def alias(rng, backend: str) -> Target:
    a = gc.placeholder((3,), "float64", name="a")
    W = gc.variable(rng.standard_normal(3), name="fz_A")
    fn = gc.compile([a], gc.sum(a * W), updates=[(W, W + a)], backend=backend)
    return Target("alias", [a], fn, [W], lambda f, v: ([np.sum(f[0] * v["fz_A"])],
                                                       [v["fz_A"] + f[0]]), {})


def gather(rng, backend: str) -> Target:
    ids = gc.placeholder((None, 2), "int32", name="ids")
    s = gc.placeholder((), "float32", name="s")
    T = gc.variable(rng.standard_normal((5, 2)).astype(np.float32), name="fz_T")
    fn = gc.compile([ids, s], gc.take(T, ids, negative_from_end=False) * s,
                    updates=[(T, T * 0.5)], backend=backend)
    return Target("gather", [ids, s], fn, [T],
                  lambda f, v: ([v["fz_T"][f[0]] * f[1]], [v["fz_T"] * 0.5]), {0: (0, 5)})


def named_dims(rng, backend: str) -> Target:
    a = gc.placeholder(("Nfz", 3), "float32", name="a")
    m = gc.placeholder(("Nfz",), "bool", name="m")
    count = gc.variable(np.zeros((), np.int64), name="fz_count")
    fn = gc.compile([a, m], gc.sum(gc.where(gc.expand_dims(m, 1), a, 0.0), axis=1),
                    updates=[(count, count + 1)], backend=backend)
    return Target("named_dims", [a, m], fn, [count],
                  lambda f, v: ([np.where(f[1][:, None], f[0], 0).sum(1)],
                                [v["fz_count"] + 1]), {})


DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint32",
          "uint64", "bool", "complex64", "object", "<U3"]
WEIRD_LISTS = [[[1, 2], [3]], [1.0, None], ["1", "2"], [2**40, 1], [2**70], [-2**63 - 1],
               [[[1.0]]], [], [1e39, 0.0], [[1, 2], [3, 4.5]], [True, 2], [1j]]
SCALARS = [0, 1, -1, 2**31, 2**64, 1.5, float("nan"), float("inf"), True, None, "x", 1j, b"ab"]


class FeedMaker:
    """Random feeds for one case: valid ones, or one of many kinds of wrong or odd ones."""

    def __init__(self, rng, variables: list):
        self.rng, self.variables = rng, variables

    def values(self, shape, dtype: str, span=None) -> np.ndarray:
        rng = self.rng
        if dtype == "bool":
            return rng.random(shape) < 0.5
        if dtype.startswith("int"):
            lo, hi = span or (-50, 50)
            return rng.integers(lo, hi, shape).astype(dtype)
        a = rng.standard_normal(shape).astype(dtype)
        if rng.random() < 0.2 and a.size:                 # sprinkle NaN and infinities
            a.flat[rng.integers(0, a.size, 2)] = rng.choice([np.nan, np.inf, -np.inf], 2)
        return a

    def feed(self, t, n: int, span) -> tuple[object, bool]:
        """One input's feed (every symbolic dim n when valid) and whether it is valid."""
        rng = self.rng
        shape = tuple(d if isinstance(d, int) else n for d in t.shape)
        mode = rng.choice(["valid", "valid", "list", "view", "out_of_range", "dtype", "shape",
                           "weird_list", "scalar", "alias", "tensor"])
        good = self.values(shape, t.dtype, span)
        if mode == "list":
            return good.tolist(), good.size > 0     # NOTE: [] cannot say it is (0, 4)
        if mode == "view" and good.ndim:
            odd = [np.asfortranarray(good), np.broadcast_to(good, good.shape),
                   np.repeat(good, 2, axis=-1)[..., ::2]]
            return odd[rng.integers(0, 3)], True
        if mode in ("valid", "view"):
            return good, True
        if mode == "out_of_range":
            return good + np.asarray(rng.choice([-100, 100, 2**20])).astype(good.dtype), False
        if mode == "dtype":
            dtype = rng.choice(DTYPES)
            return (good.astype(dtype) if dtype not in ("object", "<U3")
                    else np.array(good.tolist() if good.ndim else [good.item()], dtype)), False
        if mode == "shape":
            wrong = list(shape) + [1] if rng.random() < 0.5 or not shape else \
                [s + int(rng.integers(1, 3)) for s in shape]
            return self.values(tuple(wrong), t.dtype), False
        if mode == "weird_list":
            return WEIRD_LISTS[rng.integers(0, len(WEIRD_LISTS))], False
        if mode == "scalar":
            return SCALARS[rng.integers(0, len(SCALARS))], False
        if mode == "alias":
            value = self.variables[rng.integers(0, len(self.variables))].value
            return (value.T if rng.random() < 0.3 else value), False
        return gc.constant(good), False


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def fuzz(seed: int, cases: int, backend: str) -> tuple[Counter, list[str]]:
    """Run `cases` random calls; the outcome counts and a description of every broken rule."""
    rng = np.random.default_rng(seed)
    targets = [make(rng, backend) for make in (linear_softmax, alias, gather, named_dims)]
    variables = [v for t in targets for v in t.updated]
    initial = {v.name: v.value.copy() for v in variables}
    maker, counts, broken = FeedMaker(rng, variables), Counter(), []
    for case in range(cases):
        for v in variables:
            v.value = initial[v.name]
        target = targets[rng.integers(0, len(targets))]
        n = int(rng.choice([0, 1, 2, 3, 7]))
        made = [maker.feed(t, n, target.index_ranges.get(i)) for i, t in enumerate(target.inputs)]
        feeds, valid = [f for f, _ in made], all(ok for _, ok in made)
        if rng.random() < 0.03:
            feeds, valid = feeds[:-1] if rng.random() < 0.5 else feeds + [np.ones(1)], False
        kept = [f.copy() for f in feeds if isinstance(f, np.ndarray)]
        before = {v.name: v.value.copy() for v in variables}
        what = f"case {case} ({target.name}, feeds {[_short(f) for f in feeds]})"
        try:
            outs = target.fn(*feeds)
        except gc.GraphcError as exc:
            counts["GraphcError"] += 1
            counts[type(exc).__name__] += 1
            if valid:
                broken.append(f"{what}: a valid feed was refused: {exc}")
            if not all(same(v.value, before[v.name]) for v in variables):
                broken.append(f"{what}: a failed call changed a variable")
        except Exception as exc:     # NOTE: what the test exists to catch
            counts["other"] += 1
            broken.append(f"{what}: {type(exc).__name__}: {exc}")
        else:
            counts["ok"] += 1
            outs = outs if isinstance(outs, list) else [outs]
            broken += [f"{what}: {problem}" for problem in
                       _check_success(target, feeds, outs, before, variables)]
        if not all(same(f, k) for f, k in zip([f for f in feeds if isinstance(f, np.ndarray)],
                                               kept)):
            broken.append(f"{what}: a feed was written")
    counts["cases"] = cases
    for v in variables:
        v.value = initial[v.name]
    return counts, broken


def _check_success(target: Target, feeds, outs, before, variables) -> list[str]:
    """What is wrong with a successful call: aliasing, untouched variables, wrong values."""
    problems = []
    arrays = [v.value for v in variables] + [f for f in feeds if isinstance(f, np.ndarray)]
    if any(np.shares_memory(o, a) for o in outs for a in arrays):
        problems.append("an output shares memory with a variable or a feed")
    updated = {v.name for v in target.updated}
    if not all(same(v.value, before[v.name]) for v in variables if v.name not in updated):
        problems.append("a variable it does not update changed")
    converted = [np.asarray(f).astype(t.dtype) for f, t in zip(feeds, target.inputs)]
    if any(c.dtype.kind == "f" and not np.isfinite(c).all() for c in converted) or \
            any(c.size == 0 for c in converted):
        return problems       # NOTE: NaN and empty batches follow NumPy, but not bit for bit
    want_outs, want_news = target.reference(converted, before)
    got = outs + [v.value for v in target.updated]
    for g, w in zip(got, list(want_outs) + list(want_news)):
        if not np.allclose(g, w, rtol=1e-4, atol=1e-5, equal_nan=True):
            problems.append(f"got {g!r}, NumPy gives {w!r}")
    return problems


def _short(feed) -> str:
    if isinstance(feed, np.ndarray):
        return f"{feed.dtype}{list(feed.shape)}"
    return repr(feed)[:40]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")    # NaN and inf feeds, by design
def test_feed_fuzz(backend) -> None:
    counts, broken = fuzz(seed=0, cases=3000, backend=backend)
    print(f"feed fuzz: {dict(counts)}")
    assert broken == [], "\n".join(broken[:20])
    assert counts["other"] == 0
    assert counts["ok"] > 300 and counts["GraphcError"] > 1000   # both paths were exercised
    assert counts["ok"] + counts["GraphcError"] == counts["cases"]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("seed", range(1, 11))
def test_feed_fuzz_long(seed, backend) -> None:
    counts, broken = fuzz(seed=seed, cases=10_000, backend=backend)
    print(f"feed fuzz seed {seed}: {dict(counts)}")
    assert broken == [], "\n".join(broken[:20])
    assert counts["other"] == 0
