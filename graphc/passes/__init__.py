"""Graph -> graph passes, each in its own module, and the pass manager that runs them."""
from __future__ import annotations

from graphc.passes import (  # noqa: F401 (register)
    cse,
    dce,
    fold,
    fusion,
    layout,
    row_groups,
    simplify,
    splits,
    stability,
)
from graphc.passes.manager import DEFAULT, PASSES, DumpWarning, Report, optimize  # noqa: F401
