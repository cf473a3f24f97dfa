"""Shared building blocks: SDPA attention on nn.MultiheadAttention weights, pre-LN blocks, QuickGELU."""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


def mha_self_attention(mha: nn.MultiheadAttention, x: torch.Tensor, num_queries: int | None = None) -> torch.Tensor:
    """Self-attention of batch-first ``x`` (B, S, D) with the weights of ``mha``, through SDPA.

    Only the first ``num_queries`` tokens are used as queries (all by default): DK-CLIP's frame attention
    appends a message token whose own output is discarded, so computing its query row would be wasted work.
    """
    batch, seq, dim = x.shape
    heads = mha.num_heads
    q_len = seq if num_queries is None else num_queries
    # A module ``qkv`` replaces the in-projection where the predictor's int8 runtime installed one
    # (dkclip.predict.runtime.quantize_encoder): a Linear module is what dynamic quantisation converts.
    proj = getattr(mha, "qkv", None)
    qkv = proj(x) if proj is not None else F.linear(x, mha.in_proj_weight, mha.in_proj_bias)
    q, k, v = qkv.split(dim, dim=-1)
    if q_len != seq:
        q = q[:, :q_len]
    q = q.reshape(batch, q_len, heads, dim // heads).transpose(1, 2)
    k = k.reshape(batch, seq, heads, dim // heads).transpose(1, 2)
    v = v.reshape(batch, seq, heads, dim // heads).transpose(1, 2)
    out = F.scaled_dot_product_attention(q, k, v)
    out = out.transpose(1, 2).reshape(batch, q_len, dim)
    return mha.out_proj(out)


def _mlp(dim: int, ratio: float = 4.0) -> nn.Sequential:
    hidden = int(dim * ratio)
    return nn.Sequential(OrderedDict([("c_fc", nn.Linear(dim, hidden)), ("gelu", QuickGELU()),
                                      ("c_proj", nn.Linear(hidden, dim))]))


def trunc_normal_init(module: nn.Module, std: float = 0.02, attn_in_proj: bool = True) -> None:
    """X-CLIP/DK-CLIP init for new modules: trunc-normal Linear weights, zero biases, unit LayerNorms.

    ``attn_in_proj``: also draw the q/k/v in-projection of ``nn.MultiheadAttention`` from the trunc-normal (this
    repository's default). The released code's init touches ``nn.Linear`` only, so its in-projection keeps
    PyTorch's xavier-uniform (``False``); the attention's out-projection is a Linear either way.
    """
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.MultiheadAttention) and attn_in_proj:
            nn.init.trunc_normal_(m.in_proj_weight, std=std)
            nn.init.zeros_(m.in_proj_bias)


class PreNormBlock(nn.Module):
    """x + Attn(LN(x)), then x + MLP(LN(x)); the residual attention block of CLIP/X-CLIP's MIT and DK-CLIP's MSIM."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = _mlp(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + mha_self_attention(self.attn, self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class CrossAttention(nn.Module):
    """Multi-head cross-attention with separate bias-free q/k/v projections (as the authors' CMAM)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dimension {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, query: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        batch, q_len, dim = query.shape
        c_len = context.shape[1]
        head_dim = dim // self.heads
        q = self.q_proj(query).reshape(batch, q_len, self.heads, head_dim).transpose(1, 2)
        k = self.k_proj(context).reshape(batch, c_len, self.heads, head_dim).transpose(1, 2)
        v = self.v_proj(context).reshape(batch, c_len, self.heads, head_dim).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.out_proj(out.transpose(1, 2).reshape(batch, q_len, dim))


def num_heads_for(dim: int, head_dim: int = 64) -> int:
    return max(1, dim // head_dim)
