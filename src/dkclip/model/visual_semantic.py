"""The released code's CMAM visual source (docs/method.md §1.5, D1): ``visual_semantic``, a second message-token
transformer over the snippet-averaged patch tokens, randomly initialised and frozen.

Built only with ``cmam_visual_source="visual_semantic"``. The authors' code feeds the CMAM from it instead of from
the CFAM's patch tokens (the paper's Eq. 7). No weight comes from CLIP and its parameters never train (the code's
trainable-name filter misses it), so it is a fixed random function; gradients still pass through it to the CFAM.

Per clip of N snippets, with p̄_n the mean over the F frames of snippet n of the CFAM's final patch tokens
(P × D, before ``ln_post``):

1. a new class embedding is prepended to each p̄_n and a new (1 + P) × D position embedding added, then ``ln_pre``;
2. L CFAM-style blocks (as deep, wide and with as many heads as the ViT): a message token per snippet from its
   current class token, the N message tokens of a clip attend to each other, each snippet's tokens attend over
   themselves plus their message token, then the MLP;
3. the output patch tokens (N · P × D, without the class token) go to ``prompt_visual_ln`` and
   ``prompt_visual_proj``.

The code also computes a class output (``ln_post``, ``proj``) and discards it; it is not built here.
Initialisation as the code's: class and position embeddings D^-1/2 · randn, the blocks PyTorch's defaults
(Linear kaiming-uniform, attention in-projection xavier-uniform with zero bias, LayerNorm (1, 0)).
"""

from __future__ import annotations

from typing import cast

import torch
from open_clip.transformer import ResidualAttentionBlock
from torch import nn
from torch.utils.checkpoint import checkpoint

from .video_encoder import CrossFrameVisionEncoder, MessageExchange, _block_forward


class _Blocks(nn.Module):
    """Holds the blocks as ``transformer.resblocks.<l>``, CLIP's names (as under ``visual.``)."""

    def __init__(self, blocks: list[ResidualAttentionBlock]) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(blocks)


class SnippetMessageTransformer(nn.Module):
    def __init__(self, visual: CrossFrameVisionEncoder) -> None:
        """Shaped after ``visual`` (width, depth, heads, MLP ratio, activation, norm, number of tokens); its
        weights are new."""
        super().__init__()
        width = visual.width
        first = cast(ResidualAttentionBlock, visual.transformer.resblocks[0])
        heads = first.attn.num_heads
        mlp_ratio = cast(nn.Linear, first.mlp.c_fc).out_features / width
        act_layer, norm_layer = type(first.mlp.gelu), type(first.ln_1)
        scale = width**-0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(visual.positional_embedding.shape))
        self.ln_pre = norm_layer(width)
        self.transformer = _Blocks([ResidualAttentionBlock(width, heads, mlp_ratio, act_layer=act_layer,
                                                           norm_layer=norm_layer)
                                    for _ in range(visual.num_layers)])
        self.messages = nn.ModuleList(MessageExchange(width, heads) for _ in range(visual.num_layers))
        self.requires_grad_(False)  # frozen at its random init, as in the released code
        self.grad_checkpointing = False

    def forward(self, patches: torch.Tensor, snippets: int) -> torch.Tensor:
        """patches (B·N, P, D) snippet-averaged CFAM patch tokens, clip-major (row b·N + n) -> (B·N, P, D);
        message tokens mix only among the ``snippets`` rows of one clip."""
        cls = self.class_embedding.to(patches.dtype).expand(patches.shape[0], 1, -1)
        x = torch.cat([cls, patches], dim=1) + self.positional_embedding.to(patches.dtype)
        x = self.ln_pre(x)
        for block, messages in zip(self.transformer.resblocks, self.messages, strict=True):
            block = cast(ResidualAttentionBlock, block)
            messages = cast(MessageExchange, messages)
            if self.grad_checkpointing and torch.is_grad_enabled():
                x = checkpoint(_block_forward, block, messages, x, snippets, use_reentrant=False)
            else:
                x = _block_forward(block, messages, x, snippets)
        return x[:, 1:]
