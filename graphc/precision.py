"""A warning when float32 and float64 meet in one op: the result, and all that follows, is float64.

NumPy promotes silently, and a float64 array (np.zeros gives one) handed to gc.variable turns a
float32 model into a float64 one, twice the memory and slower. As JAX does for 64-bit values,
graphc warns, at the user's line, once per line.
"""
from __future__ import annotations

import re
import warnings

from graphc.source import user_location
from graphc.tensor import Tensor

_registry: dict = {}       # the lines already warned about (warnings' per-location record)


class PrecisionWarning(UserWarning):
    """float32 and float64 operands were mixed, so the result is float64."""


def _described(t: Tensor) -> str:
    kind = {"variable": "variable", "constant": "constant", "placeholder": "input"}.get(t.op,
                                                                                          "value")
    name = f" {t.name!r}" if t.name else ""
    return f"{kind}{name} " + re.sub(r"\?\d+", "?", str(t.type))   # symbols are per process


def warn_if_mixed(a: Tensor, b: Tensor) -> None:
    """Warn (once per user line) when one operand is float32 and the other float64."""
    if {a.dtype, b.dtype} != {"float32", "float64"}:
        return
    wide = a if a.dtype == "float64" else b
    hint = (" (np.zeros and friends make float64: pass dtype='float32')"
            if wide.op in ("variable", "constant") else "")
    message = (f"a float32 and a float64 operand are combined ({_described(a)} and "
               f"{_described(b)}): the result is float64, and so is everything computed from "
               f"it; cast one side, e.g. gc.cast(x, 'float32'){hint}")
    loc = user_location()
    if loc is None:
        warnings.warn(message, PrecisionWarning, stacklevel=3)
    else:
        warnings.warn_explicit(message, PrecisionWarning, loc.file, loc.line,
                               registry=_registry)
