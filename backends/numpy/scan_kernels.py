"""(being written) NumPy kernels for the scan ops; they register into IMPL."""
from __future__ import annotations
