"""graphc: a compiler for deep-learning models written as static dataflow graphs.

`import graphc as gc` is the only import a user needs: tensor math with NumPy's names, the
graph, autodiff and compile live here; frontends (losses, layers, ...) and backends are loaded
lazily on first use, so importing the core never imports them (dir(gc) lists them all).
"""
from __future__ import annotations

import importlib as _importlib
from types import ModuleType as _ModuleType

from graphc import interop as _interop  # noqa: F401  (NumPy's view of a Tensor)
from graphc.autodiff import grad
from graphc.compile import compile
from graphc.dtypes import DTYPES
from graphc.errors import (
    CompileError,
    DTypeError,
    FeedError,
    GraphcError,
    GraphError,
    IndexRangeError,
    NonFiniteError,
    ParseError,
    ShapeError,
)
from graphc.graph import Graph
from graphc.ops.activations import (
    elu,
    gelu,
    heaviside,
    leaky_relu,
    log_softmax,
    prelu,
    relu,
    sigmoid,
    softmax,
    softplus,
)
from graphc.ops.attention import *  # noqa: F401,F403  (each family module lists __all__)
from graphc.ops.conv import *  # noqa: F401,F403
from graphc.ops.elementwise import (
    abs,
    add,
    astype,
    cast,
    ceil,
    clip,
    cos,
    div,
    divide,
    equal,
    erf,
    exp,
    expm1,
    floor,
    greater,
    greater_equal,
    less,
    less_equal,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    maximum,
    minimum,
    mul,
    multiply,
    neg,
    not_equal,
    pow,
    power,
    reciprocal,
    rsqrt,
    sign,
    sin,
    sqrt,
    square,
    stop_gradient,
    sub,
    subtract,
    tanh,
    where,
)
from graphc.ops.indexing import gather, one_hot, take, take_along_axis
from graphc.ops.layout import (
    broadcast_to,
    concatenate,
    expand_dims,
    flatten,
    pad,
    reshape,
    split,
    squeeze,
    stack,
    swapaxes,
    transpose,
)
from graphc.ops.leaves import constant, placeholder, variable
from graphc.ops.linalg import dot, matmul
from graphc.ops.norm import *  # noqa: F401,F403
from graphc.ops.pool import *  # noqa: F401,F403
from graphc.ops.random import *  # noqa: F401,F403
from graphc.ops.reductions import (
    all,
    any,
    argmax,
    argmin,
    logsumexp,
    max,
    mean,
    min,
    prod,
    std,
    sum,
    var,
)
from graphc.ops.scan import *  # noqa: F401,F403
from graphc.precision import PrecisionWarning
from graphc.tensor import Tensor, scope
from graphc.types import TensorType

float32, float64, int32, int64, bool_ = "float32", "float64", "int32", "int64", "bool"

_LAZY_MODULES = {"losses": "frontends.losses", "nn": "frontends.nn", "optim": "frontends.optim",
                 "train": "frontends.train", "data": "frontends.data",
                 "testing": "graphc.testing", "passes": "graphc.passes",
                 "onnx": "frontends.onnx"}
_LAZY_FUNCTIONS = {"optimize": "graphc.passes",
                   "render": "backends.graphviz", "to_dot": "backends.graphviz",
                   "render_diff": "backends.graphviz", "diff_to_dot": "backends.graphviz",
                   "save": "frontends.textir", "load": "frontends.textir",
                   "parse": "frontends.textir"}


def __getattr__(name: str):
    if name in _LAZY_MODULES:
        value = _importlib.import_module(_LAZY_MODULES[name])
    elif name in _LAZY_FUNCTIONS:
        value = getattr(_importlib.import_module(_LAZY_FUNCTIONS[name]), name)
    elif name == "__version__":
        value = _version()
    else:
        raise AttributeError(f"module 'graphc' has no attribute {name!r}")
    globals()[name] = value
    return value


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("graphc")
    except PackageNotFoundError:     # run from a source tree that was never installed
        return "0+unknown"


def __dir__() -> list[str]:
    """The public API: what `import graphc as gc` offers, lazy modules and functions included.

    Core submodules (graphc.tensor, ...) and the module's own imports are left out.
    """
    names = {n for n, v in globals().items()
             if not n.startswith("_") and not isinstance(v, _ModuleType) and n != "annotations"}
    return sorted(names | set(_LAZY_MODULES) | set(_LAZY_FUNCTIONS) | {"__version__"})
