"""Captions for single synthetic frames, composed from the generator's per-frame ground truth.

A caption mixes, at random: FACS action-unit names by intensity (the vocabulary of DK-CLIP's AU-enriched
prompts: "cheek raiser", "lip corner puller", ...; always, when any AU is active), an emotion word with
synonyms (only sometimes: a quarter of the frames that show exactly one class's AU set, so the AU names, not
the emotion nouns, are the main link between faces and language), appearance words, and nuisance words for noise frames
("blurry", "dark", "occluded"). A caption is never one of the prompt strings, so zero-shot classification
with the prompts has to generalise from the captions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..prompts import PROMPT_SETS
from ..synth.aus import AU_IDS, AU_NAMES, active_aus, class_au_set, class_names
from ..synth.identity import Appearance

EMOTION_WORDS: dict[str, tuple[str, ...]] = {
    "happiness": ("happy", "joyful", "cheerful", "smiling", "happiness", "delighted"),
    "sadness": ("sad", "unhappy", "sorrowful", "downcast", "sadness", "gloomy"),
    "neutral": ("neutral", "calm", "expressionless", "relaxed", "blank"),
    "anger": ("angry", "furious", "irritated", "mad", "anger", "annoyed"),
    "surprise": ("surprised", "astonished", "amazed", "startled", "surprise", "shocked"),
    "disgust": ("disgusted", "repulsed", "revolted", "disgust", "grossed out"),
    "fear": ("afraid", "scared", "fearful", "frightened", "fear", "terrified"),
    "contempt": ("contemptuous", "scornful", "sneering", "contempt", "disdainful"),
    "anxiety": ("anxious", "worried", "nervous", "uneasy", "anxiety", "tense"),
    "helplessness": ("helpless", "powerless", "resigned", "helplessness", "defeated"),
    "disappointment": ("disappointed", "let down", "dismayed", "disappointment", "dissatisfied"),
}
NUISANCE_WORDS: dict[str, tuple[str, ...]] = {
    "blur": ("blurry", "out of focus", "motion blurred"),
    "dark": ("dark", "underexposed", "dim"),
    "occlusion": ("occluded", "partly covered", "partially hidden"),
}
_STRENGTH = ((0.7, ("strong", "intense", "marked")), (0.4, ("",)), (0.15, ("slight", "weak", "subtle")))
_AU_VERBS = ("showing", "with", "making")
_PROMPTS = {p.lower().rstrip(".") for prompts in PROMPT_SETS.values() for p in prompts}


def _skin_word(rgb: Sequence[int]) -> str:
    lum = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    return "dark-skinned" if lum < 110 else "light-skinned" if lum > 190 else "medium-skinned"


def _hair_word(rgb: Sequence[int]) -> str:
    r, g, b = rgb
    lum = (r + g + b) / 3
    if lum < 60:
        return "black-haired"
    if lum > 170 and max(rgb) - min(rgb) < 40:
        return "grey-haired"
    if r > g + 30 and r > b + 30:
        return "red-haired" if r > 150 else "brown-haired"
    return "blond" if lum > 140 else "brown-haired"


class CaptionComposer:
    """``compose(aus, noise, appearance, rng) -> str``; deterministic for a given generator state."""

    def __init__(self, num_classes: int = 7, p_emotion: float = 0.25, p_appearance: float = 0.4,
                 p_au: float = 1.0) -> None:
        self.names = class_names(num_classes)
        self.class_sets = [class_au_set(k, num_classes) for k in range(num_classes)]
        self.p_emotion = p_emotion
        self.p_appearance = p_appearance
        self.p_au = p_au

    def emotion_of(self, aus: np.ndarray) -> str | None:
        """The class whose AU set the frame shows exactly, if any."""
        active = active_aus(aus)
        for name, au_set in zip(self.names, self.class_sets, strict=True):
            if active == au_set:
                return name
        return None

    def _au_phrase(self, aus: np.ndarray, rng: np.random.Generator) -> str | None:
        order = [i for i in np.argsort(-aus, kind="stable") if aus[i] >= 0.15]
        if not order:
            return None
        parts = []
        for i in order:
            for threshold, words in _STRENGTH:
                if aus[i] >= threshold:
                    word = words[int(rng.integers(len(words)))]
                    break
            parts.append(f"{word} {AU_NAMES[AU_IDS[i]]}".strip())
        if rng.random() < 0.3:
            rng.shuffle(parts)
        return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"

    def compose(self, aus: np.ndarray, noise: str | None, appearance: Appearance,
                rng: np.random.Generator) -> str:
        aus = np.asarray(aus, dtype=np.float64)
        subject = "face"
        if rng.random() < self.p_appearance:
            extras = [_skin_word(appearance.skin)]
            if appearance.hair_style not in ("bald", "none"):
                extras.append(_hair_word(appearance.hair))
            adjective = extras[int(rng.integers(len(extras)))]
            subject = f"{adjective} face"
            if appearance.glasses != "none" and rng.random() < 0.5:
                subject += " with glasses"
            elif appearance.beard not in ("none", "") and rng.random() < 0.5:
                subject += " with a beard"
        emotion = self.emotion_of(aus)
        mood = None
        if emotion is not None and rng.random() < self.p_emotion:
            words = EMOTION_WORDS[emotion]
            mood = words[int(rng.integers(len(words)))]
        au_phrase = self._au_phrase(aus, rng) if rng.random() < self.p_au or mood is None else None
        article = "an" if subject[0] in "aeiou" else "a"
        caption = f"{article} {subject}"
        if mood is not None:
            caption = f"{caption}, {mood}" if rng.random() < 0.5 else f"{article} {subject} looking {mood}"
        if au_phrase is not None:
            caption += f" {_AU_VERBS[int(rng.integers(len(_AU_VERBS)))]} {au_phrase}"
        elif emotion == "neutral" and mood is None:
            caption += " at rest"
        if noise in NUISANCE_WORDS:
            words = NUISANCE_WORDS[noise]
            caption += f", {words[int(rng.integers(len(words)))]}"
        if caption.lower() in _PROMPTS:  # never a prompt string verbatim
            caption = f"a photo of {caption}"
        return caption
