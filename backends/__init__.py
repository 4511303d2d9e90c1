"""Backends: ways to use a graph (the NumPy interpreter, and later native code and rendering)."""
