"""What a scene is asked to be: :class:`SceneSpec` (size, length, faces, expressions, noise, look), checked."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..aus import class_names
from ..synth_config import NOISE_KINDS

# The generator's version, written to every truth file and meta.json.
SCENES_VERSION = "1.0"


@dataclass(frozen=True)
class SceneSpec:
    """What to render. Sizes in output pixels; fractions of the frame height where noted."""

    scene_id: str = "scene_000"
    seed: int = 0
    index: int = 0                  # seeds the scene's random streams together with ``seed``
    width: int = 640
    height: int = 360
    fps: int = 30
    num_frames: int = 120
    num_faces: int = 1
    face_height: tuple[float, float] = (0.22, 0.45)  # face-box height range, fraction of the frame height
    size_change: float = 0.35       # how much a face grows or shrinks over the scene (log-scale trend amplitude)
    enter_leave: float = 0.5        # probability that a face enters (and, independently, leaves) the frame
    allow_crossing: bool = False    # False: every face keeps to its own vertical lane, so faces never overlap
    expressions: tuple[int, int] = (1, 3)  # expression episodes per face, a range
    num_classes: int = 7
    noise_episodes: float = 0.5     # probability that an episode gets noise runs
    noise_fraction: tuple[float, float] = (0.15, 0.35)  # fraction of a noisy episode's frames that are noisy
    noise_kinds: tuple[str, ...] = NOISE_KINDS
    background: str = "busy"
    lighting: float = 0.5
    accessories: float = 0.3
    supersample: int = 2

    def __post_init__(self) -> None:
        if self.width < 64 or self.height < 64 or self.width % 2 or self.height % 4:
            raise ValueError(f"scene size must be at least 64×64 with an even width and a height divisible by 4 "
                             f"(H.264 4:2:0), got {self.width}×{self.height}")
        if self.fps < 1:
            raise ValueError(f"fps must be ≥ 1, got {self.fps}")
        if self.num_frames < 8:
            raise ValueError(f"a scene needs at least 8 frames, got {self.num_frames}")
        if not 0 <= self.num_faces <= 8:
            raise ValueError(f"num_faces must be in 0..8, got {self.num_faces}")
        lo, hi = self.face_height
        if not 0.02 <= lo <= hi <= 0.9:
            raise ValueError(f"face_height must be a range within [0.02, 0.9], got {self.face_height}")
        if not 1 <= self.expressions[0] <= self.expressions[1]:
            raise ValueError(f"expressions must be a range with 1 ≤ min ≤ max, got {self.expressions}")
        if not 0.0 <= self.enter_leave <= 1.0 or not 0.0 <= self.noise_episodes <= 1.0:
            raise ValueError("enter_leave and noise_episodes are probabilities in [0, 1]")
        lo, hi = self.noise_fraction
        if not 0.0 <= lo <= hi <= 0.9:
            raise ValueError(f"noise_fraction must satisfy 0 ≤ min ≤ max ≤ 0.9, got {self.noise_fraction}")
        unknown = set(self.noise_kinds) - set(NOISE_KINDS)
        if unknown:
            raise ValueError(f"unknown noise kinds {sorted(unknown)}; use {NOISE_KINDS}")
        if self.background not in ("plain", "busy"):
            raise ValueError(f"background must be 'plain' or 'busy', got {self.background!r}")
        if self.supersample < 1:
            raise ValueError("supersample must be ≥ 1")
        class_names(self.num_classes)  # validates

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d
