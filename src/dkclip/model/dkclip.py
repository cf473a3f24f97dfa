"""The DK-CLIP model: CFAM video encoder, MSIM, AU-enriched frozen text, CMAM and NRM (docs/method.md §1-2)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from open_clip.model import CLIP
from torch import nn

from ..config import DKClipConfig
from .cmam import CrossModalAttention
from .msim import TemporalIntegrator
from .nrm import keep_mask, snippet_scores
from .text_encoder import FrozenTextEncoder
from .video_encoder import CrossFrameVisionEncoder
from .visual_semantic import SnippetMessageTransformer


@dataclass
class DKClipOutput:
    """Everything the paper's Fig. 5 shows, per clip. K classes, N snippets, E embedding width."""

    logits: torch.Tensor  # (B, K) global prediction from v
    local_logits: torch.Tensor  # (B, N, K) one prediction per snippet, erased ones included
    fused_local_logits: torch.Tensor  # (B, K) NRM-weighted fusion of the kept snippets (Eq. 10)
    snippet_scores: torch.Tensor  # (B, N) the NRM's a*, summing to 1
    kept: torch.Tensor  # (B, N) bool, False for erased snippets
    video_embedding: torch.Tensor  # (B, E) v, before L2 normalisation
    snippet_embeddings: torch.Tensor  # (B, N, E) s, before L2 normalisation
    text_features: torch.Tensor  # (B, K, E) the L2-normalised, video-conditioned class features ĉ
    visual_tokens: torch.Tensor | None  # (B, P, E) z̄*, the CMAM's keys/values (None without CMAM)

    def to_dict(self) -> dict[str, torch.Tensor | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class SnippetFeatures:
    """What one snippet contributes to every window that contains it (docs/method.md §1.14): its CFAM outputs
    reduced to what the MSIM, NRM, CMAM and heads read. The CFAM's message tokens mix only the frames of one
    snippet, so these do not depend on the window. Leading dimensions are snippets: (S,) from
    :meth:`DKClip.encode_snippets`, (B, N) for :meth:`DKClip.integrate`."""

    embeddings: torch.Tensor  # (..., E) s_n (Eq. 5): the mean of the snippet's projected class tokens
    # (..., P, X) the CMAM's source, None without CMAM. cfam_patches: the LN'd patch tokens averaged over the
    # snippet's frames and projected (X = E); visual_semantic: the raw patch tokens averaged (X = D).
    tokens: torch.Tensor | None

    def __getitem__(self, index: torch.Tensor | slice | int) -> SnippetFeatures:
        return SnippetFeatures(self.embeddings[index], None if self.tokens is None else self.tokens[index])

    @staticmethod
    def cat(parts: list[SnippetFeatures]) -> SnippetFeatures:
        tokens = [p.tokens for p in parts if p.tokens is not None]
        return SnippetFeatures(torch.cat([p.embeddings for p in parts]),
                               torch.cat(tokens) if len(tokens) == len(parts) else None)


class DKClip(nn.Module):
    def __init__(self, config: DKClipConfig, clip: CLIP, tokenizer: object) -> None:
        super().__init__()
        config.validate()
        if not config.prompts:
            raise ValueError("the config has no prompts")
        self.config = config
        mode = config.temporal
        self.visual = CrossFrameVisionEncoder(clip.visual, use_messages=mode in ("cross_frame", "hierarchical"))
        self.text = FrozenTextEncoder(clip, tokenizer, config.prompts, config.coop_context_tokens,
                                      config.coop_class_specific)
        embed = config.embed_dim
        authors_init = config.init_style == "authors_code"
        attn_init = "xavier" if authors_init else "trunc_normal"
        if mode == "hierarchical":
            self.temporal: TemporalIntegrator | None = TemporalIntegrator(embed, config.num_snippets,
                                                                          config.msim_layers, attn_init)
        elif mode in ("transformer", "cross_frame"):
            self.temporal = TemporalIntegrator(embed, config.num_frames, config.msim_layers, attn_init)
        else:
            self.temporal = None
        self.cmam: CrossModalAttention | None = None
        if config.use_cmam:
            width = self.visual.width
            self.prompt_visual_ln = nn.LayerNorm(width)
            # randn as X-CLIP and the released code; scaled by D^-1/2 by default (docs/method.md §1.5).
            self.prompt_visual_proj = nn.Parameter(torch.randn(width, embed) * (1.0 if authors_init else width**-0.5))
            self.cmam = CrossModalAttention(embed, config.cmam_layers, config.cmam_gamma_init,
                                            config.cmam_gamma_per_channel, config.cmam_residual)
        # Built last, so that the default modules draw the same random numbers with or without it.
        self.visual_semantic: SnippetMessageTransformer | None = None
        if config.use_cmam and config.cmam_visual_source == "visual_semantic":
            self.visual_semantic = SnippetMessageTransformer(self.visual)
        scale = config.logit_scale if config.logit_scale is not None else float(clip.logit_scale.detach().exp())
        self.logit_scale = float(scale)

    # ------------------------------------------------------------------ helpers
    @property
    def num_classes(self) -> int:
        return len(self.text.prompts)

    def set_grad_checkpointing(self, enable: bool = True) -> DKClip:
        """Recompute each ViT block's activations in the backward pass (less memory, ~30% more compute)."""
        self.visual.grad_checkpointing = enable
        if self.visual_semantic is not None:
            self.visual_semantic.grad_checkpointing = enable
        return self

    def freeze_patch_embed(self, freeze: bool = True) -> DKClip:
        """Freeze (or unfreeze) the patch embedding: the paper freezes it, the authors' code trains it
        (docs/method.md §6.1, D3)."""
        self.visual.conv1.weight.requires_grad_(not freeze)
        return self

    def freeze_msim(self, freeze: bool = True) -> DKClip:
        """Freeze (or unfreeze) the MSIM (``temporal.``; the frame transformer in modes b/c) at its current
        weights. The released code leaves its MSIM at random init by accident (docs/method.md §6.1, D2); frozen, it
        still passes gradients to the CFAM."""
        if self.temporal is None:
            if freeze:
                raise ValueError(f"temporal={self.config.temporal!r} has no MSIM to freeze")
            return self
        self.temporal.requires_grad_(not freeze)
        return self

    def set_prompts(self, prompts: list[str], class_names: list[str] | None = None) -> None:
        """Swap the class prompts (e.g. for zero-shot evaluation); the text cache is rebuilt."""
        self.text.set_prompts(prompts)
        self.config.prompts = list(prompts)
        self.config.class_names = list(class_names) if class_names else []

    def _check_input(self, video: torch.Tensor) -> tuple[int, int]:
        cfg = self.config
        size = cfg.image_size
        n = cfg.num_snippets
        fixed_t = cfg.temporal in ("transformer", "cross_frame")
        t_rule = f"T = {cfg.num_frames}" if fixed_t else f"T a positive multiple of N = {n}"
        expected = f"expected a float video tensor of shape (B, T, 3, {size}, {size}) with {t_rule}"
        if not isinstance(video, torch.Tensor) or video.dim() != 5:
            shape = tuple(video.shape) if isinstance(video, torch.Tensor) else type(video).__name__
            raise ValueError(f"{expected}; got {shape}")
        b, t, c, h, w = video.shape
        if not video.is_floating_point():
            raise ValueError(f"{expected}; got dtype {video.dtype}")
        if c != 3 or (h, w) != (size, size):
            raise ValueError(f"{expected}; got {tuple(video.shape)} (wrong channels or resolution)")
        if t < 1 or t % n or (fixed_t and t != cfg.num_frames):
            raise ValueError(f"{expected}; got T = {t}")
        return b, t

    def _visual_tokens(self, patches: torch.Tensor, kept: torch.Tensor, batch: int, frames: int) -> torch.Tensor:
        """z̄*: CFAM patch tokens (B·T, P, D), LN'd per token, averaged over the frames of kept snippets, then
        projected. With ``visual_semantic`` the tokens first become snippet means, pass the frozen transformer,
        and are averaged over kept snippets (docs/method.md §1.5)."""
        snippets = kept.shape[1]
        if self.visual_semantic is not None:
            per_snippet = frames // snippets
            means = patches.view(batch * snippets, per_snippet, *patches.shape[1:]).mean(dim=1)  # (B·N, P, D)
            return self._semantic_tokens(means, kept)
        patches = self.prompt_visual_ln(patches).view(batch, frames, *patches.shape[1:])  # (B, T, P, D)
        per_group = frames // snippets
        weights = kept.to(patches.dtype) / (kept.sum(dim=1, keepdim=True) * per_group)
        group_weights = weights.repeat_interleave(per_group, dim=1)  # (B, T): 1/T* on frames of kept snippets
        # Projection is linear, so averaging before projecting equals projecting each token then averaging.
        return torch.einsum("bt,btpd->bpd", group_weights, patches) @ self.prompt_visual_proj.to(patches.dtype)

    def _semantic_tokens(self, means: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
        """z̄* of the ``visual_semantic`` source from the snippet-averaged patch tokens (B·N, P, D)."""
        assert self.visual_semantic is not None  # only called with that source
        batch, snippets = kept.shape
        tokens = self.visual_semantic(means, snippets)
        tokens = self.prompt_visual_ln(tokens).view(batch, snippets, *tokens.shape[1:])  # (B, N, P, D)
        weights = kept.to(tokens.dtype) / kept.sum(dim=1, keepdim=True)  # 1/N* on kept snippets
        return torch.einsum("bt,btpd->bpd", weights, tokens) @ self.prompt_visual_proj.to(tokens.dtype)

    def _fuse(self, local_logits: torch.Tensor, scores: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
        weights = scores * kept.to(scores.dtype)
        if self.config.fuse_level == "prob":
            # Eq. 10 on probabilities; weights renormalised over kept snippets so p_l is a distribution.
            weights = weights / weights.sum(dim=1, keepdim=True)
            probs = torch.einsum("bn,bnk->bk", weights, local_logits.softmax(dim=-1))
            return probs.clamp_min(1e-12).log()
        if self.config.renorm_fusion_weights:
            weights = weights / weights.sum(dim=1, keepdim=True)
        return torch.einsum("bn,bnk->bk", weights, local_logits)

    # ------------------------------------------------------------------ forward
    def forward(self, video: torch.Tensor) -> DKClipOutput:
        cfg = self.config
        batch, frames = self._check_input(video)
        n = cfg.num_snippets
        per_snippet = frames // n
        group = per_snippet if cfg.temporal == "hierarchical" else frames
        frame_feats, patches = self.visual(video.flatten(0, 1), group)
        frame_feats = frame_feats.view(batch, frames, -1)  # (B, T, E)
        snippets = frame_feats.view(batch, n, per_snippet, -1).mean(dim=2)  # (B, N, E), Eq. 5

        if cfg.temporal == "hierarchical":
            assert self.temporal is not None  # built for "hierarchical" in __init__
            video_feat = self.temporal(snippets)
        elif self.temporal is not None:
            video_feat = self.temporal(frame_feats)
        else:
            video_feat = frame_feats.mean(dim=1)

        scores, kept = self._noise_reduction(video_feat, snippets)
        visual_tokens = None if self.cmam is None else self._visual_tokens(patches, kept, batch, frames)
        return self._heads(video_feat, snippets, scores, kept, visual_tokens)

    def _noise_reduction(self, video_feat: torch.Tensor, snippets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The NRM's a* and kept mask (Eq. 9)."""
        cfg = self.config
        scores = snippet_scores(video_feat, snippets, self.logit_scale, cfg.nrm_eps, cfg.nrm_norm)
        # Without the NRM nothing is erased; a* still weights the local fusion.
        kept = keep_mask(scores.detach(), cfg.nrm_theta) if cfg.use_nrm else torch.ones_like(scores, dtype=torch.bool)
        return scores, kept

    def _heads(self, video_feat: torch.Tensor, snippets: torch.Tensor, scores: torch.Tensor, kept: torch.Tensor,
               visual_tokens: torch.Tensor | None) -> DKClipOutput:
        """CMAM on the class texts (Eq. 8), then the global, local and fused heads (Eq. 1, 10)."""
        text = self.text().to(video_feat.dtype)  # (K, E)
        text = text.unsqueeze(0).expand(video_feat.shape[0], -1, -1)
        if self.cmam is not None:
            assert visual_tokens is not None  # computed whenever the CMAM exists
            text = self.cmam(text, visual_tokens)
        text = F.normalize(text, dim=-1)

        logits = self.logit_scale * torch.einsum("be,bke->bk", F.normalize(video_feat, dim=-1), text)
        local_logits = self.logit_scale * torch.einsum("bne,bke->bnk", F.normalize(snippets, dim=-1), text)
        return DKClipOutput(
            logits=logits,
            local_logits=local_logits,
            fused_local_logits=self._fuse(local_logits, scores, kept),
            snippet_scores=scores,
            kept=kept,
            video_embedding=video_feat,
            snippet_embeddings=snippets,
            text_features=text,
            visual_tokens=visual_tokens,
        )

    # ------------------------------------------------------------------ snippet by snippet (docs/method.md §1.14)
    @property
    def supports_snippet_encoding(self) -> bool:
        """True when a snippet's features do not depend on the other snippets of its clip: the hierarchical
        model (messages within a snippet) and average pooling. Modes b/c mix frames across snippets."""
        return self.config.temporal in ("hierarchical", "avgpool")

    def encode_snippets(self, snippets: torch.Tensor) -> SnippetFeatures:
        """The CFAM over snippets (S, F, 3, H, W) of F frames each -> :class:`SnippetFeatures` with leading (S,).

        Together with :meth:`integrate` this is :meth:`forward` split at the snippets: ``integrate(encode(...))``
        equals ``forward`` within float rounding (the sums are ordered differently), so each snippet shared by
        overlapping windows is encoded once."""
        if not self.supports_snippet_encoding:
            raise ValueError(f"temporal={self.config.temporal!r} mixes frames across snippets: a snippet cannot be "
                             "encoded on its own")
        size = self.config.image_size
        if snippets.dim() != 5 or tuple(snippets.shape[2:]) != (3, size, size) or not snippets.is_floating_point():
            raise ValueError(f"expected float snippets of shape (S, F, 3, {size}, {size}); got "
                             f"{tuple(snippets.shape)} {snippets.dtype}")
        count, frames = snippets.shape[:2]
        class_tokens, patches = self.visual(snippets.flatten(0, 1), frames)
        embeddings = class_tokens.view(count, frames, -1).mean(dim=1)  # (S, E), Eq. 5
        tokens = None
        if self.cmam is not None:
            patches = patches.view(count, frames, *patches.shape[1:])
            if self.visual_semantic is not None:
                tokens = patches.mean(dim=1)  # (S, P, D): the frozen transformer mixes snippets, so it runs per clip
            else:
                # Eq. 7 per snippet: LN per token, mean over the snippet's frames, projection (linear, so the
                # window's mean over its kept snippets can follow in integrate).
                tokens = self.prompt_visual_ln(patches).mean(dim=1) @ self.prompt_visual_proj.to(patches.dtype)
        return SnippetFeatures(embeddings, tokens)

    def integrate(self, features: SnippetFeatures) -> DKClipOutput:
        """MSIM, NRM, CMAM and the heads over N encoded snippets per clip (leading dimensions (B, N))."""
        snippets = features.embeddings
        if snippets.dim() != 3 or snippets.shape[1] != self.config.num_snippets:
            raise ValueError(f"expected snippet features of shape (B, {self.config.num_snippets}, E); got "
                             f"{tuple(snippets.shape)}")
        # avgpool: the frame mean is the snippet mean, as snippets are of equal length
        video_feat = self.temporal(snippets) if self.temporal is not None else snippets.mean(dim=1)
        scores, kept = self._noise_reduction(video_feat, snippets)
        visual_tokens = None
        if self.cmam is not None:
            if features.tokens is None:
                raise ValueError("the CMAM needs the snippets' tokens (SnippetFeatures.tokens is None)")
            if self.visual_semantic is not None:
                visual_tokens = self._semantic_tokens(features.tokens.flatten(0, 1), kept)
            else:
                weights = kept.to(features.tokens.dtype) / kept.sum(dim=1, keepdim=True)  # 1/N* on kept snippets
                visual_tokens = torch.einsum("bn,bnpe->bpe", weights, features.tokens)
        return self._heads(video_feat, snippets, scores, kept, visual_tokens)

    # ------------------------------------------------------------------ optimisation
    def param_groups(self, base_lr: float, weight_decay: float, new_module_lr_mult: float = 10.0) -> list[dict]:
        """AdamW groups: CLIP visual weights at ``base_lr``, new modules at ``new_module_lr_mult`` × base_lr;
        no weight decay on 1-D parameters, biases, position embeddings and prompt context. The frozen text
        tower is excluded."""
        groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
        for name, param in self.named_parameters():
            if not param.requires_grad:
                continue
            is_clip = name.startswith("visual.") and not name.startswith("visual.messages.")
            no_decay = (param.ndim <= 1 or name.endswith(".bias") or "positional_embedding" in name
                        or name == "text.context")
            groups.setdefault((is_clip, no_decay), []).append(param)
        result = []
        for (is_clip, no_decay), params in sorted(groups.items(), key=lambda kv: (not kv[0][0], kv[0][1])):
            result.append({
                "params": params,
                "lr": base_lr if is_clip else base_lr * new_module_lr_mult,
                "weight_decay": 0.0 if no_decay else weight_decay,
                "name": f"{'clip' if is_clip else 'new'}_{'no_decay' if no_decay else 'decay'}",
            })
        return result
