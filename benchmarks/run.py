"""`python -m benchmarks.run`: the machine's limits, every workload, W2's compile time, side by
side with NumPy by hand, PyTorch and JAX; writes benchmarks/results/latest.json.

Select with `--only W4` (repeatable; "compile" selects the compile-time records). The machine
is shared and noisy: compare the ratios within one run, not medians across runs. `--threads 1`
runs everything on one core, which keeps thread pools from spinning against a loaded machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from benchmarks import (  # noqa: F401  (registers the workloads, in order)
    compile_time,
    harness,
    limits,
    report,
    targets,
    w1_xor_mlp,
    w2_mlp,
    w3_lenet,
    w4_elementwise,
    w5_gemm,
    w6_mlp_forward,
    w7_lstm,
)

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"
COMPILE = "compile"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
PINNED = "GRAPHC_BENCH_THREADS"


def run_on_cores(n: int, argv: list[str]) -> None:
    """Run this command again on the first n CPUs, with every thread pool sized to n.

    NOTE: BLAS and OpenMP size their pools when loaded, long before the flags are parsed, so
    the process starts over; torch and XLA size theirs from the CPU affinity it inherits.
    """
    if os.environ.get(PINNED) == str(n):
        return
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:n])
    env = os.environ | {v: str(n) for v in THREAD_VARIABLES} | {PINNED: str(n)}
    os.execve(sys.executable, [sys.executable, "-m", "benchmarks.run", *argv], env)


def main(argv: list[str] | None = None) -> int:
    """Parse flags, measure, print the tables and write the JSON."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="3 short repeats, one compile of each kind (a smoke test)")
    ap.add_argument("--only", action="append", metavar="W",
                    help=f'only this workload, by tag ("W1") or name, or "{COMPILE}"; repeatable')
    ap.add_argument("--repeats", type=int, help="timed repeats per implementation")
    ap.add_argument("--threads", type=int, metavar="N",
                    help="run every implementation on N cores (default: all)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON")
    args = ap.parse_args(argv)
    if args.threads:
        run_on_cores(args.threads, sys.argv[1:] if argv is None else argv)

    wanted = args.only or []
    names = [s for s in wanted if s.lower() != COMPILE]
    if unknown := [s for s in names if not harness.select([s])]:
        ap.error(f"no workload matches {unknown}; known: {', '.join(harness.WORKLOADS)}, {COMPILE}")
    workloads = harness.select(names) if names or not wanted else []
    with_compile = len(names) < len(wanted) or not wanted
    repeats = args.repeats or (3 if args.quick else 11)
    target_s = 0.02 if args.quick else 0.1

    machine = limits.machine()
    measured_limits = limits.measure(args.quick)
    report.machine(machine, measured_limits)
    records: list[dict] = []
    if workloads:
        print(f"median of {repeats} interleaved repeats; ratios to the fastest peer "
              f"({', '.join(harness.PEERS)}) in this run\n")
        report.workload_header()
    for w in workloads:
        rows = harness.measure(w, repeats, target_s)
        targets.attach(rows, measured_limits)
        report.workload_rows(rows)
        records += rows
    if with_compile:
        rows = compile_time.measure(args.quick)
        targets.attach(rows, measured_limits)
        report.compile_rows(rows)
        records += rows
    report.descriptions(workloads)
    machine["loadavg_1m_at_end"] = os.getloadavg()[0]
    print(f"\nload average {machine['loadavg_1m_at_end']:.2f} (1 min) at the end; the machine "
          "is shared: trust ratios within this run, not absolute times")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": machine, "limits": measured_limits,
                                    "repeats": repeats, "records": records}, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
