"""Graph -> graph passes, each in its own module, and the pass manager that runs them."""
from __future__ import annotations

from graphc.passes import cse, dce, fold, layout, simplify, stability  # noqa: F401 (register)
from graphc.passes.manager import DEFAULT, PASSES, Report, optimize  # noqa: F401
