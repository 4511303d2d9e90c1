"""The native backend: a compiled graph lowered through llvmlite into one native function."""
