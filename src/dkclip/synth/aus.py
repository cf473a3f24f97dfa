"""Facial action units (FACS) and the expression → AU sets that drive the synthetic faces.

The seven basic classes use exactly the AU sets of the paper's Table 1, so the synthetic data exercises the
premise of DK-CLIP's AU-enriched prompts: a class is recognisable from the AUs its prompt names. The four
MAFW-like extra classes get plausible sets chosen to overlap the basic ones only partly (contempt is the only
unilateral one), as the real compound classes do.

Intensities are continuous in [0, 1] (FACS A..E mapped onto 0.2..1.0). A face state is a pair of vectors over
:data:`AU_IDS`, one per side of the face, so unilateral actions (contempt's AU12/AU14) are representable.
Sides follow FACS: ``R`` is the subject's right (image left), ``L`` the subject's left (image right).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..prompts import AU_NAMES, DFEW_CLASSES, MAFW_CLASSES

# Every AU the renderer draws, in the order of the per-frame intensity vectors.
AU_IDS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 24, 25, 26)
AU_INDEX: dict[int, int] = {au: i for i, au in enumerate(AU_IDS)}


@dataclass(frozen=True)
class AUProfile:
    """The apex AU pattern of a class: typical intensity per AU, and AUs that act on one side only."""

    intensities: Mapping[int, float]
    unilateral: frozenset[int] = frozenset()


# Paper Table 1 (neutral has none). Typical apex intensities keep the defining AUs strong (≥ 0.7) so they read
# at 112 px; secondary ones a bit lower, as in posed FACS-coded data.
BASIC_PROFILES: tuple[AUProfile, ...] = (
    AUProfile({6: 0.8, 12: 1.0, 25: 0.8}),                        # 0 happiness
    AUProfile({1: 0.9, 4: 0.7, 15: 0.9, 17: 0.7}),                # 1 sadness
    AUProfile({}),                                                # 2 neutral
    AUProfile({4: 1.0, 7: 0.8, 17: 0.7, 24: 0.9}),                # 3 anger
    AUProfile({1: 0.9, 2: 0.9, 5: 1.0, 25: 0.9, 26: 0.9}),        # 4 surprise
    AUProfile({9: 1.0, 10: 0.9, 17: 0.7}),                        # 5 disgust
    AUProfile({1: 0.9, 2: 0.7, 4: 0.7, 5: 1.0, 20: 0.9, 25: 0.7}),  # 6 fear
)

# MAFW-like compound classes: plausible sets from the FACS literature, kept distinguishable from the basic ones.
EXTRA_PROFILES: tuple[AUProfile, ...] = (
    AUProfile({12: 0.9, 14: 0.9}, unilateral=frozenset({12, 14})),  # 7 contempt: one-sided smirk
    AUProfile({1: 0.8, 4: 0.8, 7: 0.6, 20: 0.6, 23: 0.9}),          # 8 anxiety: knit brows, tight lips
    AUProfile({1: 0.9, 15: 0.8, 25: 0.7, 26: 0.5}),                 # 9 helplessness: raised brows, slack mouth
    AUProfile({14: 0.6, 15: 0.8, 17: 0.9, 24: 0.8}),                # 10 disappointment: pressed, pulled-down mouth
)


def class_names(num_classes: int) -> tuple[str, ...]:
    """Class names in label order (docs/method.md §4.3): the DFEW order for 7, the DFER-CLIP MAFW order for 11."""
    if num_classes == 7:
        return DFEW_CLASSES
    if num_classes == 11:
        return MAFW_CLASSES
    raise ValueError(f"num_classes must be 7 or 11, got {num_classes}")


def class_profiles(num_classes: int) -> tuple[AUProfile, ...]:
    """AU profiles in label order for the 7- or 11-class label set."""
    class_names(num_classes)  # validates
    return BASIC_PROFILES if num_classes == 7 else BASIC_PROFILES + EXTRA_PROFILES


def class_au_set(label: int, num_classes: int = 7) -> frozenset[int]:
    """The AUs that define class ``label`` (empty for neutral)."""
    return frozenset(class_profiles(num_classes)[label].intensities)


def sample_apex(profile: AUProfile, rng: np.random.Generator, side: str | None = None) -> np.ndarray:
    """Apex intensities, shape (2, len(AU_IDS)) as [R, L], with per-clip variation of ±25 % around the profile.

    Unilateral AUs act on ``side`` ("R" or "L", drawn at random when None) and stay at zero on the other side;
    the rest act on both sides with a small asymmetry, as real faces do.
    """
    apex = np.zeros((2, len(AU_IDS)), dtype=np.float64)
    if side is None:
        side = "R" if rng.random() < 0.5 else "L"
    for au, typical in profile.intensities.items():
        value = float(np.clip(typical * rng.uniform(0.8, 1.15), 0.45, 1.0))
        if au in profile.unilateral:
            apex[0 if side == "R" else 1, AU_INDEX[au]] = value
        else:
            skew = rng.uniform(-0.06, 0.06)
            apex[:, AU_INDEX[au]] = np.clip([value + skew, value - skew], 0.0, 1.0)
    return apex


def active_aus(intensities: Sequence[float] | np.ndarray, threshold: float = 0.15) -> frozenset[int]:
    """The AUs whose intensity (one vector over :data:`AU_IDS`) reaches ``threshold``."""
    vec = np.asarray(intensities, dtype=np.float64)
    return frozenset(AU_IDS[i] for i in np.flatnonzero(vec >= threshold))


def describe_aus(intensities: Sequence[float] | np.ndarray, threshold: float = 0.15,
                 unilateral: Mapping[int, str] | None = None) -> str:
    """A caption naming the active AUs, strongest first, e.g. "a face with lip corner puller and cheek raiser".

    Meant for contrastive pretraining on single frames with AU captions.
    """
    vec = np.asarray(intensities, dtype=np.float64)
    order = [i for i in np.argsort(-vec, kind="stable") if vec[i] >= threshold]
    if not order:
        return "a neutral face"
    names = []
    for i in order:
        au = AU_IDS[i]
        side = (unilateral or {}).get(au)
        prefix = {"R": "right ", "L": "left "}.get(side or "", "")
        names.append(prefix + AU_NAMES[au])
    if len(names) == 1:
        return f"a face with {names[0]}"
    return f"a face with {', '.join(names[:-1])} and {names[-1]}"
