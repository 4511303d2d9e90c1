"""`python -m benchmarks.llvm_scan`: scanned recurrent layers' training steps, natively, with
the loop run over the whole batch against the loop run on pieces of it (backends/llvm/pieces.py);
with --unrolled, unrolled layers' steps without row groups against with them.

Each row compiles one step (loss and the gradients of every weight) of gc.nn.LSTM, GRU or
SimpleRNN over (batch, 32, 64) with hidden size 128 twice: scanned, once as it is, once with
MAX_PIECES = 1 (one piece: the whole batch, as before pieces); unrolled, once without the
row_groups pass (each kernel on its own, on the team when big) and once with it (regions of
kernels run on pieces of the batch: graphc/passes/row_groups.py). The disk cache is off so
each is generated. Both run on the team, taking turns within each repeat (the machine is
shared and noisy: read the ratios, not the times).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import graphc as gc
from backends.llvm import cache, pieces
from graphc.compile import BACKEND_PASSES

LAYERS = {"LSTM": gc.nn.LSTM, "GRU": gc.nn.GRU, "SimpleRNN": gc.nn.SimpleRNN}
STEPS, INPUT, HIDDEN = 32, 64, 128


def step(layer: str, most: int, unroll: bool = False, groups: bool = True):
    """The compiled step (loss and gradients) of `layer`, with at most `most` pieces, with
    or without row groups."""
    passes = BACKEND_PASSES["llvm"]
    saved = pieces.MAX_PIECES, list(passes)
    pieces.MAX_PIECES = most
    passes[:] = [p for p in passes if groups or p != "row_groups"]
    try:
        cache.clear_memory()
        x = gc.placeholder((None, STEPS, INPUT), "float32", name="x")
        rnn = LAYERS[layer](INPUT, HIDDEN, unroll=unroll, seed=0)
        loss = gc.mean(rnn(x) ** 2)
        return gc.compile([x], [loss, *gc.grad(loss, rnn.trainable_variables)], backend="llvm")
    finally:
        pieces.MAX_PIECES, passes[:] = saved


def timed(fn, data: np.ndarray, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn(data)
    return (time.perf_counter() - started) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batches", type=int, nargs="+", default=[16, 32, 128])
    parser.add_argument("--layers", nargs="+", default=list(LAYERS), choices=list(LAYERS))
    parser.add_argument("--unrolled", action="store_true",
                        help="unrolled layers without row groups against with them")
    args = parser.parse_args()
    os.environ["GRAPHC_CACHE_DIR"] = "off"      # (MAX_PIECES is not in the cache's key)
    rng = np.random.default_rng(0)
    heads = ("no groups", "groups") if args.unrolled else ("whole batch", "pieces")
    print(f"{'layer':10} {'batch':>5} {heads[0]:>12} {heads[1]:>9} {'ratio':>6}")
    for layer in args.layers:
        if args.unrolled:
            whole = step(layer, pieces.MAX_PIECES, unroll=True, groups=False)
            in_pieces = step(layer, pieces.MAX_PIECES, unroll=True)
        else:
            whole, in_pieces = step(layer, 1), step(layer, pieces.MAX_PIECES)
        for batch in args.batches:
            data = rng.standard_normal((batch, STEPS, INPUT), dtype=np.float32)
            calls = max(5, round(0.05 / max(timed(whole, data, 3), 1e-6)))
            samples: dict[str, list[float]] = {"whole": [], "pieces": []}
            for _ in range(args.repeats):
                for name, fn in (("whole", whole), ("pieces", in_pieces)):
                    fn(data)
                    samples[name].append(timed(fn, data, calls))
            w, p = (statistics.median(samples[k]) for k in ("whole", "pieces"))
            print(f"{layer:10} {batch:5d} {w * 1e3:9.3f} ms {p * 1e3:6.3f} ms {p / w:5.2f}x")


if __name__ == "__main__":
    main()
