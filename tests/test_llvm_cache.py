"""The object-code cache: hits compile nothing (in this process or a new one), bad disk entries
are rebuilt, concurrent writers leave a valid entry, GRAPHC_CACHE_DIR moves or disables it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from backends.llvm import cache, jit
from tests.llvm_modules import add_module, run_add

ROOT = Path(__file__).resolve().parents[1]

# A new process: load KEY (argv[1]) from the cache, run it, report what it compiled. When
# argv[2] is given, wait until that wall-clock time first, so that two children overlap.
CHILD = """
import dataclasses, json, sys, time
from backends.llvm import cache, jit
from tests.llvm_modules import add_module, run_add
if len(sys.argv) > 2:
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
builds = []
loaded = cache.load_or_build(sys.argv[1], lambda: builds.append(1) or add_module(), ["entry"])
run_add(loaded["entry"], loaded, seed=5)
print(json.dumps({"compilations": jit.compile_count(), "builds": len(builds),
                  **dataclasses.asdict(cache.stats())}))
"""

# A writer process: write an entry of argv[1]'s digest argv[3] times, payload byte argv[2].
WRITER = """
import sys
from pathlib import Path
from backends.llvm import cache
digest, tag, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
path = cache.entry_path(digest)
for i in range(count):
    cache.write_entry(path, digest, bytes([tag]) * (50_000 + 7 * i))
"""


class Builder:
    """A `build` callable that counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return add_module()


def child(*args: str, env_dir: Path | str) -> subprocess.Popen:
    env = {**os.environ, "GRAPHC_CACHE_DIR": str(env_dir)}
    return subprocess.Popen([sys.executable, "-c", CHILD, *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def report(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def build_entry(key: str) -> Path:
    """Build `key` cold and return its disk entry's path."""
    cache.load_or_build(key, Builder(), ["entry"])
    cache.clear_memory()
    path = cache.entry_path(cache.full_key(key))
    assert path.is_file()
    return path


def test_memory_hit_neither_builds_nor_compiles(cache_dir: Path) -> None:
    build = Builder()
    first = cache.load_or_build("mem", build, ["entry"])
    compilations = jit.compile_count()
    stats = cache.stats()
    second = cache.load_or_build("mem", build, ["entry"])
    assert second is first
    assert build.calls == 1 and jit.compile_count() == compilations
    assert cache.stats().memory_hits == stats.memory_hits + 1
    run_add(second["entry"], second)


def test_object_code_outlives_its_library_in_memory(cache_dir: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHC_CACHE_DIR", "off")
    build = Builder()
    first = cache.load_or_build("unloaded", build, ["entry"])
    address = first["entry"]
    del first  # the library unloads; its object code stays in memory
    compilations = jit.compile_count()
    again = cache.load_or_build("unloaded", build, ["entry"])
    assert build.calls == 1 and jit.compile_count() == compilations
    assert isinstance(address, int)
    run_add(again["entry"], again)


def test_disk_hit_neither_builds_nor_compiles(cache_dir: Path) -> None:
    build_entry("disk")
    compilations, stats, build = jit.compile_count(), cache.stats(), Builder()
    loaded = cache.load_or_build("disk", build, ["entry"])
    assert build.calls == 0 and jit.compile_count() == compilations
    assert cache.stats().disk_hits == stats.disk_hits + 1
    run_add(loaded["entry"], loaded)


def test_new_process_loads_from_disk_without_compiling(cache_dir: Path) -> None:
    cold = report(child("process", env_dir=cache_dir))
    assert cold["builds"] == 1 and cold["compilations"] == 1
    warm = report(child("process", env_dir=cache_dir))
    assert warm["builds"] == 0 and warm["compilations"] == 0
    assert warm["disk_hits"] == 1 and warm["disk_rejected"] == 0


def test_inspection_after_a_disk_hit(cache_dir: Path) -> None:
    build_entry("inspect")
    loaded = cache.load_or_build("inspect", Builder(), ["entry"])
    assert 'define i32 @"entry"' in loaded.llvm_ir(optimized=False)
    assert " x float>" in loaded.llvm_ir()
    assert "entry:" in loaded.asm()


def flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0xFF])


def other_key(data: bytes) -> bytes:
    payload = data[cache.HEADER.size:]
    return cache.entry_bytes(cache.full_key("someone else"), payload)


def old_format(data: bytes, digest: str) -> bytes:
    return cache.entry_bytes(digest, data[cache.HEADER.size:], version=cache.FORMAT_VERSION - 1)


DAMAGE = {
    "payload bit flip": lambda data, digest: flip_last_byte(data),
    "truncated payload": lambda data, digest: data[:-100],
    "truncated header": lambda data, digest: data[:cache.HEADER.size - 1],
    "empty file": lambda data, digest: b"",
    "bad magic": lambda data, digest: b"X" + data[1:],
    "another key's entry": lambda data, digest: other_key(data),
    "older format version": old_format,
    "length field lies": lambda data, digest: data + b"\0" * 16,
}


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_damaged_entries_are_rejected_and_rebuilt(cache_dir: Path, damage) -> None:
    path = build_entry("damaged")
    digest = cache.full_key("damaged")
    path.write_bytes(damage(path.read_bytes(), digest))
    with pytest.raises(cache.CorruptEntry):
        cache.read_entry(path, digest)
    stats, build = cache.stats(), Builder()
    loaded = cache.load_or_build("damaged", build, ["entry"])
    assert build.calls == 1
    assert cache.stats().disk_rejected == stats.disk_rejected + 1
    run_add(loaded["entry"], loaded)
    assert cache.read_entry(path, digest) is not None  # the rebuild replaced the entry


def test_a_new_codegen_version_misses(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old_path = build_entry("versioned")
    monkeypatch.setattr(cache, "codegen_version", lambda: "an edited code generator")
    build = Builder()
    cache.load_or_build("versioned", build, ["entry"])
    assert build.calls == 1
    assert cache.entry_path(cache.full_key("versioned")) != old_path


def test_the_codegen_version_follows_the_sources(cache_dir: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The digest of the sources' contents, remembered in the cache directory by their sizes
    and modification times: an edit shows, a damaged memo is ignored."""
    sources = tmp_path / "generator"
    (sources / "kernels").mkdir(parents=True)
    (sources / "a.py").write_text("A = 1\n")
    (sources / "kernels" / "b.py").write_text("B = 2\n")
    monkeypatch.setattr(cache, "GENERATOR_SOURCES", (sources,))

    def edit(path: Path, text: str) -> None:
        """Write text; the file's time moves on (the clock may not have ticked yet)."""
        before = path.stat().st_mtime_ns
        path.write_text(text)
        os.utime(path, ns=(before + 10**9, before + 10**9))

    def version() -> str:
        cache.codegen_version.cache_clear()
        return cache.codegen_version()
    try:
        first = version()
        (memo,) = cache_dir.glob("codegen-*.txt")
        assert memo.read_text() == first and version() == first
        edit(sources / "kernels" / "b.py", "B = 3\n")          # the same size
        edited = version()
        assert edited != first and len(list(cache_dir.glob("codegen-*.txt"))) == 2
        for damaged in cache_dir.glob("codegen-*.txt"):
            damaged.write_text("not a digest")
        assert version() == edited
        edit(sources / "kernels" / "b.py", "B = 2\n")
        assert version() == first
    finally:
        cache.codegen_version.cache_clear()


def test_keys_depend_on_the_pipeline_and_the_callers_key() -> None:
    keys = {cache.full_key("a"), cache.full_key("b"),
            cache.full_key("a", jit.Pipeline(large_functions=True)),
            cache.full_key("a", jit.Pipeline(speed_level=2))}
    assert len(keys) == 4
    assert cache.full_key("a") == cache.full_key("a")


def test_concurrent_writer_processes_and_a_reader(cache_dir: Path) -> None:
    digest = cache.full_key("contended")
    path = cache.entry_path(digest)
    env = {**os.environ, "GRAPHC_CACHE_DIR": str(cache_dir)}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, digest, str(tag), "300"],
                                cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
               for tag in (1, 2)]
    reads = 0
    while any(w.poll() is None for w in writers):
        payload = cache.read_entry(path, digest)  # raises CorruptEntry on a partial entry
        if payload is not None:
            reads += 1
            assert payload[0] in (1, 2) and payload.count(payload[0]) == len(payload)
    for writer in writers:
        assert writer.wait() == 0, writer.stderr.read()
    assert reads > 0, "the writers finished before the reader saw an entry"
    assert len(cache.read_entry(path, digest)) == 50_000 + 7 * 299
    assert [p.name for p in cache_dir.iterdir()] == [path.name]  # no temporary files left


def test_concurrent_writer_threads(cache_dir: Path) -> None:
    digest = cache.full_key("threads")
    path = cache.entry_path(digest)
    errors: list[BaseException] = []

    def write(tag: int) -> None:
        try:
            for i in range(100):
                cache.write_entry(path, digest, bytes([tag]) * (10_000 + i))
                payload = cache.read_entry(path, digest)
                assert payload.count(payload[0]) == len(payload)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(tag,)) for tag in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert [p.name for p in cache_dir.iterdir()] == [path.name]


def test_two_processes_compiling_the_same_key_leave_a_valid_entry(cache_dir: Path) -> None:
    start = f"{time.time() + 2.0}"
    racers = [child("race", start, env_dir=cache_dir) for _ in range(2)]
    # NOTE: both normally miss and build; one that starts late may find the other's entry.
    assert sum(report(racer)["builds"] for racer in racers) >= 1
    assert cache.read_entry(cache.entry_path(cache.full_key("race")), cache.full_key("race"))
    late = report(child("race", env_dir=cache_dir))
    assert late["compilations"] == 0 and late["disk_hits"] == 1


def test_cache_dir_moves_and_switches_off(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GRAPHC_CACHE_DIR", raising=False)
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "graphc"
    for off in ("", "off", "OFF"):
        monkeypatch.setenv("GRAPHC_CACHE_DIR", off)
        assert cache.cache_dir() is None and cache.entry_path("ab") is None
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "moved"))
    cache.clear_memory()
    cache.load_or_build("moved", Builder(), ["entry"])
    assert len(list((tmp_path / "moved").glob("*.gco"))) == 1
    assert not (tmp_path / "home").exists()


def test_disabled_disk_cache_writes_nothing(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("GRAPHC_CACHE_DIR", "off")
    cache.clear_memory()
    report_off = report(child("off", env_dir="off"))
    assert report_off["builds"] == 1
    again = report(child("off", env_dir="off"))
    assert again["builds"] == 1 and again["disk_hits"] == 0
    assert list(tmp_path.iterdir()) == []


def test_unwritable_cache_warns_and_still_works(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(blocker / "cache"))
    cache.clear_memory()
    stats = cache.stats()
    with pytest.warns(RuntimeWarning, match="cannot write the cache entry"):
        loaded = cache.load_or_build("unwritable", Builder(), ["entry"])
    assert cache.stats().disk_write_errors == stats.disk_write_errors + 1
    run_add(loaded["entry"], loaded)


def test_the_same_model_built_again_compiles_nothing(cache_dir: Path) -> None:
    """A model rebuilt in the same process (new variables, shared constants made earlier)
    hits the cache: its key does not depend on when a shared constant was first made."""
    import numpy as np

    import graphc as gc

    def build_step():
        x = gc.placeholder((None, 3), "float32", name="x")
        W = gc.variable(np.ones((3, 2), np.float32), name="W")
        loss = gc.mean(gc.square(x @ W)) * 0.5
        return gc.compile([x], loss, updates=gc.optim.SGD(0.1).updates(loss, [W]),
                          backend="llvm")

    gc.constant(np.float32(0.5))            # made long before the second build uses it
    build_step()
    compilations = jit.compile_count()
    step = build_step()
    assert jit.compile_count() == compilations
    assert float(step(np.ones((2, 3), np.float32))) == 4.5
