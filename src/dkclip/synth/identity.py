"""Identities: the fixed appearance of one synthetic person (face shape, feature placement, colours, hair).

An identity is drawn from its own seed, independent of the clips that show it, so every clip of a person shows
the same face. That is what makes identity-disjoint folds meaningful: a test fold holds faces never seen in
training. Geometry is in face units (x right, y down, face half-width ≈ 1, eyes near y = -0.15).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

# Fitzpatrick-like range of skin tones, light to dark (sRGB).
SKIN_TONES: tuple[tuple[int, int, int], ...] = (
    (250, 222, 198), (240, 198, 168), (226, 176, 140), (204, 148, 108),
    (172, 116, 80), (136, 88, 60), (104, 66, 44), (78, 50, 36),
)
HAIR_COLOURS: tuple[tuple[int, int, int], ...] = (
    (28, 24, 22), (58, 40, 28), (96, 64, 40), (140, 98, 56), (206, 172, 112),
    (150, 70, 38), (150, 150, 150), (220, 218, 212),
)
IRIS_COLOURS: tuple[tuple[int, int, int], ...] = (
    (60, 40, 28), (92, 60, 34), (60, 100, 140), (70, 110, 70), (110, 100, 60), (35, 28, 26),
)
HAIR_STYLES: tuple[str, ...] = ("short", "long", "bald", "bun", "curly", "fringe")
BEARDS: tuple[str, ...] = ("none", "stubble", "moustache", "full")


@dataclass(frozen=True)
class Appearance:
    """Static look of one identity. All lengths in face units."""

    identity: int
    face_w: float            # half-width of the face at the cheekbones
    face_top: float          # distance from the centre to the top of the skull
    face_bot: float          # distance from the centre to the chin
    jaw: float               # chin width relative to the cheekbones
    eye_y: float
    eye_dx: float            # half the distance between the eye centres
    eye_w: float             # half-width of an eye opening
    eye_h: float             # height of the neutral upper lid above the eye line
    eye_tilt: float          # outer corner rise
    brow_gap: float          # brow height above the eye line
    brow_thick: float
    brow_arch: float
    nose_y: float
    nose_w: float
    mouth_y: float
    mouth_w: float           # half-width of the mouth
    lip_th: float            # upper-lip thickness (the lower is 1.3×)
    age: float               # 0..1, depth of permanent lines (nasolabial folds, forehead)
    skin: tuple[int, int, int]
    lips: tuple[int, int, int]
    iris: tuple[int, int, int]
    hair_style: str
    hair: tuple[int, int, int]
    hairline: float          # y of the hairline at the centre of the forehead
    beard: str
    glasses: str             # "none", "round" or "square"
    glasses_colour: tuple[int, int, int]
    earrings: bool
    shirt: tuple[int, int, int]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, float):
                d[k] = round(v, 4)
            elif isinstance(v, tuple):
                d[k] = list(v)
        return d


def identity_rng(seed: int, identity: int) -> np.random.Generator:
    """The generator of one identity: depends on (dataset seed, identity) only."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), 1, int(identity)]))


def _jitter(rng: np.random.Generator, rgb: tuple[int, int, int], amount: float) -> tuple[int, int, int]:
    arr = np.asarray(rgb, dtype=np.float64) + rng.normal(0.0, amount, 3)
    return tuple(int(v) for v in np.clip(np.round(arr), 0, 255))  # type: ignore[return-value]


def sample_appearance(identity: int, rng: np.random.Generator, accessories: float = 0.3) -> Appearance:
    """Draw an identity. ``accessories`` scales the probability of glasses and earrings."""
    u = rng.uniform
    skin_idx = int(rng.integers(len(SKIN_TONES)))
    skin = _jitter(rng, SKIN_TONES[skin_idx], 6.0)
    s = np.asarray(skin, dtype=np.float64)
    lips = tuple(int(v) for v in np.clip(s * np.array([0.80, 0.52, 0.52]) + np.array([30, 0, 4]), 0, 255))
    hair_style = str(rng.choice(HAIR_STYLES, p=[0.3, 0.22, 0.08, 0.12, 0.14, 0.14]))
    hair = HAIR_COLOURS[int(rng.choice(len(HAIR_COLOURS), p=[0.24, 0.2, 0.16, 0.1, 0.1, 0.08, 0.07, 0.05]))]
    age = u(0.5, 1.0) if hair in (HAIR_COLOURS[6], HAIR_COLOURS[7]) else u(0.0, 0.6)
    beard = str(rng.choice(BEARDS, p=[0.72, 0.1, 0.1, 0.08]))
    glasses = "none"
    if rng.random() < 0.5 * accessories:
        glasses = "round" if rng.random() < 0.5 else "square"
    glasses_colour = ((20, 20, 24), (90, 50, 30), (150, 150, 160), (120, 20, 30))[int(rng.integers(4))]
    eye_y = u(-0.2, -0.1)
    return Appearance(
        identity=identity,
        face_w=u(0.86, 1.0),
        face_top=u(1.12, 1.25),
        face_bot=u(1.18, 1.32),
        jaw=u(0.5, 0.7),
        eye_y=eye_y,
        eye_dx=u(0.37, 0.45),
        eye_w=u(0.19, 0.23),
        eye_h=u(0.085, 0.105),
        eye_tilt=u(-0.01, 0.035),
        brow_gap=u(0.2, 0.26),
        brow_thick=u(0.075, 0.1),
        brow_arch=u(0.02, 0.06),
        nose_y=u(0.26, 0.34),
        nose_w=u(0.13, 0.19),
        mouth_y=u(0.6, 0.7),
        mouth_w=u(0.3, 0.37),
        lip_th=u(0.065, 0.09),
        age=age,
        skin=skin,
        lips=lips,  # type: ignore[arg-type]
        iris=IRIS_COLOURS[int(rng.integers(len(IRIS_COLOURS)))],
        hair_style=hair_style,
        hair=_jitter(rng, hair, 5.0),
        hairline=u(-0.92, -0.8),
        beard=beard,
        glasses=glasses,
        glasses_colour=glasses_colour,
        earrings=bool(rng.random() < 0.3 * accessories),
        shirt=_jitter(rng, (int(rng.integers(30, 220)), int(rng.integers(30, 220)), int(rng.integers(30, 220))), 0),
    )
