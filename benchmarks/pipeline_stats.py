"""`python -m benchmarks.pipeline_stats`: what the pipeline does to the example training steps.

For the digits MLP, LeNet and the LSTM training steps (forward + backward + update), prints
the nodes and elementwise kernels (unfused elementwise nodes plus fused groups, what a native
backend runs as loops) of the step as built, after the default pipeline and after the default
pipeline followed by fusion, and the fusion groups by kind (scan bodies included). Scan bodies
run once per step of their loop, so their kernels are counted apart ("per loop step", summed
over the scans). The fused step is run against the step as built, to show it computes the
same thing.
"""
from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

import graphc as gc
from benchmarks.training_steps import MODELS
from graphc.compile import BACKEND_PASSES
from graphc.passes.manager import elementwise_kernels


def _scan_bodies(graph: gc.Graph) -> list[gc.Graph]:
    return [body for n in graph.nodes if n.op == "scan" for body in [n.attrs["body"]]]


def _loop_kernels(graph: gc.Graph) -> int:
    return sum(elementwise_kernels(b) + _loop_kernels(b) for b in _scan_bodies(graph))


def _groups(graph: gc.Graph) -> Counter:
    found = Counter(n.attrs["kind"] for n in graph.nodes if n.op == "fused")
    for body in _scan_bodies(graph):
        found.update(_groups(body))
    return found


def _run(graph: gc.Graph, feeds: list[np.ndarray]) -> list[np.ndarray]:
    """The outputs and new variable values of one step, variables left as they were."""
    saved = [v.value.copy() for v in graph.variables]
    outputs = gc.compile(graph, optimize=False)(*feeds)
    new = [v.value.copy() for v in graph.variables]
    for v, value in zip(graph.variables, saved):
        v.value = value
    return outputs + new


def stats(name: str) -> dict:
    graph, feeds = MODELS[name]()
    default, _ = gc.optimize(graph)
    fused, _ = gc.optimize(default, BACKEND_PASSES["llvm"])
    same = all(np.allclose(a, b, rtol=1e-4, atol=1e-6)
               for a, b in zip(_run(graph, feeds), _run(fused, feeds)))
    stages = (graph, default, fused)
    return {"model": name, "nodes": [len(g.nodes) for g in stages],
            "kernels": [elementwise_kernels(g) for g in stages],
            "loop_kernels": [_loop_kernels(g) for g in stages],
            "groups": _groups(fused), "same_results": same}


def main() -> list[dict]:
    rows = [stats(name) for name in MODELS]
    table = [("model", "nodes", "elementwise kernels", "per loop step", "fusion groups",
              "results")]
    for r in rows:
        groups = r["groups"]
        kinds = ", ".join(f"{groups[k]} {k}" for k in ("elementwise", "epilogue", "prologue"))
        table.append((r["model"], *(" -> ".join(map(str, r[k]))
                                    for k in ("nodes", "kernels", "loop_kernels")),
                      f"{sum(groups.values())} ({kinds})",
                      "same" if r["same_results"] else "DIFFERENT"))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    print("training steps: as built -> default pipeline -> + the native backend's splits, fusion")
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return rows


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    main()
