"""Frontends: ways to make graphs (losses, and later layers, optimizers, importers)."""
