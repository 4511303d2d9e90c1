"""Malformed files raise gc.GraphcError and nothing else: a seeded mutation corpus.

Text IR and .npz archives of small saved graphs are damaged in the ways of
tests/file_mutations.py and loaded. Each case ends in one of three ways: a GraphcError, a
graph (the mutation kept the file valid, or made another valid file: it must then print and
read back to the same text, and its arrays must be storable), or anything else, which fails
the test. The default run tries 5,000 cases; `pytest -m slow` tries 60,000 more.
"""
from __future__ import annotations

import random
import sys
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from frontends.files import member_name_problem
from graphc.printing import stored_arrays
from tests.file_mutations import archive_mutation, mutate_text, seed_files


@dataclass
class Tally:
    tried: int = 0
    errors: int = 0             # a gc.GraphcError: what every malformed file must give
    accepted: int = 0           # a valid file (checked to round-trip)
    other: list = field(default_factory=list)      # (category, exception, input): must be none
    by_category: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        return (f"{self.tried} cases: {self.errors} GraphcError, {self.accepted} accepted "
                f"(valid after mutation, round-trip checked), {len(self.other)} other")


def check_accepted(graph: gc.Graph) -> None:
    """A file the parser accepted is a proper graph: it prints, reads back, and can be saved."""
    text = str(graph)
    text.encode("utf-8")
    assert str(gc.parse(text, stored_arrays(graph))) == text
    for key in stored_arrays(graph):
        assert member_name_problem(key) is None, key


def attempt(tally: Tally, category: str, load, shown) -> None:
    tally.tried += 1
    tally.by_category[category] += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")     # a RuntimeWarning (overflow) is a silent change
            graph = load()
    except gc.GraphcError:
        tally.errors += 1
        return
    except BaseException as exc:             # noqa: BLE001 (the point: nothing else escapes)
        tally.other.append((category, f"{type(exc).__name__}: {exc}"[:300], shown))
        return
    try:
        check_accepted(graph)
        tally.accepted += 1
    except BaseException as exc:             # noqa: BLE001
        tally.other.append((category + " (accepted, no round trip)",
                            f"{type(exc).__name__}: {exc}"[:300], shown))


def fuzz(text_cases: int, archive_cases: int, seed: int, folder: Path) -> Tally:
    rng = random.Random(seed)
    seeds = list(seed_files().values())
    tally = Tally()
    for _ in range(text_cases):
        text, arrays = rng.choice(seeds)
        damaged, category = mutate_text(rng, text)
        given = arrays if rng.random() < 0.5 else None
        attempt(tally, category, lambda: gc.parse(damaged, given), damaged)
    for n in range(archive_cases):
        text, arrays = rng.choice(seeds)
        blob, category = archive_mutation(rng, arrays)
        path = folder / f"case{n % 8}.gcir"
        path.write_text(text, encoding="utf-8")
        Path(str(path) + ".npz").write_bytes(blob)
        attempt(tally, "npz:" + category, lambda: gc.load(path), blob[:200])
    return tally


def report(tally: Tally) -> str:
    lines = [tally.summary()]
    lines += [f"  {cat}: {exc}\n    input: {shown!r:.300}" for cat, exc, shown in tally.other[:12]]
    return "\n".join(lines)


def test_malformed_files_raise_only_graphc_errors(tmp_path: Path) -> None:
    tally = fuzz(text_cases=4000, archive_cases=1000, seed=11, folder=tmp_path)
    print("\nfile fuzz:", tally.summary(), file=sys.stderr)
    assert tally.tried == 5000 and not tally.other, report(tally)
    assert tally.errors > 0.8 * tally.tried, "most mutations must break the file"
    assert len(tally.by_category) > 40, sorted(tally.by_category)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6))
def test_malformed_files_raise_only_graphc_errors_at_length(tmp_path: Path, seed: int) -> None:
    tally = fuzz(text_cases=8000, archive_cases=2000, seed=1000 + seed, folder=tmp_path)
    print(f"\nfile fuzz (seed {1000 + seed}):", tally.summary(), file=sys.stderr)
    assert not tally.other, report(tally)


def test_seed_files_are_valid() -> None:
    """The corpus starts from files that load (so the errors come from the mutations)."""
    for text, arrays in seed_files().values():
        graph = gc.parse(text, arrays)
        check_accepted(graph)
        assert np.all([np.array_equal(v.value, arrays[v.name]) for v in graph.variables])
