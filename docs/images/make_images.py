"""Draw the pictures README.md shows, with graphc's own renderer: `make docs-images`.

    fused_mlp_step.svg   a tiny MLP's training step (4 -> 8 ReLU -> 3, softmax cross-entropy,
                         SGD) after the default pipeline and fusion, as backend="llvm"
                         compiles it: each fused group a cluster, gradients dashed.

Needs Graphviz's `dot`. Source paths in the drawing are written relative to the repository, so
the files do not depend on where it was checked out.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

import graphc as gc
from backends.graphviz import write

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def tiny_mlp_step() -> gc.Graph:
    """Forward, gradients and SGD updates of a 4 -> 8 -> 3 classifier."""
    rng = np.random.default_rng(0)
    x = gc.placeholder((None, 4), "float32", name="x")
    y = gc.placeholder((None,), "int64", name="y")
    W1 = gc.variable(rng.normal(size=(4, 8)).astype("float32"), name="W1")
    b1 = gc.variable(np.zeros(8, "float32"), name="b1")
    W2 = gc.variable(rng.normal(size=(8, 3)).astype("float32"), name="W2")
    b2 = gc.variable(np.zeros(3, "float32"), name="b2")
    loss = gc.mean(gc.losses.cross_entropy(gc.relu(x @ W1 + b1) @ W2 + b2, y))
    params = [W1, b1, W2, b2]
    grads = gc.grad(loss, params)
    return gc.Graph([x, y], [loss], [(p, p - 0.1 * g) for p, g in zip(params, grads)])


def fused(graph: gc.Graph) -> gc.Graph:
    """What backend="llvm" compiles: the default pipeline, then fusion."""
    optimized, _ = gc.optimize(graph)
    return gc.optimize(optimized, ["fusion"])[0]


def draw(graph: gc.Graph, path: Path) -> Path:
    """gc.render(graph, path), with source paths relative to the repository."""
    dot = gc.to_dot(graph)
    dot.body = [line.replace(f"{ROOT}{os.sep}", "") for line in dot.body]
    return write(dot, path)


def main(out: Path = HERE) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    return [draw(fused(tiny_mlp_step()), out / "fused_mlp_step.svg")]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE, help="where to write (default: here)")
    for written in main(ap.parse_args().out):
        print(f"wrote {written}")
