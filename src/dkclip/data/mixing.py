"""Batch-level Mixup / FMix with label smoothing (docs/method.md §3.3).

Runs on whatever device the batch is on (the authors mix on the GPU, on every training batch):

1. labels → smoothed one-hot: off = ε/K, on = 1 − ε + ε/K (ε = 0.1);
2. with probability ``switch_prob`` (0.5) FMix, otherwise Mixup, with a random permutation ``perm`` of the batch:

   - **Mixup**: λ ~ Beta(0.8, 0.8), one λ for the batch; x·λ + x[perm]·(1−λ).
   - **FMix**: λ ~ Beta(1, 1); a low-frequency Fourier noise image (decay power 3) binarised to its top-λ
     fraction (⌈·⌉ or ⌊·⌋ of λ·H·W at random); x·M + x[perm]·(1−M). The mask is shared by every frame and
     channel of a clip. ``fmix_per_clip=True`` (default, issue #3) draws one λ and mask per clip;
     ``False`` shares one mask across the whole batch as the authors' code does (docs/method.md §6.2, B11).

3. targets: λ·y + (1−λ)·y[perm], with λ the *realised* mask fraction for FMix (it differs from the drawn λ by
   less than one pixel's worth), so the label weights equal the pixel weights exactly. Every target row sums
   to 1.

The Fourier mask is written here with numpy: complex Gaussian noise over the rfft frequency grid, each
frequency scaled by 1/max(f, 1/max(H, W))^decay, inverse FFT, then the top-k pixels set to 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


def smooth_one_hot(labels: torch.Tensor, num_classes: int, smoothing: float = 0.1) -> torch.Tensor:
    """One-hot targets with label smoothing: off = ε/K, on = 1 − ε + ε/K (rows sum to 1)."""
    off = smoothing / num_classes
    out = torch.full((labels.shape[0], num_classes), off, dtype=torch.float32, device=labels.device)
    return out.scatter_(1, labels.long().view(-1, 1), 1.0 - smoothing + off)


def fourier_noise(height: int, width: int, decay_power: float, rng: np.random.Generator) -> np.ndarray:
    """A low-frequency random image: Gaussian spectrum with amplitude ∝ 1/f^decay_power, normalised to [0, 1]."""
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    freq = np.sqrt(fx * fx + fy * fy)
    scale = 1.0 / np.maximum(freq, 1.0 / max(height, width)) ** decay_power
    spectrum = (rng.standard_normal(freq.shape) + 1j * rng.standard_normal(freq.shape)) * scale
    grid = np.fft.irfft2(spectrum, s=(height, width))
    grid -= grid.min()
    peak = grid.max()
    return grid / peak if peak > 0 else grid


def fmix_mask(height: int, width: int, lam: float, decay_power: float, rng: np.random.Generator) -> np.ndarray:
    """A binary (H, W) float32 mask whose top-λ fraction of a Fourier noise image is 1 (FMix, max_soft 0)."""
    noise = fourier_noise(height, width, decay_power, rng).reshape(-1)
    total = height * width
    k = math.ceil(lam * total) if rng.random() > 0.5 else math.floor(lam * total)
    mask = np.zeros(total, dtype=np.float32)
    if k > 0:
        mask[np.argsort(-noise, kind="stable")[:k]] = 1.0
    return mask.reshape(height, width)


@dataclass
class MixupFMix:
    """Callable ``(video (B, ..., H, W), labels (B,)) -> (mixed video, soft targets (B, K))``.

    ``rng`` drives every draw (λ, the switch, the permutation, the masks), so a seeded instance is
    reproducible. ``mixup_alpha=0`` or ``fmix_alpha=0`` disables that branch; both 0 gives smoothing only.
    """

    num_classes: int
    mixup_alpha: float = 0.8
    fmix_alpha: float = 1.0
    decay_power: float = 3.0
    switch_prob: float = 0.5
    smoothing: float = 0.1
    fmix_per_clip: bool = True
    seed: int | None = None

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def __call__(self, video: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        targets = smooth_one_hot(labels, self.num_classes, self.smoothing)
        use_fmix = self.fmix_alpha > 0 and (self.mixup_alpha <= 0 or self.rng.random() < self.switch_prob)
        if video.shape[0] < 2 or (not use_fmix and self.mixup_alpha <= 0):
            return video, targets
        perm = torch.from_numpy(self.rng.permutation(video.shape[0])).to(video.device)
        if use_fmix:
            return self._fmix(video, targets, perm)
        lam = float(self.rng.beta(self.mixup_alpha, self.mixup_alpha))
        mixed = video * lam + video[perm] * (1.0 - lam)
        return mixed, targets * lam + targets[perm] * (1.0 - lam)

    def _fmix(self, video: torch.Tensor, targets: torch.Tensor,
              perm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, (h, w) = video.shape[0], video.shape[-2:]
        n_masks = b if self.fmix_per_clip else 1
        masks = np.stack([fmix_mask(h, w, float(self.rng.beta(self.fmix_alpha, self.fmix_alpha)),
                                    self.decay_power, self.rng) for _ in range(n_masks)])
        lam = torch.from_numpy(masks.reshape(n_masks, -1).mean(axis=1)).to(targets)  # realised fractions
        m = torch.from_numpy(masks).to(device=video.device, dtype=video.dtype)
        m = m.view(n_masks, *([1] * (video.dim() - 3)), h, w)  # one mask per clip, shared by frames/channels
        mixed = video * m + video[perm] * (1.0 - m)
        lam = lam.view(-1, 1)
        return mixed, targets * lam + targets[perm] * (1.0 - lam)
