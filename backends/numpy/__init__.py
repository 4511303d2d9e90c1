"""The NumPy interpreter: the reference backend every other backend is tested against."""
from backends.numpy import (  # noqa: F401,E402  (importing a module registers its kernels)
    conv_kernels,
    fused_kernels,
    scan_kernels,
)
from backends.numpy.executor import NumpyFunction, compile_graph  # noqa: F401
from backends.numpy.kernels import IMPL  # noqa: F401
