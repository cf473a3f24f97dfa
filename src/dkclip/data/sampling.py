"""Frame-index samplers (docs/method.md §3.4): which T frames of an n-frame clip the model sees.

Pure index arithmetic, no I/O: a sampler maps ``(n, generator)`` to an ``int64`` array of shape
``(num_views, T)``. Readers clamp indices to ``[0, n-1]``, so samplers never need to know the media.

- **train** (TSN segments): ``avg = n // T``; if ``avg > 0`` the offsets are ``i*avg + randint(avg)``, one random
  frame per equal segment (frames past ``T*avg`` are never drawn, as in the authors' code).
  For ``n < T``: ``short_clip="loop"`` (the authors) gives ``round(i*n/T) mod n`` with numpy's
  round-half-to-even, so the last index can wrap to frame 0; ``short_clip="pad"`` (DFER-CLIP) gives every frame
  once, in order, then repeats the last one.
- **test** (segment centres): ``avg = n / T`` (a float), offsets ``int(i*avg + avg/2)``. These are always in range,
  also for ``n < T``; ``short_clip="pad"`` applies DFER-CLIP's edge padding there too.
- **multi-view test**: ``num_views`` temporal views. ``view_mode="uniform"`` (default) shifts the point inside
  each segment to ``(v + 0.5)/num_views`` of the segment, so one view is the plain centre sampling and more
  views tile the segment evenly. ``view_mode="random"`` draws ``num_views`` independent train-style samplings,
  which is what the authors' final multi-view pass does (docs/method.md §3.4, B1).

Randomness comes only from the ``torch.Generator`` passed in, so a worker seeded once gives the same indices on
every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

ShortClip = Literal["loop", "pad"]
SHORT_CLIP_MODES: tuple[str, ...] = ("loop", "pad")


def _check(n: int, num_frames: int, short_clip: str) -> None:
    if n <= 0:
        raise ValueError(f"cannot sample from a clip of {n} frames")
    if num_frames <= 0:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    if short_clip not in SHORT_CLIP_MODES:
        raise ValueError(f"short_clip must be one of {SHORT_CLIP_MODES}, got {short_clip!r}")


def edge_pad_indices(n: int, num_frames: int) -> np.ndarray:
    """``[0, 1, ..., n-1, n-1, ...]``: each frame once, then the last one repeated (DFER-CLIP)."""
    return np.minimum(np.arange(num_frames), n - 1).astype(np.int64)


def train_indices(n: int, num_frames: int = 16, generator: torch.Generator | None = None,
                  short_clip: ShortClip = "loop") -> np.ndarray:
    """TSN-style training indices: one random frame in each of ``num_frames`` equal segments."""
    _check(n, num_frames, short_clip)
    avg = n // num_frames
    if avg > 0:
        jitter = torch.randint(avg, (num_frames,), generator=generator).numpy()
        return np.arange(num_frames, dtype=np.int64) * avg + jitter
    if short_clip == "pad":
        return edge_pad_indices(n, num_frames)
    return np.round(np.arange(num_frames) * (n / num_frames)).astype(np.int64) % n


def eval_indices(n: int, num_frames: int = 16, short_clip: ShortClip = "loop", view: int = 0,
                 num_views: int = 1) -> np.ndarray:
    """Deterministic indices at the centre of each segment (or shifted for view ``view`` of ``num_views``)."""
    _check(n, num_frames, short_clip)
    if not 0 <= view < num_views:
        raise ValueError(f"view {view} out of range for {num_views} views")
    if short_clip == "pad" and n < num_frames:
        return edge_pad_indices(n, num_frames)
    avg = n / num_frames
    offsets = np.arange(num_frames) * avg + avg * (view + 0.5) / num_views
    return np.minimum(offsets.astype(np.int64), n - 1)


@dataclass(frozen=True)
class FrameSampler:
    """A configured frame sampler; ``frame_sampler(n, generator)`` returns indices of shape ``(num_views, T)``."""

    num_frames: int = 16
    mode: Literal["train", "test"] = "train"
    short_clip: ShortClip = "loop"
    num_views: int = 1
    view_mode: Literal["uniform", "random"] = "uniform"

    def __post_init__(self) -> None:
        if self.mode not in ("train", "test"):
            raise ValueError(f"mode must be 'train' or 'test', got {self.mode!r}")
        if self.view_mode not in ("uniform", "random"):
            raise ValueError(f"view_mode must be 'uniform' or 'random', got {self.view_mode!r}")
        if self.num_views < 1:
            raise ValueError(f"num_views must be >= 1, got {self.num_views}")
        if self.short_clip not in SHORT_CLIP_MODES:
            raise ValueError(f"short_clip must be one of {SHORT_CLIP_MODES}, got {self.short_clip!r}")

    def __call__(self, n: int, generator: torch.Generator | None = None) -> np.ndarray:
        if self.mode == "train" or self.view_mode == "random":
            views = [train_indices(n, self.num_frames, generator, self.short_clip) for _ in range(self.num_views)]
        else:
            views = [eval_indices(n, self.num_frames, self.short_clip, v, self.num_views)
                     for v in range(self.num_views)]
        return np.stack(views)
