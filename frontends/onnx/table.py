"""The one table of converters: ONNX op type -> a small function building graphc nodes.

Each family module registers its converters with `@converts(...)`, naming the attributes it
understands, so unsupported attributes are found before anything is built.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

DEFAULT_DOMAINS = ("", "ai.onnx")


@dataclass(frozen=True)
class Converter:
    fn: Callable
    attrs: frozenset[str]
    min_opset: int


CONVERTERS: dict[str, Converter] = {}


def converts(*op_types: str, attrs: tuple[str, ...] = (), min_opset: int = 1):
    """Register fn(node) -> Tensor or tuple of Tensors as the converter of `op_types`."""
    def decorate(fn: Callable) -> Callable:
        for op in op_types:
            if op in CONVERTERS:
                raise ValueError(f"ONNX op {op} has two converters")
            CONVERTERS[op] = Converter(fn, frozenset(attrs), min_opset)
        return fn
    return decorate


def lookup(domain: str, op_type: str) -> Converter | None:
    return CONVERTERS.get(op_type) if domain in DEFAULT_DOMAINS else None


def load_families() -> None:
    """Import every family module, each registering its converters."""
    from frontends.onnx import (  # noqa: F401
        ops_attention,
        ops_control,
        ops_einsum,
        ops_grid,
        ops_math,
        ops_nn,
        ops_norm,
        ops_quantize,
        ops_reduce,
        ops_resize,
        ops_rnn,
        ops_scatter,
        ops_shape,
        ops_softmax,
    )
