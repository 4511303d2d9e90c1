"""ONNX element types and the graphc dtypes that compute them.

graphc computes in bool, int32, int64, float32 and float64. Narrower ONNX types are widened
on import (float16, bfloat16, float8 and float4 to float32; 2- to 16-bit ints to int32;
unsigned 32/64-bit to int64); the ONNX backend casts results back to the declared type, and
a Cast to a narrow type rounds or wraps in the graph (see narrow.py). The numpy dtypes of
the narrow formats numpy lacks come from ml_dtypes, which onnx depends on.
"""
from __future__ import annotations

import ml_dtypes
import numpy as np
from onnx import TensorProto

from frontends.onnx.errors import UnsupportedOnnxError

# ONNX element type -> (the graphc dtype computing it, the numpy dtype ONNX declares)
_TYPES = {
    TensorProto.FLOAT: ("float32", np.float32), TensorProto.DOUBLE: ("float64", np.float64),
    TensorProto.FLOAT16: ("float32", np.float16), TensorProto.BOOL: ("bool", np.bool_),
    TensorProto.INT32: ("int32", np.int32), TensorProto.INT64: ("int64", np.int64),
    TensorProto.INT8: ("int32", np.int8), TensorProto.UINT8: ("int32", np.uint8),
    TensorProto.INT16: ("int32", np.int16), TensorProto.UINT16: ("int32", np.uint16),
    TensorProto.UINT32: ("int64", np.uint32), TensorProto.UINT64: ("int64", np.uint64),
    TensorProto.BFLOAT16: ("float32", ml_dtypes.bfloat16),
    TensorProto.FLOAT8E4M3FN: ("float32", ml_dtypes.float8_e4m3fn),
    TensorProto.FLOAT8E4M3FNUZ: ("float32", ml_dtypes.float8_e4m3fnuz),
    TensorProto.FLOAT8E5M2: ("float32", ml_dtypes.float8_e5m2),
    TensorProto.FLOAT8E5M2FNUZ: ("float32", ml_dtypes.float8_e5m2fnuz),
    TensorProto.FLOAT4E2M1: ("float32", ml_dtypes.float4_e2m1fn),
    TensorProto.INT4: ("int32", ml_dtypes.int4), TensorProto.UINT4: ("int32", ml_dtypes.uint4),
    TensorProto.INT2: ("int32", ml_dtypes.int2), TensorProto.UINT2: ("int32", ml_dtypes.uint2),
}
FROM_GRAPHC = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE,
               "bool": TensorProto.BOOL, "int32": TensorProto.INT32, "int64": TensorProto.INT64}


def type_name(elem_type: int) -> str:
    try:
        return TensorProto.DataType.Name(elem_type)
    except ValueError:
        return f"element type {elem_type}"


def graphc_dtype(elem_type: int) -> str:
    """The graphc dtype that computes values of this ONNX element type."""
    if elem_type not in _TYPES:
        raise UnsupportedOnnxError([f"element type {type_name(elem_type)} (graphc computes bool, "
                                    "integers up to 64 bits and float16/32/64)"])
    return _TYPES[elem_type][0]


def numpy_dtype(elem_type: int) -> np.dtype:
    """The numpy dtype ONNX declares for this element type."""
    graphc_dtype(elem_type)
    return np.dtype(_TYPES[elem_type][1])


def widen(array: np.ndarray) -> np.ndarray:
    """An array of an ONNX-declared numpy dtype in the graphc dtype that computes it."""
    for dtype, np_type in _TYPES.values():
        if array.dtype == np.dtype(np_type):
            return array if array.dtype == np.dtype(dtype) else array.astype(dtype)
    raise UnsupportedOnnxError([f"arrays of dtype {array.dtype}"])
