"""`python -m benchmarks.run`: time every workload and write benchmarks/results/latest.json."""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

import numpy as np

from benchmarks import (  # noqa: F401  (registers them)
    harness,
    w1_xor_mlp,
    w2_mlp,
    w3_lenet,
    w7_lstm,  # noqa: F401  (W7 LSTM)
)

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"


def main(argv: list[str] | None = None) -> int:
    """Parse flags, time the selected workloads, print the table and write the JSON."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="3 short repeats (smoke test)")
    ap.add_argument("--only", action="append", metavar="W",
                    help='run only this workload, by tag ("W1") or name; repeatable')
    ap.add_argument("--repeats", type=int, help="timed repeats per implementation")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON")
    args = ap.parse_args(argv)

    workloads = harness.select(args.only)
    if not workloads:
        ap.error(f"no workload matches {args.only}; known: {', '.join(harness.WORKLOADS)}")
    repeats = args.repeats or (3 if args.quick else 11)
    target_s = 0.02 if args.quick else 0.1
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPUs; median of {repeats} repeats\n")
    records = harness.run(workloads, repeats, target_s)
    harness.write_json(records, args.out)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
