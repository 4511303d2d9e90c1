"""Workloads timed against hand-written NumPy (and, when installed, other frameworks)."""
