"""The dtypes graphc supports and NumPy 2's promotion between them."""
from __future__ import annotations

import numpy as np

from graphc.errors import DTypeError

DTYPES = ("bool", "int32", "int64", "float32", "float64")
FLOATS = frozenset({"float32", "float64"})
INTS = frozenset({"int32", "int64"})
SHORT = {"bool": "bool", "int32": "i32", "int64": "i64", "float32": "f32", "float64": "f64"}
FROM_SHORT = {short: name for name, short in SHORT.items()}


def canonical(dtype) -> str:
    """Normalize a dtype given as a string, numpy dtype or type to one of DTYPES."""
    if isinstance(dtype, str) and dtype in FROM_SHORT:
        return FROM_SHORT[dtype]
    try:
        name = np.dtype(dtype).name
    except TypeError as exc:
        raise DTypeError(f"unknown dtype {dtype!r}; graphc supports {', '.join(DTYPES)}") from exc
    if name not in DTYPES:
        raise DTypeError(f"dtype {name} is not supported; graphc supports {', '.join(DTYPES)}")
    return name


def is_float(dtype: str) -> bool:
    return dtype in FLOATS


def promote(*dtypes) -> str:
    """NumPy 2 promotion; Python scalars among the arguments are weak (x * 0.5 stays f32)."""
    return canonical(np.result_type(*[np.dtype(d) if isinstance(d, str) else d for d in dtypes]))
