"""Object code cached in memory and on disk, so a warm process neither generates IR nor runs LLVM.

`load_or_build(key, build, entries)` looks in three places before it calls `build`: the libraries
still loaded in this process, the object code compiled earlier in this process, and the disk
cache. The disk cache is `~/.cache/graphc`; `GRAPHC_CACHE_DIR` moves it and `GRAPHC_CACHE_DIR=""`
or `off` disables it. An entry is one file named by the full key (the caller's key hashed with
the host fingerprint and the code generator's source digest); its header (magic, format
version, full key, payload length, payload sha256) is checked before the object code is used,
so a corrupt, truncated, stale or misplaced entry is ignored and rebuilt. Writers rename a
complete temporary file into place, so concurrent writers (threads or processes) never leave a
partial entry.

`load_graph(key, decode, build)` and `remember_graph(key, data, loaded)` keep a second kind of
entry, a *graph record*: JSON naming the object code that serves a graph as the user built it,
with the data its caller needs beside it (backends/llvm/__init__.py: `compile_source`), so a
hit skips optimizing and lowering the graph too. A record that fails its checks, does not
decode, or names code no cache holds is ignored.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
import struct
import tempfile
import threading
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from llvmlite import ir

from backends.llvm import jit
from backends.llvm.target import host_fingerprint

# NOTE: the code generator is identified by its own source (backends/llvm and the core whose
# op semantics it lowers): any edit to it makes old entries simply stop matching, where a
# version number to bump by hand was forgotten once (a stale threshold ran for a session).
# FORMAT_VERSION is the layout of an entry file.
GENERATOR_SOURCES = (Path(__file__).resolve().parent,
                     Path(__file__).resolve().parents[2] / "graphc")
FORMAT_VERSION = 1
MAGIC = b"GRAPHCO\x00"
HEADER = struct.Struct("<8sI32sQ32s")  # magic, format version, full key, length, sha256
MEMORY_LIMIT_BYTES = 64 << 20  # object code kept in memory after its library is unloaded
_SUFFIX = ".gco"
T = TypeVar("T")


@dataclasses.dataclass
class CacheStats:
    """What the cache did in this process: counts of hits, builds and rejected disk entries."""

    memory_hits: int = 0
    disk_hits: int = 0
    builds: int = 0
    disk_rejected: int = 0
    disk_write_errors: int = 0
    graph_hits: int = 0     # of the hits, those that skipped optimizing and lowering the graph


class CorruptEntry(Exception):
    """A disk entry that must not be loaded; the message says why."""


class Loaded:
    """Loaded code for one key: entry addresses, and its IR and assembly on demand."""

    def __init__(self, library: jit.Library, build: Callable[[], ir.Module],
                 pipeline: jit.Pipeline, digest: str = ""):
        self.library = library
        self.digest = digest            # the full key it is cached under
        self._build = build
        self._pipeline = pipeline
        self._inspected: dict[str, str] = {}

    def __getitem__(self, entry: str) -> int:
        return self.library[entry]

    @property
    def addresses(self) -> dict[str, int]:
        """Every loaded entry point by name."""
        return self.library.addresses

    def llvm_ir(self, optimized: bool = True) -> str:
        """The module's IR, as generated or as optimized (made again on first request)."""
        name = "optimized" if optimized else "generated"
        if name not in self._inspected:
            module = self._build()
            self._inspected[name] = (jit.optimized_ir(module, self._pipeline) if optimized
                                     else str(module))
        return self._inspected[name]

    def asm(self) -> str:
        """The host assembly of the module (made again on first request: it runs LLVM)."""
        if "asm" not in self._inspected:
            self._inspected["asm"] = jit.assembly(self._build(), self._pipeline)
        return self._inspected["asm"]


def cache_dir() -> Path | None:
    """Where object code is cached on disk, or None when GRAPHC_CACHE_DIR disables it."""
    configured = os.environ.get("GRAPHC_CACHE_DIR")
    if configured is None:
        return Path.home() / ".cache" / "graphc"
    if configured.strip().lower() in ("", "off"):
        return None
    return Path(configured).expanduser()


@functools.cache
def codegen_version() -> str:
    """A digest of the code generator's source files.

    NOTE: reading and hashing ~100 files took ~2 ms, a sixth of loading a cached model in a
    new process, so the digest is remembered in the cache directory under the files' paths,
    sizes and modification times (what Python trusts for its own .pyc files): while the
    sources stay as they were, a process only lists them.
    """
    files = sorted(entry for root in GENERATOR_SOURCES for entry in _sources(root))
    stamp = hashlib.sha256("\n".join(f"{path}\0{size}\0{mtime}"
                                      for path, _, size, mtime in files).encode())
    directory = cache_dir()
    memo = None if directory is None else directory / f"codegen-{stamp.hexdigest()[:40]}.txt"
    try:
        remembered = memo.read_text(encoding="ascii") if memo is not None else ""
    except (OSError, UnicodeDecodeError):
        remembered = ""
    if re.fullmatch(r"[0-9a-f]{64}", remembered):
        return remembered
    digest = hashlib.sha256()
    for path, name, _, _ in files:
        digest.update(name.encode() + b"\0" + Path(path).read_bytes())
    if memo is not None:
        try:
            _write_atomically(memo, digest.hexdigest().encode())
        except OSError:
            pass        # NOTE: only a cost: the next process hashes the sources again
    return digest.hexdigest()


def _sources(root: Path, prefix: str = "") -> Iterator[tuple[str, str, int, int]]:
    """(path, path under root, size, modification time) of the .py files under root."""
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                yield from _sources(Path(entry.path), f"{prefix}{entry.name}/")
            elif entry.name.endswith(".py"):
                status = entry.stat()
                yield entry.path, prefix + entry.name, status.st_size, status.st_mtime_ns


def full_key(key: str, pipeline: jit.Pipeline = jit.DEFAULT_PIPELINE) -> str:
    """The caller's key bound to this host, this code generator and the pipeline (hex sha256)."""
    text = (f"graphc object code\ncodegen={codegen_version()}\n{host_fingerprint()}\n"
            f"pipeline={pipeline.tag()}\nkey={key}")
    return hashlib.sha256(text.encode()).hexdigest()


def entry_path(digest: str) -> Path | None:
    """The disk entry's file for a full key, or None when the disk cache is off."""
    directory = cache_dir()
    return None if directory is None else directory / (digest + _SUFFIX)


_lock = threading.Lock()  # guards the tables and the stats below
_stats = CacheStats()
_live: weakref.WeakValueDictionary[str, Loaded] = weakref.WeakValueDictionary()
_objects: OrderedDict[str, bytes] = OrderedDict()  # least recently used first
_graphs: OrderedDict[str, dict] = OrderedDict()    # graph records, least recently used first
GRAPH_RECORDS = 1024
# NOTE: one build per key at a time within the process, without serializing unrelated keys.
_build_locks = [threading.Lock() for _ in range(64)]


def stats() -> CacheStats:
    """A snapshot of this process's cache counters."""
    with _lock:
        return dataclasses.replace(_stats)


def clear_memory() -> None:
    """Forget the in-memory tiers (libraries stay loaded while their callers hold them)."""
    with _lock:
        _live.clear()
        _objects.clear()
        _graphs.clear()


def load_or_build(key: str, build: Callable[[], ir.Module], entries: Iterable[str],
                  pipeline: jit.Pipeline = jit.DEFAULT_PIPELINE) -> Loaded:
    """The loaded code for `key`; `build` generates the IR and runs only when no cache has it."""
    entries = list(entries)
    digest = full_key(key, pipeline)
    with _build_lock(digest):
        loaded = _load(digest, entries, build, pipeline)
        if loaded is not None:
            return loaded
        code = jit.compile_object(build(), pipeline)
        _count("builds")
        path = entry_path(digest)
        if path is not None:
            _write_disk(path, digest, code)
        library = jit.load_object(code, entries)
        return _loaded(digest, library, code, build, pipeline)


def _build_lock(digest: str) -> threading.Lock:
    return _build_locks[int(digest[:8], 16) % len(_build_locks)]


def _load(digest: str, entries: list[str], build: Callable[[], ir.Module],
          pipeline: jit.Pipeline) -> Loaded | None:
    """The code of `digest` from a cache (counting the hit), or None; `build` only serves to
    show its IR later."""
    with _lock:
        loaded = _live.get(digest)
        if loaded is not None and set(entries) <= loaded.addresses.keys():
            _stats.memory_hits += 1
            return loaded
    code, from_disk = _cached_code(digest, entry_path(digest))
    if code is None:
        return None
    try:
        library = jit.load_object(code, entries)
    except RuntimeError:
        if not from_disk:
            raise
        # NOTE: a checksummed entry that does not link was written by a buggy or
        # incompatible graphc; build it afresh rather than fail forever.
        _count("disk_rejected")
        return None
    return _loaded(digest, library, code, build, pipeline)


def _loaded(digest: str, library: jit.Library, code: bytes, build: Callable[[], ir.Module],
            pipeline: jit.Pipeline) -> Loaded:
    loaded = Loaded(library, build, pipeline, digest)
    with _lock:
        _live[digest] = loaded
        _remember(digest, code)
    return loaded


def load_graph(key: str, decode: Callable[[dict], T], build: Callable[[], ir.Module],
               pipeline: jit.Pipeline = jit.DEFAULT_PIPELINE) -> tuple[T, Loaded] | None:
    """What `remember_graph` recorded under `key`, decoded, and the code it names; None when
    either is missing or the record does not decode (ValueError), so the caller builds.

    A hit counts once, as the code's memory or disk hit, and as a graph hit; `build` is only
    for showing the IR later.
    """
    digest = full_key(key, pipeline)
    record, from_disk = _graph_record(digest)
    if record is None:
        return None
    try:
        if not (isinstance(record, dict) and isinstance(record.get("code"), str)
                and isinstance(record.get("entries"), list)
                and all(isinstance(e, str) for e in record["entries"])):
            raise ValueError("not a graph record")
        bytes.fromhex(record["code"])
        decoded = decode(record.get("data"))
    except ValueError:
        with _lock:
            _graphs.pop(digest, None)
            if from_disk:
                _stats.disk_rejected += 1
        return None
    with _build_lock(record["code"]):
        loaded = _load(record["code"], record["entries"], build, pipeline)
    if loaded is None:
        return None
    _count("graph_hits")
    return decoded, loaded


def remember_graph(key: str, data: dict, loaded: Loaded,
                   pipeline: jit.Pipeline = jit.DEFAULT_PIPELINE) -> None:
    """Record, in memory and on disk, that `key` is served by `loaded`'s code, with `data`
    (plain JSON data) beside it."""
    digest = full_key(key, pipeline)
    record = {"code": loaded.digest, "entries": sorted(loaded.addresses), "data": data}
    with _lock:
        _graphs[digest] = record
        _graphs.move_to_end(digest)
        while len(_graphs) > GRAPH_RECORDS:
            _graphs.popitem(last=False)
    path = entry_path(digest)
    if path is not None:
        _write_disk(path, digest, json.dumps(record, separators=(",", ":")).encode())


def _graph_record(digest: str) -> tuple[object, bool]:
    """A graph record from memory or disk (parsed JSON, not yet checked), and whether it came
    from disk."""
    with _lock:
        record = _graphs.get(digest)
        if record is not None:
            _graphs.move_to_end(digest)
            return record, False
    path = entry_path(digest)
    if path is None:
        return None, False
    try:
        payload = read_entry(path, digest)
        return (None if payload is None else json.loads(payload)), True
    except (CorruptEntry, ValueError):      # NOTE: JSONDecodeError and UnicodeDecodeError too
        _count("disk_rejected")
        return None, False


def _cached_code(digest: str, path: Path | None) -> tuple[bytes | None, bool]:
    """Object code compiled earlier, from memory or disk, and whether it came from disk."""
    with _lock:
        code = _objects.get(digest)
        if code is not None:
            _objects.move_to_end(digest)
            _stats.memory_hits += 1
            return code, False
    if path is None:
        return None, False
    return _read_disk(path, digest), True


def _count(field: str) -> None:
    with _lock:
        setattr(_stats, field, getattr(_stats, field) + 1)


def _remember(digest: str, code: bytes) -> None:
    """Keep object code in memory, dropping the least recently used beyond the budget."""
    _objects[digest] = code
    _objects.move_to_end(digest)
    total = sum(map(len, _objects.values()))
    while total > MEMORY_LIMIT_BYTES and len(_objects) > 1:
        total -= len(_objects.popitem(last=False)[1])


def _read_disk(path: Path, digest: str) -> bytes | None:
    """A valid entry's object code, or None (missing or rejected)."""
    try:
        code = read_entry(path, digest)
    except CorruptEntry:
        _count("disk_rejected")
        return None
    if code is not None:
        _count("disk_hits")
    return code


def _write_disk(path: Path, digest: str, code: bytes) -> None:
    try:
        write_entry(path, digest, code)
    except OSError as exc:
        _count("disk_write_errors")
        warnings.warn(f"graphc: cannot write the cache entry {path}: {exc}", RuntimeWarning,
                      stacklevel=3)


def read_entry(path: Path, digest: str) -> bytes | None:
    """The payload of the entry at `path` if it is valid for `digest`; None if there is none."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CorruptEntry(f"unreadable: {exc}") from exc
    if len(data) < HEADER.size:
        raise CorruptEntry(f"truncated header ({len(data)} bytes)")
    magic, version, key, length, checksum = HEADER.unpack_from(data)
    payload = data[HEADER.size:]
    if magic != MAGIC:
        raise CorruptEntry("not a graphc cache entry")
    if version != FORMAT_VERSION:
        raise CorruptEntry(f"format version {version}, expected {FORMAT_VERSION}")
    if key != bytes.fromhex(digest):
        raise CorruptEntry("entry of another key")
    if length != len(payload):
        raise CorruptEntry(f"payload of {len(payload)} bytes, header says {length}")
    if hashlib.sha256(payload).digest() != checksum:
        raise CorruptEntry("checksum mismatch")
    return payload


def entry_bytes(digest: str, payload: bytes, version: int = FORMAT_VERSION) -> bytes:
    """An entry file's contents: the header, then the payload."""
    header = HEADER.pack(MAGIC, version, bytes.fromhex(digest), len(payload),
                         hashlib.sha256(payload).digest())
    return header + payload


def write_entry(path: Path, digest: str, payload: bytes) -> None:
    """Write an entry atomically: a temporary file in the same directory renamed into place."""
    _write_atomically(path, entry_bytes(digest, payload))


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
