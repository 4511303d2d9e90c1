"""Attention layers: MultiHeadAttention and the sinusoidal positional encoding."""
from __future__ import annotations

import numpy as np

from frontends.nn import init as initializers
from frontends.nn.base import Layer
from frontends.nn.layers import Dense
from graphc.errors import ShapeError
from graphc.ops.attention import scaled_dot_product_attention
from graphc.ops.layout import reshape, transpose
from graphc.ops.leaves import constant
from graphc.tensor import Tensor, scope
from graphc.types import shape_str


def positional_encoding(length: int, dim: int, dtype: str = "float32") -> Tensor:
    """The (length, dim) sinusoidal encoding of "Attention Is All You Need", as a constant.

    PE[p, 2i] = sin(p / 10000^(2i/dim)) and PE[p, 2i+1] = cos(p / 10000^(2i/dim)).
    """
    position = np.arange(length)[:, None]
    rates = np.power(10000.0, -np.arange(0, dim, 2) / dim)
    table = np.zeros((length, dim))
    table[:, 0::2] = np.sin(position * rates)
    table[:, 1::2] = np.cos(position * rates[:dim // 2])
    return constant(table.astype(dtype))


class MultiHeadAttention(Layer):
    """Attention in num_heads subspaces of size embed_dim / num_heads, then mixed by W_o.

    Called as mha(query) for self-attention or mha(query, key, value) on (N, L, embed_dim)
    inputs; `mask` (bool keep-mask or additive) broadcasts against the (N, heads, Lq, Lk)
    scores, e.g. gc.causal_mask(L).
    """

    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True,
                 seed: int | None = None, dtype: str = "float32", name: str | None = None):
        super().__init__(name)
        if embed_dim % num_heads:
            raise ValueError(f"MultiHeadAttention: embed_dim {embed_dim} is not divisible by "
                             f"num_heads {num_heads}")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        rng = initializers.generator(seed)
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (
            Dense(embed_dim, embed_dim, bias=bias, seed=rng, dtype=dtype,
                  name=f"{self.name}.{part}") for part in ("q", "k", "v", "out"))

    def __call__(self, query: Tensor, key: Tensor | None = None, value: Tensor | None = None,
                 mask=None, training: bool | None = None) -> Tensor:
        training = self.training if training is None else training
        with scope(self.name):
            return self._called(self.forward(query, training, key, value, mask))

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"

    def forward(self, query: Tensor, training: bool, key: Tensor | None = None,
                value: Tensor | None = None, mask=None) -> Tensor:
        key = query if key is None else key
        value = key if value is None else value
        for name, t in (("query", query), ("key", key), ("value", value)):
            if t.ndim != 3 or t.shape[2] != self.embed_dim:
                raise ShapeError(f"MultiHeadAttention: {name} must be (batch, length, "
                                 f"{self.embed_dim}), got {shape_str(t.shape)}")
        q = self._split_heads(self.q_proj(query, training=training))
        k = self._split_heads(self.k_proj(key, training=training))
        v = self._split_heads(self.v_proj(value, training=training))
        heads = scaled_dot_product_attention(q, k, v, mask)            # (N, h, Lq, d)
        merged = transpose(heads, (0, 2, 1, 3))
        merged = reshape(merged, merged.shape[:2] + (self.embed_dim,))
        return self.out_proj(merged, training=training)

    def _split_heads(self, x: Tensor) -> Tensor:
        """(N, L, E) -> (N, heads, L, E / heads)."""
        n, length = x.shape[:2]
        x = reshape(x, (n, length, self.num_heads, self.embed_dim // self.num_heads))
        return transpose(x, (0, 2, 1, 3))
