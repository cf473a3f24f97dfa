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
        if mode == "hierarchical":
            self.temporal: TemporalIntegrator | None = TemporalIntegrator(embed, config.num_snippets,
                                                                          config.msim_layers)
        elif mode in ("transformer", "cross_frame"):
            self.temporal = TemporalIntegrator(embed, config.num_frames, config.msim_layers)
        else:
            self.temporal = None
        self.cmam: CrossModalAttention | None = None
        if config.use_cmam:
            width = self.visual.width
            self.prompt_visual_ln = nn.LayerNorm(width)
            self.prompt_visual_proj = nn.Parameter(torch.randn(width, embed) * width**-0.5)
            self.cmam = CrossModalAttention(embed, config.cmam_layers, config.cmam_gamma_init,
                                            config.cmam_gamma_per_channel, config.cmam_residual)
        scale = config.logit_scale if config.logit_scale is not None else float(clip.logit_scale.detach().exp())
        self.logit_scale = float(scale)

    # ------------------------------------------------------------------ helpers
    @property
    def num_classes(self) -> int:
        return len(self.text.prompts)

    def set_grad_checkpointing(self, enable: bool = True) -> DKClip:
        """Recompute each ViT block's activations in the backward pass (less memory, ~30% more compute)."""
        self.visual.grad_checkpointing = enable
        return self

    def freeze_patch_embed(self, freeze: bool = True) -> DKClip:
        """Freeze (or unfreeze) the patch embedding: the paper freezes it, the authors' code trains it
        (docs/method.md §6.1, D3)."""
        self.visual.conv1.weight.requires_grad_(not freeze)
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
        """z̄*: CFAM patch tokens, LN'd per token, averaged over the frames of kept snippets, then projected."""
        patches = self.prompt_visual_ln(patches).view(batch, frames, *patches.shape[1:])  # (B, T, P, D)
        per_snippet = frames // kept.shape[1]
        weights = kept.to(patches.dtype) / (kept.sum(dim=1, keepdim=True) * per_snippet)
        frame_weights = weights.repeat_interleave(per_snippet, dim=1)  # (B, T): 1/T* on frames of kept snippets
        # Projection is linear, so averaging before projecting equals projecting each frame then averaging.
        return torch.einsum("bt,btpd->bpd", frame_weights, patches) @ self.prompt_visual_proj.to(patches.dtype)

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

        scores = snippet_scores(video_feat, snippets, self.logit_scale, cfg.nrm_eps)
        # Without the NRM nothing is erased; a* still weights the local fusion.
        kept = keep_mask(scores.detach(), cfg.nrm_theta) if cfg.use_nrm else torch.ones_like(scores, dtype=torch.bool)

        text = self.text().to(video_feat.dtype)  # (K, E)
        text = text.unsqueeze(0).expand(batch, -1, -1)
        visual_tokens = None
        if self.cmam is not None:
            visual_tokens = self._visual_tokens(patches, kept, batch, frames)
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
