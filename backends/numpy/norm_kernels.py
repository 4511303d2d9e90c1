"""(being written) NumPy kernels for the norm ops; they register into IMPL."""
from __future__ import annotations
