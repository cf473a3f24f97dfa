"""An endless, deterministic stream of AU-captioned synthetic frames for contrastive pretraining.

Batch ``b`` is rendered from ``SeedSequence([seed, b])`` alone: 16 short clips (8 frames each, every clip a new
identity, most with the paper's noisy frames), all their frames, and one caption per frame. So a resumed run
sees exactly the batches it would have seen, whatever the worker count.

Identities come from a reserved seed space (``IDENTITY_SEED_BASE`` + seed), disjoint from the synthetic
evaluation datasets, which use small dataset seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from ..data.transforms import Normalize
from ..synth import ClipSpec, SynthConfig, render_clip
from .captions import CaptionComposer

IDENTITY_SEED_BASE = 2**40


@dataclass
class StreamConfig:
    seed: int = 0
    num_classes: int = 7
    clips_per_batch: int = 16
    frames_per_clip: int = 8
    noisy_fraction: float = 0.6
    p_emotion: float = 0.25
    image_size: int = 112
    min_crop: float = 0.85  # random resized crop of the whole frame (mild: the faces are aligned crops)


class CaptionedFrameBatches(Dataset):
    """``dataset[b]`` -> {"images": (B, 3, S, S) float, "captions": list[str], "tokens": (B, 77) long}."""

    def __init__(self, config: StreamConfig, tokenizer: Callable[[list[str]], torch.Tensor],
                 num_batches: int) -> None:
        self.cfg = config
        self.tokenizer = tokenizer
        self.num_batches = num_batches
        self.composer = CaptionComposer(config.num_classes, p_emotion=config.p_emotion)
        self.synth = SynthConfig(size=config.image_size)
        self.normalize = Normalize()  # ImageNet statistics, as DK-CLIP's fine-tuning pipeline

    def __len__(self) -> int:
        return self.num_batches

    def render(self, index: int) -> tuple[np.ndarray, list[str]]:
        """uint8 frames (B, S, S, 3) and their captions for batch ``index``."""
        cfg = self.cfg
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, index]))
        frames, captions = [], []
        for c in range(cfg.clips_per_batch):
            clip_index = index * cfg.clips_per_batch + c
            spec = ClipSpec(clip_id=f"p{clip_index}", label=int(rng.integers(cfg.num_classes)),
                            identity=clip_index, num_frames=cfg.frames_per_clip, index=clip_index,
                            seed=IDENTITY_SEED_BASE + cfg.seed, num_classes=cfg.num_classes,
                            noisy=bool(rng.random() < cfg.noisy_fraction), config=self.synth)
            video, truth = render_clip(spec)
            aus = truth.aus
            for t in range(cfg.frames_per_clip):
                frames.append(video[t])
                captions.append(self.composer.compose(aus[t], truth.noise[t], truth.appearance, rng))
        return np.stack(frames), captions

    def _augment(self, images: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        size = images.shape[-1]
        out = []
        for img in images:  # per image crop boxes; the batch is small and this runs in a worker
            scale = rng.uniform(self.cfg.min_crop, 1.0)
            crop = max(8, round(size * scale))
            y, x = rng.integers(0, size - crop + 1, size=2)
            out.append(torch.nn.functional.interpolate(img[None, :, y:y + crop, x:x + crop], size=(size, size),
                                                       mode="bilinear", antialias=True, align_corners=False))
        return torch.cat(out)

    def __getitem__(self, index: int) -> dict[str, object]:
        frames, captions = self.render(index)
        # Crop + bilinear resize is linear per channel, so normalising first gives the same images.
        images = self.normalize(torch.from_numpy(frames).permute(0, 3, 1, 2))
        images = self._augment(images, np.random.default_rng(np.random.SeedSequence([self.cfg.seed, index, 1])))
        return {"images": images, "captions": captions, "tokens": self.tokenizer(captions)}
