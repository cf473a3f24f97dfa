"""MSIM, the multi-snippet integration module (Eq. 6, docs/method.md §1.4), and the frame-level temporal transformer.

v = mean_n( s_n + Blocks(s + e^tem)_n ): a learned (absolute) temporal position embedding, pre-LN transformer
blocks, and the extra input skip of X-CLIP's MIT. The same module over T frame features is the "single-layer
transformer" of Table 5 b and X-CLIP's MIT of Table 5 c.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import PreNormBlock, num_heads_for, trunc_normal_init


class TemporalIntegrator(nn.Module):
    def __init__(self, dim: int, length: int, layers: int = 1, attn_in_proj_init: str = "trunc_normal") -> None:
        """``attn_in_proj_init``: ``"trunc_normal"`` (std 0.02, this repository) or ``"xavier"`` (PyTorch's default,
        kept by the released code, whose init only reaches ``nn.Linear``; docs/method.md §1.4)."""
        super().__init__()
        if attn_in_proj_init not in ("trunc_normal", "xavier"):
            raise ValueError(f"attn_in_proj_init must be 'trunc_normal' or 'xavier', got {attn_in_proj_init!r}")
        self.length = length
        self.positional_embedding = nn.Parameter(torch.empty(1, length, dim))
        self.blocks = nn.Sequential(*(PreNormBlock(dim, num_heads_for(dim)) for _ in range(layers)))
        nn.init.trunc_normal_(self.positional_embedding, std=0.02)
        trunc_normal_init(self.blocks, attn_in_proj=attn_in_proj_init == "trunc_normal")

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """features (B, L, E) -> video feature (B, E)."""
        if features.shape[1] != self.length:
            raise ValueError(f"temporal integrator built for {self.length} steps, got {features.shape[1]}")
        mixed = self.blocks(features + self.positional_embedding.to(features.dtype))
        return (features + mixed).mean(dim=1)
