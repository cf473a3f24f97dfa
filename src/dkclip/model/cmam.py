"""CMAM, the cross-modal attention module (Eq. 8, docs/method.md §1.8): class prompts attend to the clip's
visual tokens.

Each layer: c <- c + MHA(LN(c), V, V); c <- c + MLP(LN(c)), with V = LN(z̄*) computed once. The output is scaled
by a learnable γ (per channel by default, initialised to 0.1). Residual modes:

- ``code`` (the authors' code, default): ĉ = c + γ ⊙ c_out, where c_out already contains c through the residuals;
- ``paper`` (Eq. 8): ĉ = c + γ ⊙ (c_out − c), i.e. only the attention/MLP update is scaled.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import CrossAttention, _mlp, num_heads_for, trunc_normal_init


class PromptGeneratorLayer(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm_query = nn.LayerNorm(dim)
        self.cross_attn = CrossAttention(dim, num_heads_for(dim))
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = _mlp(dim)

    def forward(self, text: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        text = text + self.cross_attn(self.norm_query(text), visual)
        return text + self.mlp(self.norm_mlp(text))


class CrossModalAttention(nn.Module):
    def __init__(self, dim: int, layers: int = 2, gamma_init: float = 0.1, gamma_per_channel: bool = True,
                 residual: str = "code") -> None:
        super().__init__()
        self.residual = residual
        self.visual_norm = nn.LayerNorm(dim)
        self.layers = nn.ModuleList(PromptGeneratorLayer(dim) for _ in range(layers))
        self.gamma = nn.Parameter(torch.full((dim,) if gamma_per_channel else (1,), gamma_init))
        trunc_normal_init(self.layers)

    def forward(self, text: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        """text (B, K, E) class features, visual (B, P, E) tokens -> enhanced class features ĉ (B, K, E)."""
        visual = self.visual_norm(visual)
        out = text
        for layer in self.layers:
            out = layer(out, visual)
        update = out if self.residual == "code" else out - text
        return text + self.gamma * update
