"""The typed model configuration. Every knob of DK-CLIP and of the paper's ablations (Tables 4-6) lives here.

Defaults follow SPEC §8: the paper + X-CLIP behaviour, with switches for what the authors' code does.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

TemporalMode = Literal["avgpool", "transformer", "cross_frame", "hierarchical"]
TEMPORAL_MODES: tuple[str, ...] = ("avgpool", "transformer", "cross_frame", "hierarchical")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class DKClipConfig:
    """Configuration of one DK-CLIP model.

    ``clip`` is the open_clip architecture (``embed_dim``, ``vision_cfg``, ``text_cfg``, ``quick_gelu``) stored
    in full, so that a saved config rebuilds the model without consulting open_clip's registry.
    """

    name: str = "dkclip-custom"
    clip: dict[str, Any] = field(default_factory=dict)

    # Clip layout: T sampled frames in N snippets of T/N consecutive frames (SPEC §1.2).
    num_frames: int = 16
    num_snippets: int = 4

    # Temporal modelling (Table 5): a avgpool, b transformer, c cross_frame, d hierarchical (DK-CLIP).
    temporal: TemporalMode = "hierarchical"
    msim_layers: int = 1

    # Text side.
    prompts: list[str] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    coop_context_tokens: int = 0  # Table 6 b: learnable context tokens "X X X X {prompt}" (0 = off)
    coop_class_specific: bool = True

    # CMAM (Eq. 8).
    use_cmam: bool = True
    cmam_layers: int = 2
    cmam_gamma_init: float = 0.1
    cmam_gamma_per_channel: bool = True
    cmam_residual: Literal["code", "paper"] = "code"

    # NRM (Eq. 9) and the local fusion (Eq. 10).
    use_nrm: bool = True
    nrm_theta: float = 0.15
    nrm_eps: float = 1e-6
    fuse_level: Literal["logit", "prob"] = "logit"
    renorm_fusion_weights: bool = False

    # Consistency regularisation (Eq. 11); read by the loss.
    use_consistency: bool = True

    # Logits: cos similarity times this scale (CLIP's 100, frozen). None: the CLIP checkpoint's own exp(logit_scale).
    logit_scale: float | None = 100.0

    # Training-time structure.
    freeze_patch_embed: bool = False  # the paper freezes it; the authors' code trains it (SPEC D3)
    grad_checkpointing: bool = False

    # Preprocessing that travels with the weights (the authors normalise with ImageNet statistics).
    image_mean: tuple[float, float, float] = IMAGENET_MEAN
    image_std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        self.image_mean = tuple(self.image_mean)  # type: ignore[assignment]
        self.image_std = tuple(self.image_std)  # type: ignore[assignment]
        self.validate()

    # ------------------------------------------------------------------ derived values
    @property
    def image_size(self) -> int:
        size = self.clip.get("vision_cfg", {}).get("image_size", 224)
        return int(size[0] if isinstance(size, list | tuple) else size)

    @property
    def frames_per_snippet(self) -> int:
        return self.num_frames // self.num_snippets

    @property
    def num_classes(self) -> int:
        return len(self.prompts)

    @property
    def embed_dim(self) -> int:
        return int(self.clip["embed_dim"])

    # ------------------------------------------------------------------ checks and serialisation
    def validate(self) -> None:
        if self.temporal not in TEMPORAL_MODES:
            raise ValueError(f"temporal must be one of {TEMPORAL_MODES}, got {self.temporal!r}")
        if self.num_frames < 1 or self.num_snippets < 1 or self.num_frames % self.num_snippets:
            raise ValueError(
                f"num_frames ({self.num_frames}) must be a positive multiple of num_snippets ({self.num_snippets})"
            )
        if self.cmam_residual not in ("code", "paper"):
            raise ValueError(f"cmam_residual must be 'code' or 'paper', got {self.cmam_residual!r}")
        if self.fuse_level not in ("logit", "prob"):
            raise ValueError(f"fuse_level must be 'logit' or 'prob', got {self.fuse_level!r}")
        if self.msim_layers < 1 or self.cmam_layers < 1:
            raise ValueError("msim_layers and cmam_layers must be >= 1")
        if not 0.0 <= self.nrm_theta < 1.0:
            raise ValueError(f"nrm_theta must lie in [0, 1), got {self.nrm_theta}")
        if self.coop_context_tokens < 0:
            raise ValueError("coop_context_tokens must be >= 0")
        if self.class_names and len(self.class_names) != len(self.prompts):
            raise ValueError(f"{len(self.class_names)} class names for {len(self.prompts)} prompts")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DKClipConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown DK-CLIP config keys: {unknown}")
        return cls(**copy.deepcopy(data))

    @classmethod
    def from_json(cls, text: str) -> DKClipConfig:
        return cls.from_dict(json.loads(text))

    def replace(self, **overrides: Any) -> DKClipConfig:
        data = self.to_dict()
        data.update(overrides)
        return DKClipConfig.from_dict(data)
