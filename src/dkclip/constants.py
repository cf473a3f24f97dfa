"""Constants shared by the model, the data pipeline and the tools: normalisation statistics of the two
conventions CLIP-based video models use."""

from __future__ import annotations

# ImageNet statistics: what the authors' pipeline normalises with (docs/method.md §3.5).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
# OpenAI CLIP's own statistics (its image preprocessing).
CLIP_MEAN: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)

NORMALIZATIONS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
    "clip": (CLIP_MEAN, CLIP_STD),
}

# The model's prediction heads, by name (dkclip.model.heads turns a forward pass into their probabilities):
# "global" from the video feature v (the paper's), "local" the NRM-fused snippets (Eq. 10), "fused" their mean.
HEADS: tuple[str, ...] = ("global", "local", "fused")
