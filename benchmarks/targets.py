"""The targets issue 9 sets for graphc-llvm, each a bound taken from numbers of the same run.

A target is a few clauses; a clause turns one number measured in the run (a peer's median or a
machine limit) into the most seconds graphc-llvm may take. Its verdict keeps the ratio of the
measured time to that bound, so a miss says by how much.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks import w4_elementwise

TARGETED = "graphc-llvm"  # the targets bind this implementation and its variants (-scan)


@dataclass(frozen=True)
class Clause:
    """`text` holds when the time is at most bound(value of `source`) seconds."""

    text: str
    source: str | None  # an implementation or a limit of the run; None for a fixed bound
    bound: Callable[[float], float]


def at_most(seconds: float, text: str) -> Clause:
    return Clause(text, None, lambda _: seconds)


def times(impl: str, factor: float) -> Clause:
    return Clause(f"<= {factor:g}x {impl}", impl, lambda median: factor * median)


def faster_than(impl: str) -> Clause:
    return Clause(f"< {impl}", impl, lambda median: median)


def throughput_share(impl: str, fraction: float, unit: str) -> Clause:
    """At least `fraction` of `impl`'s throughput on the same work: at most its time/fraction."""
    return Clause(f">= {fraction:g}x {impl} {unit}", impl, lambda median: median / fraction)


def copy_bandwidth_share(fraction: float, bytes_moved: float) -> Clause:
    return Clause(f">= {fraction:.0%} copy bandwidth", "copy_gbps",
                  lambda gbps: bytes_moved / (fraction * gbps * 1e9))


TARGETS: dict[str, tuple[Clause, ...]] = {
    "W1": (at_most(3e-6, "<= 3 µs"),),
    "W2": (times("numpy", 0.8), faster_than("torch"), faster_than("jax")),
    "W3": (times("torch", 0.5),),
    "W4": (times("jax", 0.3), copy_bandwidth_share(0.5, w4_elementwise.BYTES)),
    "W5": (throughput_share("numpy", 0.95, "GFLOP/s"),),
    "W6": (at_most(5e-6, "<= 5 µs"),),
    "W7": (times("torch", 0.6),),
    "compile cold": (at_most(0.5, "<= 0.5 s"),),
    "compile disk, new process": (at_most(0.02, "<= 20 ms"),),
}


@dataclass(frozen=True)
class Verdict:
    """One clause judged: "met", "missed", "not measured", or "n/a" (its source is absent)."""

    text: str
    status: str
    ratio: float | None = None  # measured / bound; above 1 misses by that factor
    source: str | None = None

    def __str__(self) -> str:
        if self.status == "missed":
            return f"{self.text}: missed by {self.ratio:.2f}x"
        if self.status == "n/a":
            return f"{self.text}: n/a (no {self.source} in this run)"
        return f"{self.text}: {self.status}"


def judge(clauses: tuple[Clause, ...], median: float | None,
          known: dict[str, float]) -> list[Verdict]:
    """Each clause's verdict on `median`, its bound computed from `known` (medians, limits)."""
    verdicts = []
    for clause in clauses:
        if median is None:
            verdicts.append(Verdict(clause.text, "not measured", source=clause.source))
        elif clause.source is not None and known.get(clause.source) is None:
            verdicts.append(Verdict(clause.text, "n/a", source=clause.source))
        else:
            ratio = median / clause.bound(known.get(clause.source, 0.0))
            verdicts.append(Verdict(clause.text, "met" if ratio <= 1 else "missed", ratio,
                                    clause.source))
    return verdicts


def overall(verdicts: list[Verdict]) -> str:
    """"met" when every clause is, "missed" when one is missed or unmeasured, else "n/a"."""
    statuses = {v.status for v in verdicts}
    if statuses <= {"met"}:
        return "met"
    return "missed" if statuses & {"missed", "not measured"} else "n/a"


def target_key(record: dict) -> str | None:
    """Which target binds a record: its workload's tag, or its compile phase; None if none."""
    if not record["impl"].startswith(TARGETED):
        return None
    key = f"compile {record['phase']}" if "phase" in record else record["workload"].split("-")[0]
    return key if key in TARGETS else None


def attach(records: list[dict], limits: dict[str, float]) -> None:
    """Give every targeted record its "target": text, overall verdict and one per clause."""
    for record in records:
        key = target_key(record)
        if key is None:
            continue
        known = dict(limits) | {r["impl"]: r["median_s"] for r in records
                                if r["workload"] == record["workload"] and "phase" not in r}
        verdicts = judge(TARGETS[key], record["median_s"], known)
        record["target"] = {"text": ", ".join(c.text for c in TARGETS[key]),
                            "verdict": overall(verdicts),
                            "clauses": [dataclasses.asdict(v) for v in verdicts]}
