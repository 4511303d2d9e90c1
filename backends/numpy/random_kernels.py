"""(being written) NumPy kernels for the random ops; they register into IMPL."""
from __future__ import annotations
