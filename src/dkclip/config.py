"""The typed model configuration: the network (every architectural knob of DK-CLIP and of the paper's
ablations, Tables 4-6) and the preprocessing its weights expect (input size, normalisation, frames, snippets,
class names). It is saved as ``config.json`` beside every exported model, so a model is always used the way
it was trained. Training-time switches (gradient checkpointing, a frozen patch embedding or MSIM, the
consistency losses) are not part of it: they live in the run config.

Defaults follow docs/method.md §8: the paper + X-CLIP behaviour, with switches for what the authors' code does.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from .constants import IMAGENET_MEAN, IMAGENET_STD
from .errors import ConfigError

logger = logging.getLogger(__name__)

TemporalMode = Literal["avgpool", "transformer", "cross_frame", "hierarchical"]
TEMPORAL_MODES: tuple[str, ...] = ("avgpool", "transformer", "cross_frame", "hierarchical")

# Keys of configs written before training switches left the architecture config; read and ignored.
_LEGACY_TRAINING_KEYS = {"use_consistency": "loss.use_consistency", "freeze_patch_embed": "optim.freeze_patch_embed",
                         "grad_checkpointing": "run.grad_checkpointing"}


@dataclass
class DKClipConfig:
    """Configuration of one DK-CLIP model.

    ``clip`` is the open_clip architecture (``embed_dim``, ``vision_cfg``, ``text_cfg``, ``quick_gelu``) stored
    in full, so that a saved config rebuilds the model without consulting open_clip's registry.
    """

    name: str = "dkclip-custom"
    clip: dict[str, Any] = field(default_factory=dict)

    # Clip layout: T sampled frames in N snippets of T/N consecutive frames (docs/method.md §1.2). ``num_frames`` is the
    # training T (and the only T of the frame-level temporal modes); ``eval_num_frames`` the T the model is
    # evaluated and run on (None: ``num_frames``), sampled at segment centres, short clips by ``short_clip``.
    num_frames: int = 16
    num_snippets: int = 4
    eval_num_frames: int | None = None
    short_clip: Literal["loop", "pad"] = "loop"

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
    # Where the CMAM's visual tokens come from (Eq. 7, docs/method.md §1.5, D1): "cfam_patches" (the paper, X-CLIP:
    # the CFAM's patch tokens) or "visual_semantic" (the released code: the snippet-averaged patch tokens through
    # a second, randomly initialised and frozen message-token transformer as deep and wide as the ViT).
    cmam_visual_source: Literal["cfam_patches", "visual_semantic"] = "cfam_patches"
    cmam_layers: int = 2
    cmam_gamma_init: float = 0.1
    cmam_gamma_per_channel: bool = True
    cmam_residual: Literal["code", "paper"] = "code"

    # NRM (Eq. 9) and the local fusion (Eq. 10).
    use_nrm: bool = True
    nrm_theta: float = 0.15
    nrm_eps: float = 1e-6
    # Per-clip normalisation before the NRM softmax: "minmax" (Eq. 9, the authors' code), "zscore" or "none".
    nrm_norm: Literal["minmax", "zscore", "none"] = "minmax"
    fuse_level: Literal["logit", "prob"] = "logit"
    renorm_fusion_weights: bool = False

    # Initialisation of the new modules where the released code differs (docs/method.md §1.4-1.5): "default"
    # (prompt_visual_proj randn·D^-1/2, MSIM attention in-projection trunc-normal(0.02)) or "authors_code"
    # (randn with std 1; PyTorch's xavier-uniform in-projection).
    init_style: Literal["default", "authors_code"] = "default"

    # Logits: cos similarity times this scale (CLIP's 100, frozen). None: the CLIP checkpoint's own exp(logit_scale).
    logit_scale: float | None = 100.0

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
    def test_num_frames(self) -> int:
        """The T the model is evaluated and run on."""
        return self.eval_num_frames or self.num_frames

    @property
    def frames_per_snippet(self) -> int:
        return self.num_frames // self.num_snippets

    @property
    def num_classes(self) -> int:
        return len(self.prompts)

    @property
    def class_labels(self) -> list[str]:
        """The class names, or ``class0, class1, ...`` for prompts given without names."""
        return list(self.class_names) or [f"class{i}" for i in range(self.num_classes)]

    @property
    def normalization(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return tuple(self.image_mean), tuple(self.image_std)

    @property
    def embed_dim(self) -> int:
        return int(self.clip["embed_dim"])

    # ------------------------------------------------------------------ checks and serialisation
    def validate(self) -> None:
        """Raise :class:`~dkclip.errors.ConfigError` (a ``ValueError``) naming the field at fault."""
        if self.temporal not in TEMPORAL_MODES:
            raise ConfigError(f"temporal must be one of {TEMPORAL_MODES}, got {self.temporal!r}")
        if self.num_frames < 1 or self.num_snippets < 1 or self.num_frames % self.num_snippets:
            raise ConfigError(
                f"num_frames ({self.num_frames}) must be a positive multiple of num_snippets ({self.num_snippets})"
            )
        if self.eval_num_frames is not None:
            fixed = self.temporal in ("transformer", "cross_frame")
            if fixed and self.eval_num_frames != self.num_frames:
                raise ConfigError(f"eval_num_frames ({self.eval_num_frames}) must equal num_frames "
                                  f"({self.num_frames}) for temporal={self.temporal!r} (one embedding per frame)")
            if self.eval_num_frames < 1 or self.eval_num_frames % self.num_snippets:
                raise ConfigError(f"eval_num_frames ({self.eval_num_frames}) must be a positive multiple of "
                                  f"num_snippets ({self.num_snippets})")
        if self.short_clip not in ("loop", "pad"):
            raise ConfigError(f"short_clip must be 'loop' or 'pad', got {self.short_clip!r}")
        if len(self.image_mean) != 3 or len(self.image_std) != 3 or min(self.image_std) <= 0:
            raise ConfigError(f"image_mean/image_std must be 3 values (std > 0), got {self.image_mean}, "
                              f"{self.image_std}")
        if self.cmam_residual not in ("code", "paper"):
            raise ConfigError(f"cmam_residual must be 'code' or 'paper', got {self.cmam_residual!r}")
        if self.cmam_visual_source not in ("cfam_patches", "visual_semantic"):
            raise ConfigError(f"cmam_visual_source must be 'cfam_patches' or 'visual_semantic', got "
                              f"{self.cmam_visual_source!r}")
        if self.cmam_visual_source != "cfam_patches" and not self.use_cmam:
            raise ConfigError(f"cmam_visual_source={self.cmam_visual_source!r} feeds the CMAM; it needs use_cmam=True")
        if self.init_style not in ("default", "authors_code"):
            raise ConfigError(f"init_style must be 'default' or 'authors_code', got {self.init_style!r}")
        if self.fuse_level not in ("logit", "prob"):
            raise ConfigError(f"fuse_level must be 'logit' or 'prob', got {self.fuse_level!r}")
        if self.msim_layers < 1 or self.cmam_layers < 1:
            raise ConfigError("msim_layers and cmam_layers must be >= 1")
        if self.nrm_norm not in ("minmax", "zscore", "none"):
            raise ConfigError(f"nrm_norm must be 'minmax', 'zscore' or 'none', got {self.nrm_norm!r}")
        if not 0.0 <= self.nrm_theta < 1.0:
            raise ConfigError(f"nrm_theta must lie in [0, 1), got {self.nrm_theta}")
        if self.coop_context_tokens < 0:
            raise ConfigError("coop_context_tokens must be >= 0")
        if self.class_names and len(self.class_names) != len(self.prompts):
            raise ConfigError(f"{len(self.class_names)} class names for {len(self.prompts)} prompts")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DKClipConfig:
        data = dict(data)
        for key, moved_to in _LEGACY_TRAINING_KEYS.items():
            if key in data:
                value = data.pop(key)
                logger.debug("config key %r (=%r) is a training setting now (%s); ignored here", key, value, moved_to)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown DK-CLIP config keys: {unknown}")
        return cls(**copy.deepcopy(data))

    @classmethod
    def from_json(cls, text: str) -> DKClipConfig:
        return cls.from_dict(json.loads(text))

    def replace(self, **overrides: Any) -> DKClipConfig:
        data = self.to_dict()
        data.update(overrides)
        return DKClipConfig.from_dict(data)
