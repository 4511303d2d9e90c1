"""The native backend: graphs lowered through llvmlite to vectorized machine code."""
