"""Decoded frames → a model's input: frame sampling and the spatial transform as one callable, built from a
model's own config (what :func:`dkclip.create_model_and_transforms` returns).

    model, train_tf, eval_tf = dkclip.create_model_and_transforms("runs/x/best")
    frames = my_decoder("clip.mp4")                # uint8, (n, H, W, 3) or (n, 3, H, W), any size
    video = eval_tf(frames)                        # (T, 3, S, S) float32, normalised as the model was trained
    probs = model(video[None]).logits.softmax(-1)  # identical to `dkclip evaluate` on that clip

The eval transform samples T of the n frames at segment centres (exactly as evaluation does) and centre-crops;
passing exactly T frames keeps them all. The train transform draws TSN-style indices and the training
augmentation from the ``generator`` it is given. ``indices(n)`` exposes the sampling alone, for callers that
decode only the frames they need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .sampling import FrameSampler
from .transforms import EvalTransform, Normalize, TrainTransform

if TYPE_CHECKING:
    from ..config import DKClipConfig


def as_frame_tensor(frames: torch.Tensor | np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
    """uint8 ``(n, 3, H, W)`` from ``(n, H, W, 3)`` / ``(n, 3, H, W)`` arrays or tensors, or a list of HxWx3 frames."""
    if isinstance(frames, list | tuple):
        frames = np.stack([np.asarray(f) for f in frames])
    tensor = torch.as_tensor(frames)
    if tensor.dim() != 4:
        raise ValueError(f"expected frames of shape (n, H, W, 3) or (n, 3, H, W), got {tuple(tensor.shape)}")
    if tensor.dtype != torch.uint8:
        raise ValueError(f"expected uint8 frames (decoded pixels 0-255), got {tensor.dtype}")
    if tensor.shape[-1] == 3 and tensor.shape[1] != 3:
        tensor = tensor.permute(0, 3, 1, 2)
    elif tensor.shape[1] != 3:
        raise ValueError(f"expected 3 colour channels, got frames of shape {tuple(tensor.shape)}")
    if tensor.shape[0] == 0:
        raise ValueError("no frames")
    return tensor


@dataclass
class VideoTransform:
    """Frame sampling followed by a clip transform (the two halves of a dataset sample, without the I/O)."""

    frame_sampler: FrameSampler
    transform: TrainTransform | EvalTransform

    @property
    def num_frames(self) -> int:
        return self.frame_sampler.num_frames

    def indices(self, n: int, generator: torch.Generator | None = None) -> np.ndarray:
        """The frame indices (T,) this transform takes from an n-frame clip (one view)."""
        return self.frame_sampler(n, generator)[0]

    def __call__(self, frames: torch.Tensor | np.ndarray | Sequence[np.ndarray],
                 generator: torch.Generator | None = None) -> torch.Tensor:
        clip = as_frame_tensor(frames)
        picked = clip[torch.from_numpy(self.indices(clip.shape[0], generator))]
        return self.transform(picked, generator)


def model_transforms(config: DKClipConfig, **train_options: Any) -> tuple[VideoTransform, VideoTransform]:
    """``(train, eval)`` transforms for a model config: its input size, normalisation, training T and test T."""
    norm = Normalize(tuple(config.image_mean), tuple(config.image_std))
    train = VideoTransform(FrameSampler(config.num_frames, "train", config.short_clip),
                           TrainTransform(size=config.image_size, normalize=norm, **train_options))
    evaluate = VideoTransform(FrameSampler(config.test_num_frames, "test", config.short_clip),
                              EvalTransform(size=config.image_size, normalize=norm))
    return train, evaluate
