"""The printed tables: times, ratios to the fastest peer, throughput and the issue's targets."""

from __future__ import annotations

from benchmarks.targets import Verdict

ROW = "{:<15} {:<17} {:>10} {:>13} {:>13}  {}"
COMPILE_ROW = "{:<13} {:<18} {:>9} {:>9}  {}"


def seconds(value: float | None) -> str:
    """µs below a millisecond, ms below a second, else s."""
    if value is None:
        return "-"
    if value < 1e-3:
        return f"{value * 1e6:.1f} µs"
    return f"{value * 1e3:.2f} ms" if value < 1 else f"{value:.3f} s"


def target_text(record: dict) -> str:
    """"target <clauses>: <verdict>" with each clause's own verdict, or "" when untargeted."""
    target = record.get("target")
    if not target:
        return ""
    clauses = "; ".join(str(Verdict(**c)) for c in target["clauses"])
    return f"target {target['verdict'].upper()} ({clauses})"


def machine(info: dict, limits: dict[str, float]) -> None:
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v)
    used = "" if info["cores_used"] == info["cores"] else f" ({info['cores_used']} used)"
    print(f"{info['cpu']}, {info['cores']} cores{used}, load average "
          f"{info['loadavg_1m_at_start']:.2f} (1 min) at start\n"
          f"python {info['python']}, {versions}")
    sgemm = ", ".join(f"{limits[f'sgemm_gflops_{n}']:.0f} at {n}^3" for n in (1024, 2048))
    print(f"limits: copy bandwidth {limits['copy_gbps']:.1f} GB/s (read + write, np.copyto "
          f"256 MB); sgemm {limits['sgemm_gflops']:.0f} GFLOP/s (numpy float32: {sgemm})\n")


def workload_header() -> None:
    print(ROW.format("workload", "impl", "median", "vs best peer", "throughput", ""))


def workload_rows(records: list[dict]) -> None:
    """One line per implementation; an untimed one says why (and, if targeted, that it missed)."""
    for r in records:
        if r["median_s"] is None:
            print(ROW.format(r["workload"], r["impl"], r["status"], "", "", r["reason"]))
            if r.get("target"):
                print(" " * 16 + target_text(r))
            continue
        throughput = (f"{r['gflops']:.1f} GFLOP/s" if "gflops" in r
                      else f"{r['gbps']:.2f} GB/s" if "gbps" in r else "")
        ratio = f"{r['ratio_vs_best_peer']:.2f}x {r['best_peer']}"
        print(ROW.format(r["workload"], r["impl"], seconds(r["median_s"]), ratio, throughput,
                         target_text(r)), flush=True)


def compile_rows(records: list[dict]) -> None:
    print(f"\n{records[0]['workload']}: graph = DSL + gc.grad, compile = gc.compile "
          "(jax: its first call: trace, grad, XLA, one step)")
    print(COMPILE_ROW.format("impl", "phase", "graph", "compile", ""))
    for r in records:
        if r["median_s"] is None:
            print(COMPILE_ROW.format(r["impl"], r["phase"], "", r["status"], r["reason"]))
            if r.get("target"):
                print(" " * 14 + target_text(r))
            continue
        print(COMPILE_ROW.format(r["impl"], r["phase"], seconds(r.get("graph_s")),
                                 seconds(r["median_s"]), target_text(r)))


def descriptions(workloads: list) -> None:
    print()
    for w in workloads:
        print(f"{w.name:<15} {w.description}" + (f", batch {w.batch}" if w.batch else ""))
