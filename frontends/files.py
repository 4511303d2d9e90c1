"""Files graphc writes and reads: atomic replacement, and .npz archives read without trust.

A write goes to a temporary file beside the target and is renamed over it once complete, so a
crash or an error mid-write leaves the previous file intact; temporaries a killed process left
behind are removed by the next write of the same file (and never read). Archives are read
member by member: each member's header (dtype, shape) is checked against what the caller
expects before its data is read, sizes are checked before anything is allocated, members
nobody asks for are never decompressed, and nothing is ever unpickled.
"""
from __future__ import annotations

import contextlib
import lzma
import math
import os
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Mapping

import numpy as np

from graphc.dtypes import DTYPES
from graphc.errors import GraphcError

__all__ = ["ArchiveError", "atomic_write", "write_npz", "NpzReader", "read_member",
           "MAX_BYTES"]

# NOTE: the default cap on the bytes one file may make graphc allocate (its declared arrays);
# a caller who trusts a bigger file passes max_bytes=.
MAX_BYTES = 1 << 30
_MAX_HEADER = 10_000        # numpy's own limit on an .npy header's length


class ArchiveError(GraphcError, ValueError):
    """An .npz archive is unreadable, or holds what graphc does not load (objects, odd dtypes)."""


# ---- atomic writes ----------------------------------------------------------------------------

def _temp_pattern(path: Path) -> re.Pattern:
    return re.compile(re.escape(f".{path.name}.") + r"(\d+)\.[0-9a-f]+\.tmp")


def _remove_stale_temps(path: Path) -> None:
    """Delete temporaries of `path` whose writing process has died (a killed save)."""
    pattern = _temp_pattern(path)
    with contextlib.suppress(OSError):
        for entry in os.scandir(path.parent):
            match = pattern.fullmatch(entry.name)
            if match and not _process_alive(int(match.group(1))):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _process_alive(pid: int) -> bool:
    # NOTE: a pid names a process on this machine only; a temporary written over a network
    # filesystem by another machine's live process looks dead here. Its writer then fails its
    # rename with an OSError, and the target file is still intact.
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call write(file) on a temporary beside `path`, then rename it over `path`.

    The file gets the usual mode (0o666 less the umask), unlike tempfile's private 0o600.
    """
    path = Path(path)
    _remove_stale_temps(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_directory(path.parent)
    return path


def _sync_directory(folder: Path) -> None:
    """Make the rename itself durable (a power cut after it cannot bring the old file back)."""
    with contextlib.suppress(OSError):           # NOTE: not every platform opens directories
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---- writing archives -------------------------------------------------------------------------

def member_name_problem(key: str) -> str | None:
    """Why `key` cannot name an archive member (zip names stop at NUL and are UTF-8), or None."""
    if "\0" in key:
        return "it contains a NUL character"
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid Unicode text (a lone surrogate)"
    return None


def write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """An .npz archive numpy.load reads, with any keys (np.savez reserves a few), atomically."""
    for key in arrays:
        problem = member_name_problem(key)
        if problem:
            raise ArchiveError(f"cannot store an array named {key!r}: {problem}")

    def write(file: BinaryIO) -> None:
        with zipfile.ZipFile(file, "w") as archive:
            for key, array in arrays.items():
                with archive.open(key + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asarray(array, order="C"),
                                              allow_pickle=False)
    return atomic_write(path, write)


# ---- reading archives -------------------------------------------------------------------------

# What reading a damaged or crafted zip member can raise, besides our own checks.
_READ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, lzma.LZMAError,
                NotImplementedError, struct.error, RuntimeError)
Check = Callable[[np.dtype, tuple], None]


class NpzReader:
    """An .npz archive opened for reading members by key (the member's name without .npy)."""

    def __init__(self, path: str | os.PathLike, max_bytes: int = MAX_BYTES):
        self.max_bytes = max_bytes
        try:
            self._zip = zipfile.ZipFile(path)
            infos = self._zip.infolist()
        except _READ_ERRORS as exc:
            raise self._error(f"not a readable .npz archive ({_describe(exc)})") from None
        self.members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if not info.filename.endswith(".npy"):
                continue
            key = info.filename[:-len(".npy")]
            if key in self.members:
                self.close()
                raise self._error(f"it holds two members named {info.filename!r}")
            self.members[key] = info

    def __enter__(self) -> NpzReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def __contains__(self, key: object) -> bool:
        return key in self.members

    def __iter__(self) -> Iterator[str]:
        return iter(self.members)

    @staticmethod
    def _error(problem: str, key: str | None = None) -> ArchiveError:
        return ArchiveError(f"member {key + '.npy'!r}: {problem}" if key is not None else problem)

    def read(self, key: str, check: Check | None = None) -> np.ndarray:
        """The array stored under `key`; check(dtype, shape) may refuse it before it is read."""
        info = self.members[key]
        try:
            with self._zip.open(info) as member:
                dtype, shape, fortran = self._header(member, key)
                if check is not None:
                    check(dtype.newbyteorder("="), shape)
                nbytes = math.prod(shape) * dtype.itemsize
                if nbytes > self.max_bytes:
                    raise self._error(f"the array is {nbytes:,} bytes, over the limit of "
                                      f"{self.max_bytes:,} (max_bytes=)", key)
                if info.file_size != member.tell() + nbytes:
                    raise self._error(f"its header declares {nbytes:,} bytes of data, the "
                                      f"archive holds {info.file_size - member.tell():,}", key)
                data = np.empty(nbytes, np.uint8)
                if member.readinto(memoryview(data)) != nbytes:
                    raise self._error("the data ends early (the file is truncated)", key)
        except _READ_ERRORS as exc:
            if isinstance(exc, GraphcError):      # ours, or the caller's check refusing it
                raise
            raise self._error(_describe(exc), key) from None
        array = data.view(dtype).reshape(shape, order="F" if fortran else "C")
        return array if dtype.isnative else array.astype(dtype.newbyteorder("="))

    def _header(self, member, key: str) -> tuple[np.dtype, tuple[int, ...], bool]:
        """The member's dtype, shape and order, refusing what graphc does not load."""
        fmt = np.lib.format
        version = fmt.read_magic(member)
        readers = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
        if version not in readers:
            raise self._error(f".npy format version {version} (graphc reads 1.0 and 2.0)", key)
        try:
            shape, fortran, dtype = readers[version](member, max_header_size=_MAX_HEADER)
        except (SyntaxError, RecursionError, MemoryError, TypeError) as exc:
            raise self._error(f"a malformed header ({_describe(exc)})", key) from None
        if dtype.hasobject:
            raise self._error("it holds Python objects, which only pickle could read; graphc "
                              "never unpickles", key)
        if dtype.newbyteorder("=").name not in DTYPES or dtype.fields or dtype.subdtype:
            raise self._error(f"dtype {dtype} is not one of {', '.join(DTYPES)}", key)
        if any(d < 0 for d in shape):
            raise self._error(f"a negative dim in its shape {shape}", key)
        return dtype, tuple(shape), fortran


def _describe(exc: BaseException) -> str:
    """`zlib.error: Error -3 ...`: the exception's kind and the first line of its message."""
    kind = type(exc).__name__
    if type(exc).__module__ not in ("builtins", "frontends.files"):
        kind = f"{type(exc).__module__}.{kind}"
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{kind}: {text}" if text else kind


def read_member(arrays, key: str, check: Check) -> np.ndarray:
    """arrays[key] from an NpzReader (header checked first) or an in-memory mapping."""
    if isinstance(arrays, NpzReader):
        return arrays.read(key, check)
    array = np.asarray(arrays[key])
    check(array.dtype, array.shape)
    return array
