"""Shared fixtures: tests taking `backend` run once per backend (the interpreter and native).

Native object code goes to a cache directory of the test session's own, never ~/.cache.
"""
from __future__ import annotations

from pathlib import Path

import pytest

BACKENDS = ["numpy", "llvm"]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """The name of the backend to compile with."""
    return request.param


@pytest.fixture
def scripts_backend(backend: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """`backend`, set as GRAPHC_BACKEND: for code (the examples) that picks its backend as a
    user's script does."""
    monkeypatch.setenv("GRAPHC_BACKEND", backend)
    return backend


@pytest.fixture(autouse=True, scope="session")
def _session_cache_dir(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("GRAPHC_CACHE_DIR", str(tmp_path_factory.mktemp("graphc-cache")))
    yield
    mp.undo()


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh disk cache directory and empty in-memory tiers of the native code cache."""
    from backends.llvm import cache

    directory = tmp_path / "graphc-cache"
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(directory))
    cache.clear_memory()
    yield directory
    cache.clear_memory()
