"""gc.compile's native fast path: a graph seen before (in this process or on disk) is neither
optimized nor planned nor compiled again, and behaves exactly as the build did: results,
variable updates, feed errors and run-time errors. Bad records fall back to building."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from backends.llvm import cache, jit

ROOT = Path(__file__).resolve().parents[1]

# A new process: compile the model, run it on good and bad feeds, report everything. With
# argv[1] == "forbid", optimizing or planning any graph raises.
CHILD = """
import dataclasses, json, sys
import graphc, backends.llvm.lower
from backends.llvm import cache, jit
from tests.test_llvm_graph_cache import build_model, run_model
if sys.argv[1] == "forbid":
    def refuse(*args, **kwargs):
        raise AssertionError("a cache hit optimized or planned a graph")
    graphc.passes.optimize = refuse
    backends.llvm.lower.Plan.__post_init__ = refuse
step, variables = build_model()
report = run_model(step, variables)
print(json.dumps({**report, "compilations": jit.compile_count(),
                  **dataclasses.asdict(cache.stats())}))
"""


def build_model():
    """A training step: anonymous batch dims that must agree, a label gather, two updates."""
    x = gc.placeholder((None, 3), "float32", name="x")
    labels = gc.placeholder((None,), "int64", name="labels")
    rng = np.random.default_rng(0)
    W = gc.variable(rng.standard_normal((3, 4)).astype(np.float32), name="W")
    b = gc.variable(np.zeros(4, np.float32), name="b")
    logits = gc.tanh(x @ W + b) * 2.0
    loss = gc.mean(gc.losses.cross_entropy(logits, labels))
    step = gc.compile([x, labels], [loss, logits], updates=gc.optim.SGD(0.5).updates(loss, [W, b]),
                      backend="llvm")
    return step, [W, b]


def anonymous(report: dict) -> dict:
    """report with the anonymous dims in its messages unnamed: each build of the model makes
    new ones (?3 the first time, ?7 the next)."""
    return {**report, "errors": [re.sub(r"\?\d+", "?", e) for e in report["errors"]]}


def input_symbols(step) -> set[str]:
    return {d for t in step.interface.inputs for d in t.shape if isinstance(d, str)}


def run_model(step, variables) -> dict:
    """Two steps' results and variables, then the messages of a feed error and a bad label."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    report: dict = {"results": []}
    for labels in ([0, 1, 2, 3, 0], [3, 3, 1, 0, 2]):
        loss, logits = step(x, np.array(labels))
        report["results"].append([float(loss), logits.tolist()])
    report["variables"] = [v.value.tolist() for v in variables]
    for feeds in ((x, np.array([0, 1])), (x, np.array([0, 1, 2, 9, 0]))):
        try:
            step(*feeds)
        except gc.GraphcError as exc:
            report.setdefault("errors", []).append(f"{type(exc).__name__}: {exc}")
    return report


def child(mode: str, directory: Path) -> dict:
    process = subprocess.run([sys.executable, "-c", CHILD, mode], cwd=ROOT, capture_output=True,
                             text=True, timeout=300,
                             env={**os.environ, "GRAPHC_CACHE_DIR": str(directory)})
    assert process.returncode == 0, process.stderr
    return json.loads(process.stdout.strip().splitlines()[-1])


def counts(before: cache.CacheStats) -> dict:
    after = cache.stats()
    return {k: getattr(after, k) - getattr(before, k) for k in
            ("builds", "memory_hits", "disk_hits", "graph_hits", "disk_rejected")}


def forbid_lowering(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a cache hit optimized or planned a graph")
    monkeypatch.setattr(gc.passes, "optimize", refuse)
    monkeypatch.setattr("backends.llvm.lower.Plan.__post_init__", refuse)


def test_a_new_process_neither_optimizes_nor_compiles_and_behaves_alike(cache_dir: Path) -> None:
    # NOTE: two pieces of object code: the graph's, and the generated GEMM's kernels its
    # product calls (backends/llvm/gemm.py), built once per process or read from the cache
    cold = child("allow", cache_dir)
    assert (cold["builds"], cold["graph_hits"]) == (2, 0)
    warm = child("forbid", cache_dir)
    assert warm["compilations"] == 0
    assert (warm["builds"], warm["disk_hits"], warm["graph_hits"], warm["memory_hits"],
            warm["disk_rejected"]) == (0, 2, 1, 0, 0)
    assert len(cold["errors"]) == 2 and "FeedError" in cold["errors"][0]
    assert "IndexRangeError" in cold["errors"][1]
    for key in ("results", "variables", "errors"):
        assert warm[key] == cold[key], key


def test_the_same_graph_built_again_is_a_memory_hit(cache_dir: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    step, variables = build_model()
    built = run_model(step, variables)
    before, compilations = cache.stats(), jit.compile_count()
    with monkeypatch.context() as patched:
        forbid_lowering(patched)
        again, others = build_model()
        hit = run_model(again, others)
    assert counts(before) == {"builds": 0, "memory_hits": 1, "disk_hits": 0, "graph_hits": 1,
                              "disk_rejected": 0}
    assert jit.compile_count() == compilations and anonymous(hit) == anonymous(built)
    # the lowered graph and its plan are there for inspection, made on request
    assert any(n.op == "fused" for n in again.graph.nodes) and again.plan.steps
    assert "define" in again.llvm_ir(optimized=False)


def test_anonymous_dims_are_the_new_graphs_own(cache_dir: Path) -> None:
    """Each build names its None dims afresh (?7 where the first had ?3): a hit reads the
    record's dims in terms of the new graph's symbols."""
    step, variables = build_model()
    built = run_model(step, variables)
    for _ in range(5):
        gc.placeholder((None, None), "float32")
    before = cache.stats()
    again, others = build_model()
    assert counts(before)["graph_hits"] == 1
    hit = run_model(again, others)
    assert anonymous(hit) == anonymous(built)
    # the errors are the build's: a feed error, and the interpreter's for a bad label (the
    # value, its position, the axis), which a hit names without optimizing the graph
    assert hit["errors"] == built["errors"]
    assert "index 9 at position (3, 0) is out of range" in hit["errors"][1]
    assert again(np.ones((2, 3), np.float32), np.array([1, 2]))[1].shape == (2, 4)


def _graph_record(directory: Path) -> Path:
    """The one cache entry holding a graph record (JSON) rather than object code."""
    found = []
    for path in directory.glob("*.gco"):
        payload = path.read_bytes()[cache.HEADER.size:]
        if payload.startswith(b"{"):
            found.append(path)
    assert len(found) == 1, found
    return found[0]


def _rewrite_record(path: Path, change) -> None:
    record = json.loads(path.read_bytes()[cache.HEADER.size:])
    change(record)
    cache.write_entry(path, path.stem, json.dumps(record).encode())


def flip_last_byte(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))


@pytest.mark.parametrize("damage, expected", [
    # a damaged record: the graph is optimized again and its code found on disk
    (flip_last_byte, {"builds": 0, "disk_hits": 1, "graph_hits": 0, "disk_rejected": 1}),
    # a record that checks out but does not fit the graph (a variable it does not have)
    (lambda p: _rewrite_record(p, lambda r: r["data"]["variables"].append(99)),
     {"builds": 0, "disk_hits": 1, "graph_hits": 0, "disk_rejected": 1}),
    (lambda p: _rewrite_record(p, lambda r: r.update(data={"outputs": "?"})),
     {"builds": 0, "disk_hits": 1, "graph_hits": 0, "disk_rejected": 1}),
    # variables in another order than the graph's own types allow
    (lambda p: _rewrite_record(p, lambda r: r["data"]["variables"].reverse()),
     {"builds": 0, "disk_hits": 1, "graph_hits": 0, "disk_rejected": 1}),
    # assumptions no feed could satisfy (the record of another graph)
    (lambda p: _rewrite_record(p, lambda r: r["data"]["assumptions"].append(
        ["equal", 3, 4, "add", None])),
     {"builds": 0, "disk_hits": 1, "graph_hits": 0, "disk_rejected": 1}),
    # a record of code that is gone: the code is built again
    (lambda p: [q.unlink() for q in p.parent.glob("*.gco") if q != p],
     {"builds": 1, "disk_hits": 0, "graph_hits": 0, "disk_rejected": 0}),
    (lambda p: _rewrite_record(p, lambda r: r.update(code="ab" * 32)),
     {"builds": 0, "disk_hits": 1, "graph_hits": 0, "disk_rejected": 0}),
])
def test_bad_records_fall_back_to_building(cache_dir: Path, damage, expected) -> None:
    step, variables = build_model()
    built = run_model(step, variables)
    cache.clear_memory()
    damage(_graph_record(cache_dir))
    before = cache.stats()
    again, others = build_model()
    assert {k: v for k, v in counts(before).items() if k != "memory_hits"} == expected
    assert anonymous(run_model(again, others)) == anonymous(built)
    cache.clear_memory()
    before = cache.stats()
    build_model()           # the record was written afresh
    assert counts(before)["graph_hits"] == 1


def test_records_are_per_pipeline(cache_dir: Path) -> None:
    x = gc.placeholder((None,), "float32", name="x")
    y = gc.exp(x) * 1.0
    before = cache.stats()
    optimized = gc.compile([x], y, backend="llvm")
    plain = gc.compile([x], y, backend="llvm", optimize=False)
    assert counts(before)["graph_hits"] == 0
    assert len(plain.graph.nodes) > len(optimized.graph.nodes)
    np.testing.assert_array_equal(plain(np.arange(4, dtype=np.float32)),
                                  optimized(np.arange(4, dtype=np.float32)))


def test_the_python_call_path_reads_the_same_interface(cache_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the native call path cannot be emitted, the Python one (callpath.py) is made
    from the interface too: built and from a record, it behaves as the native one."""
    native = anonymous(run_model(*build_model()))
    monkeypatch.setattr("backends.llvm.native_call.available", lambda: False)
    step, variables = build_model()
    assert step.source is not None and "def run(" in step.source
    built = anonymous(run_model(step, variables))
    cache.clear_memory()
    before = cache.stats()
    again, others = build_model()
    assert counts(before)["graph_hits"] == 1 and again.source is not None
    assert anonymous(run_model(again, others)) == built == native
