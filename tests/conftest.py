"""Shared fixtures: tests taking `backend` run once per backend (the interpreter and native).

Native object code goes to a cache directory of the test session's own, never ~/.cache.
"""
from __future__ import annotations

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
