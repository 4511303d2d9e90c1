"""(being written) NumPy kernels for the conv ops; they register into IMPL."""
from __future__ import annotations
