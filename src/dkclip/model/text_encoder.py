"""The frozen CLIP text encoder with its class-feature cache and optional learnable CoOp context
(docs/method.md §1.6)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from open_clip.model import CLIP
from open_clip.transformer import Transformer
from torch import nn

COOP_PLACEHOLDER = "X"


class FrozenTextEncoder(nn.Module):
    """CLIP's text tower, frozen. Produces one feature (E) per class prompt.

    Without learnable context the features do not depend on anything trainable, so they are computed once in
    fp32 without grad and cached; the cache is rebuilt when the prompts change, when weights are loaded, or
    when the module moves to another device or dtype. Nothing of the cache is saved: it is a pure function of
    the (saved) text weights and the prompts in the config.
    """

    # Buffers (registered in __init__ / set_prompts); declared here so they type as tensors, not submodules.
    attn_mask: torch.Tensor
    tokens: torch.Tensor

    def __init__(self, clip: CLIP, tokenizer: Any, prompts: Sequence[str], coop_context_tokens: int = 0,
                 coop_class_specific: bool = True) -> None:
        super().__init__()
        self.token_embedding: nn.Embedding = clip.token_embedding
        self.positional_embedding: nn.Parameter = clip.positional_embedding
        self.transformer: Transformer = clip.transformer
        self.ln_final: nn.Module = clip.ln_final
        self.text_projection: nn.Parameter = clip.text_projection
        self.register_buffer("attn_mask", clip.attn_mask, persistent=False)
        for p in self.parameters():
            p.requires_grad_(False)
        self.tokenizer = tokenizer
        self.num_context = coop_context_tokens
        self.context: nn.Parameter | None = None
        if coop_context_tokens:
            width = self.token_embedding.weight.shape[1]
            shape = (len(prompts), coop_context_tokens, width) if coop_class_specific else (coop_context_tokens,
                                                                                           width)
            self.context = nn.Parameter(torch.randn(shape) * 0.02)
        self._cache: torch.Tensor | None = None
        self.set_prompts(prompts)
        self._register_load_state_dict_pre_hook(self._invalidate_on_load)

    def _invalidate_on_load(self, *args: Any, **kwargs: Any) -> None:
        self._cache = None

    def set_prompts(self, prompts: Sequence[str]) -> None:
        prompts = list(prompts)
        if self.context is not None and self.context.dim() == 3 and self.context.shape[0] != len(prompts):
            raise ValueError(f"class-specific CoOp context has {self.context.shape[0]} classes, got "
                             f"{len(prompts)} prompts")
        texts = [" ".join([COOP_PLACEHOLDER] * self.num_context + [p]) for p in prompts]
        context_length = self.positional_embedding.shape[0]
        too_long = [t for t in texts if len(self.tokenizer.encode(t)) + 2 > context_length]
        if too_long:
            raise ValueError(f"prompts longer than the text context of {context_length} tokens: {too_long}")
        tokens = self.tokenizer(texts)
        self.prompts = prompts
        self.register_buffer("tokens", tokens, persistent=False)
        self._cache = None

    @property
    def trainable(self) -> bool:
        return self.context is not None

    def _encode(self) -> torch.Tensor:
        tokens = self.tokens
        x = self.token_embedding(tokens)
        if self.context is not None:
            ctx: torch.Tensor = self.context
            if ctx.dim() == 2:
                ctx = ctx.unsqueeze(0).expand(tokens.shape[0], -1, -1)
            # Token 0 is start-of-text; the placeholders follow it.
            x = torch.cat([x[:, :1], ctx.to(x.dtype), x[:, 1 + self.num_context:]], dim=1)
        x = x + self.positional_embedding
        x = self.transformer(x, attn_mask=self.attn_mask)
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]  # end-of-text token
        return x @ self.text_projection

    def forward(self) -> torch.Tensor:
        """Class text features (K, E), unnormalised."""
        if self.context is not None:
            return self._encode()
        weight = self.token_embedding.weight
        if self._cache is None or self._cache.device != weight.device or self._cache.dtype != weight.dtype:
            with torch.no_grad(), torch.autocast(weight.device.type, enabled=False):
                self._cache = self._encode().detach()
        return self._cache

    def train(self, mode: bool = True) -> FrozenTextEncoder:
        # The frozen tower stays in eval mode (its weights never change); only the CoOp context trains.
        super().train(mode)
        for module in (self.transformer, self.ln_final, self.token_embedding):
            module.train(False)
        return self
