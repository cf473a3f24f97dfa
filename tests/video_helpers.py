"""Test helpers shared by the model tests."""

from __future__ import annotations

import torch


def random_video(batch: int = 2, frames: int = 16, size: int = 112, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, frames, 3, size, size, generator=gen)
