"""Generation settings and the two presets.

``aligned`` imitates the face-detector crops that DFEW/FERV39K/MAFW ship: the face fills the frame, the
background is a plain gradient, the head barely moves. It is the default because a feasibility run showed tiny
ViTs trained from scratch stay at chance on small faces over busy backgrounds. ``wild`` turns every nuisance
factor up (busy backgrounds, smaller faces, larger pose drift, stronger lighting) to stress the model's
robustness. Each factor is a field here, so the CLI can override one without leaving its preset.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

NOISE_KINDS: tuple[str, ...] = ("expression", "occlusion", "blur", "dark")
PRESETS: tuple[str, ...] = ("aligned", "wild")


@dataclass(frozen=True)
class SynthConfig:
    """Everything that shapes the frames, except which clips exist (see :class:`dkclip.synth.DatasetPlan`)."""

    preset: str = "aligned"
    size: int = 112                        # output frames are size × size pixels
    supersample: int = 2                   # drawn at size·supersample, then box-filtered down (anti-aliasing)
    face_scale: tuple[float, float] = (0.92, 1.04)  # face size range, 1.0 = face-detector crop
    offset: float = 0.02                   # static face-centre offset range, fraction of the frame
    translation: float = 0.025             # pose drift amplitude, fraction of the frame
    rotation: float = 4.0                  # in-plane rotation drift amplitude, degrees
    scale_drift: float = 0.03              # relative scale drift amplitude
    background: str = "plain"              # "plain" gradient or "busy" clutter
    lighting: float = 0.25                 # strength of directional light / brightness / tint variation, 0..1
    accessories: float = 0.3               # probability scale for glasses, hats, earrings
    # Noise (docs/method.md: runs of non-target expressions, occlusion, blur, dark frames).
    noise_clips: float = 0.6               # fraction of clips that get noise runs
    noise_fraction: tuple[float, float] = (0.25, 0.5)  # fraction of a noisy clip's frames that are noisy
    noise_kinds: tuple[str, ...] = NOISE_KINDS
    jpeg_quality: int = 90
    extra: dict[str, Any] = field(default_factory=dict)  # reserved, recorded in meta.json

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {PRESETS}, got {self.preset!r}")
        if self.size < 32:
            raise ValueError(f"size must be at least 32 px, got {self.size}")
        if self.supersample < 1:
            raise ValueError("supersample must be ≥ 1")
        if self.background not in ("plain", "busy"):
            raise ValueError(f"background must be 'plain' or 'busy', got {self.background!r}")
        lo, hi = self.noise_fraction
        if not 0.0 <= lo <= hi <= 0.9:
            raise ValueError(f"noise_fraction must satisfy 0 ≤ min ≤ max ≤ 0.9, got {self.noise_fraction}")
        if not 0.0 <= self.noise_clips <= 1.0:
            raise ValueError(f"noise_clips must be in [0, 1], got {self.noise_clips}")
        unknown = set(self.noise_kinds) - set(NOISE_KINDS)
        if unknown:
            raise ValueError(f"unknown noise kinds {sorted(unknown)}; use {NOISE_KINDS}")
        if not 0 < self.face_scale[0] <= self.face_scale[1] < math.inf:
            raise ValueError(f"face_scale must be a (min, max) range of positive numbers, got {self.face_scale}")
        # Amplitudes: a negative one gave numpy's "high - low < 0", nan "cannot convert float NaN to integer".
        for name in ("offset", "translation", "rotation", "scale_drift"):
            value = getattr(self, name)
            if not 0.0 <= value < math.inf:
                raise ValueError(f"{name} must be a number ≥ 0, got {value}")
        for name in ("lighting", "accessories"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["face_scale"] = list(self.face_scale)
        d["noise_fraction"] = list(self.noise_fraction)
        d["noise_kinds"] = list(self.noise_kinds)
        return d


_WILD: dict[str, Any] = dict(
    face_scale=(0.5, 0.78),
    offset=0.14,
    translation=0.08,
    rotation=14.0,
    scale_drift=0.1,
    background="busy",
    lighting=0.7,
    accessories=0.5,
)


def preset_config(preset: str = "aligned", **overrides: Any) -> SynthConfig:
    """The config of a preset with some fields overridden (None values are ignored, as from an unset CLI flag)."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
    base = SynthConfig(preset=preset)
    if preset == "wild":
        base = replace(base, **_WILD)
    clean = {k: v for k, v in overrides.items() if v is not None}
    return replace(base, **clean)
