"""Op declarations and the DSL functions that build them, one module per op family."""
from graphc.ops import (  # noqa: F401  (importing a module registers its ops)
    activations,
    attention,
    conv,
    elementwise,
    fused,
    indexing,
    layout,
    leaves,
    linalg,
    norm,
    pool,
    random,
    reductions,
    scan,
)
from graphc.registry import GRADS, OPS, Kind, defgrad, defop  # noqa: F401
