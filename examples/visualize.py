"""See a model: a digits MLP drawn with Graphviz, before and after autodiff and optimization.

Builds a 64-32-10 MLP for scikit-learn's 8x8 digits and writes to examples/out/:
  mlp_forward.svg    the forward graph: inputs, variables, ops coloured by kind, name scopes
  mlp_training.svg   the training step: the loss, its gradients (marked, drawn beside the
                     forward nodes they came from) and the SGD updates of the variables
  mlp_optimized.svg  the training step after gc.passes.optimize
  mlp_diff.svg       before and after optimization side by side, removed and added nodes marked
  mlp_training.gcir  the training step as text IR (+ .npz parameters), for `graphc show/render`
Without Graphviz's `dot` program (apt-get install graphviz) it writes .dot files instead.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

import graphc as gc

OUT = Path(__file__).resolve().parent / "out"
SIZES = (64, 32, 10)
LR = 0.1


def build(seed: int = 0) -> dict[str, gc.Graph]:
    """The MLP's forward graph, its training step and the optimized training step."""
    rng = np.random.default_rng(seed)
    x = gc.placeholder((None, SIZES[0]), "float32", name="x")
    y = gc.placeholder((None,), "int64", name="y")
    params, h = [], x
    for i, (fan_in, fan_out) in enumerate(zip(SIZES, SIZES[1:]), start=1):
        with gc.scope(f"dense{i}"):
            w = rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)   # He init
            W = gc.variable(w.astype(np.float32), name=f"W{i}")
            b = gc.variable(np.zeros(fan_out, np.float32), name=f"b{i}")
            h = h @ W + b
            if i < len(SIZES) - 1:
                h = gc.relu(h)
        params += [W, b]
    with gc.scope("loss"):
        loss = gc.mean(gc.losses.cross_entropy(h, y))
    grads = gc.grad(loss, params)
    training = gc.Graph([x, y], [loss], [(p, p - LR * g) for p, g in zip(params, grads)])
    return {"forward": gc.Graph([x], [h]), "training": training,
            "optimized": gc.optimize(training)[0]}


def main(out_dir: Path = OUT, seed: int = 0) -> dict[str, Path]:
    """Write the pictures (and the saved training graph); return their paths by name."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ext = ".svg" if shutil.which("dot") else ".dot"
    if ext == ".dot":
        print("Graphviz's `dot` is not installed (apt-get install graphviz): writing .dot files")
    graphs = build(seed)
    paths = {
        "forward": gc.render(graphs["forward"], out_dir / f"mlp_forward{ext}"),
        "training": gc.render(graphs["training"], out_dir / f"mlp_training{ext}",
                              grads_beside=True),
        "optimized": gc.render(graphs["optimized"], out_dir / f"mlp_optimized{ext}"),
        "diff": gc.render_diff(graphs["training"], graphs["optimized"],
                               out_dir / f"mlp_diff{ext}"),
        "ir": gc.save(graphs["training"], out_dir / "mlp_training.gcir"),
    }
    for name, graph in graphs.items():
        print(f"{name:>9}: {len(graph.nodes):3d} nodes")
    for path in paths.values():
        print(f"wrote {path}")
    print(f"\nnext: .venv/bin/graphc render {paths['ir']} --collapse 1")
    return paths


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    main(args.out, args.seed)
