"""Shared fixtures: tests taking `backend` run once per backend (the LLVM backend joins later)."""
from __future__ import annotations

import pytest

BACKENDS = ["numpy"]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """The name of the backend to compile with."""
    return request.param
