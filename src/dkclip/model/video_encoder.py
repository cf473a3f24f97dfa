"""The CFAM video encoder (docs/method.md §1.1-1.2): CLIP's ViT run on every frame, with message tokens in every layer.

The encoder adopts the modules of an open_clip ``VisionTransformer`` (so ``visual.*`` parameter names are CLIP's
own) and adds one message module per layer. Within each layer:

1. a message token is computed from every frame's current class token (Linear);
2. the message tokens of the frames of one *group* attend to each other (LN + MHA, Eq. 3); a group is a snippet
   of T/N consecutive frames for DK-CLIP, the whole clip for X-CLIP's cross-frame attention (Table 5 c);
3. each frame's token sequence attends over itself plus its message token (CLIP's weights, Eq. 4); the message
   token's own output is discarded, so it only contributes keys and values;
4. CLIP's MLP.

Without message modules (Table 5 a/b) this is exactly CLIP's image encoder applied per frame.
"""

from __future__ import annotations

from typing import cast

import torch
from open_clip.transformer import ResidualAttentionBlock, Transformer, VisionTransformer
from torch import nn
from torch.utils.checkpoint import checkpoint

from .layers import mha_self_attention


class MessageExchange(nn.Module):
    """Message token of one CFAM layer: m = fc(cls); m <- m + MHA(LN(m)) over the frames of a group."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.message_fc = nn.Linear(width, width)
        self.message_ln = nn.LayerNorm(width)
        self.message_attn = nn.MultiheadAttention(width, heads, batch_first=True)

    def forward(self, cls_tokens: torch.Tensor, group_size: int) -> torch.Tensor:
        """cls_tokens (B*T, D) -> message tokens (B*T, 1, D), mixing only within consecutive groups of frames."""
        frames, width = cls_tokens.shape
        m = self.message_fc(cls_tokens).view(frames // group_size, group_size, width)
        m = m + mha_self_attention(self.message_attn, self.message_ln(m))
        return m.view(frames, 1, width)


def _block_forward(block: ResidualAttentionBlock, messages: MessageExchange | None, x: torch.Tensor,
                   group_size: int) -> torch.Tensor:
    """One CLIP residual block on batch-first tokens x (B*T, L, D), optionally with a message token."""
    num_tokens = x.shape[1]
    if messages is None:
        h = block.ln_1(x)
    else:
        m = messages(x[:, 0], group_size)
        h = block.ln_1(torch.cat([x, m], dim=1))  # LN is per token, so this equals LN(x) ++ LN(m)
    x = x + block.ls_1(mha_self_attention(block.attn, h, num_queries=num_tokens))
    return x + block.ls_2(block.mlp(block.ln_2(x)))


class CrossFrameVisionEncoder(nn.Module):
    def __init__(self, visual: VisionTransformer, use_messages: bool) -> None:
        super().__init__()
        if getattr(visual, "attn_pool", None) is not None or visual.pool_type != "tok":
            raise ValueError("DK-CLIP needs a class-token CLIP ViT (no attentional pooling)")
        self.conv1: nn.Conv2d = visual.conv1
        self.class_embedding: nn.Parameter = visual.class_embedding
        self.positional_embedding: nn.Parameter = visual.positional_embedding
        self.ln_pre: nn.Module = visual.ln_pre
        self.transformer: Transformer = visual.transformer
        self.ln_post: nn.Module = visual.ln_post
        self.proj: nn.Parameter = visual.proj
        self.image_size: tuple[int, ...] = tuple(visual.image_size)
        self.width: int = self.class_embedding.shape[0]
        blocks = self.transformer.resblocks
        self.messages = (
            nn.ModuleList(MessageExchange(self.width, b.attn.num_heads) for b in blocks) if use_messages else None
        )
        self.grad_checkpointing = False

    @property
    def num_layers(self) -> int:
        return len(self.transformer.resblocks)

    def forward(self, frames: torch.Tensor, group_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """frames (B*T, 3, H, W), consecutive groups of ``group_size`` frames exchange messages.

        Returns the projected class tokens (B*T, E) and the final patch tokens (B*T, P, D), the latter without
        ln_post and projection (the CMAM applies its own LN and projection).
        """
        x = self.conv1(frames)
        x = x.flatten(2).transpose(1, 2)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        for i, block in enumerate(self.transformer.resblocks):
            messages = None if self.messages is None else cast(MessageExchange, self.messages[i])
            if self.grad_checkpointing and torch.is_grad_enabled():
                x = checkpoint(_block_forward, block, messages, x, group_size, use_reentrant=False)
            else:
                x = _block_forward(block, messages, x, group_size)
        cls_out = self.ln_post(x[:, 0]) @ self.proj
        return cls_out, x[:, 1:]
