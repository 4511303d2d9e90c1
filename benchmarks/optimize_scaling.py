"""`python -m benchmarks.optimize_scaling`: what gc.optimize costs per node as graphs grow.

Training steps of MLPs with 10, 100 and 1000 dense ReLU layers (softmax cross-entropy, SGD)
go through the default pipeline and then fusion. Printed: nodes, CPU seconds (process time:
the machine is shared, wall time is not the program's) and microseconds per node, for the
whole and for each pass (all its rounds together; per-pass times are the report's wall-clock
ones, scaled to the CPU total). Cost growing at most linearly in nodes shows as a flat
microseconds-per-node column.
"""
from __future__ import annotations

import argparse
import time
from collections import defaultdict

import graphc as gc
from benchmarks.training_steps import deep_mlp
from graphc.compile import BACKEND_PASSES


def measure(layers: int) -> dict:
    graph, _ = deep_mlp(layers)
    start = time.process_time()
    optimized, report = gc.optimize(graph)
    _, fusion_report = gc.optimize(optimized, BACKEND_PASSES["llvm"])
    cpu = time.process_time() - start
    wall: dict[str, float] = defaultdict(float)
    for run in report.passes + fusion_report.passes:
        wall[run.name.split(" ")[0]] += run.seconds
    scale = cpu / sum(wall.values())
    return {"layers": layers, "nodes": len(graph.nodes), "cpu": cpu,
            "passes": {name: seconds * scale for name, seconds in wall.items()}}


def main(depths: list[int]) -> list[dict]:
    rows = [measure(n) for n in depths]
    names = list(rows[0]["passes"])
    print("gc.optimize (default pipeline, then fusion) on MLP training steps; us per node")
    print(f"{'layers':>6} {'nodes':>6} {'cpu s':>7} {'total':>6}  "
          + " ".join(f"{n:>9}" for n in names))
    for r in rows:
        per_node = 1e6 / r["nodes"]
        print(f"{r['layers']:>6} {r['nodes']:>6} {r['cpu']:>7.2f} {r['cpu'] * per_node:>6.0f}  "
              + " ".join(f"{r['passes'][n] * per_node:>9.0f}" for n in names))
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, nargs="+", default=[10, 100, 1000])
    main(ap.parse_args().layers)
