"""Mixup / FMix with label smoothing (docs/method.md §3.3): soft targets sum to 1 and match the pixel weights."""

from __future__ import annotations

import math

import numpy as np
import torch

from dkclip.data.mixing import MixupFMix, fmix_mask, fourier_noise, smooth_one_hot


def test_smoothing_values() -> None:
    t = smooth_one_hot(torch.tensor([0, 2]), 4, 0.1)
    assert torch.allclose(t[0], torch.tensor([0.925, 0.025, 0.025, 0.025]))
    assert torch.allclose(t.sum(1), torch.ones(2))


def test_fmix_mask_fraction_and_low_frequency() -> None:
    rng = np.random.default_rng(0)
    for lam in (0.0, 0.3, 0.5, 0.77, 1.0):
        m = fmix_mask(32, 40, lam, 3.0, rng)
        assert set(np.unique(m)) <= {0.0, 1.0}
        assert int(m.sum()) in (math.floor(lam * 1280), math.ceil(lam * 1280))
    noise = fourier_noise(64, 64, 3.0, rng)
    assert noise.min() == 0.0 and noise.max() == 1.0
    # decay power 3: neighbouring pixels are strongly correlated (a smooth, blobby mask)
    assert np.corrcoef(noise[:, :-1].ravel(), noise[:, 1:].ravel())[0, 1] > 0.9


def test_targets_sum_to_one_both_branches() -> None:
    video = torch.randn(6, 4, 3, 16, 16)
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    for switch in (0.0, 1.0):  # 0: always mixup, 1: always FMix
        mix = MixupFMix(num_classes=7, switch_prob=switch, seed=1)
        for _ in range(5):
            out, target = mix(video, labels)
            assert out.shape == video.shape and target.shape == (6, 7)
            assert torch.allclose(target.sum(1), torch.ones(6), atol=1e-6)
            assert (target >= 0).all()


def test_fmix_mask_shared_by_frames_and_channels_and_matches_targets() -> None:
    b, t = 4, 3
    # each clip is a constant image of value = its index, so a mixed pixel shows where it came from
    video = torch.arange(b, dtype=torch.float32).view(b, 1, 1, 1, 1).expand(b, t, 3, 8, 8).clone()
    labels = torch.arange(b)
    mix = MixupFMix(num_classes=b, switch_prob=1.0, smoothing=0.0, seed=3)
    out, target = mix(video, labels)
    for i in range(b):
        own = out[i] == i
        assert all(torch.equal(own[0, 0], own[f, c]) for f in range(t) for c in range(3))
        lam = own[0, 0].float().mean()
        if target[i].max() < 1:  # mixed with another clip: the label weight equals the pixel fraction
            assert torch.isclose(target[i, i], lam)
    batch_mask = MixupFMix(num_classes=b, switch_prob=1.0, smoothing=0.0, fmix_per_clip=False, seed=3)
    out, target = batch_mask(video, labels)
    masks = [(out[i, 0, 0] == i) for i in range(b)]
    assert all(torch.equal(masks[0], m) for m in masks[1:])  # authors' variant: one mask for the batch


def test_mixup_uses_one_lambda() -> None:
    video = torch.stack([torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)])
    out, target = MixupFMix(num_classes=2, switch_prob=0.0, smoothing=0.0, seed=0)(video, torch.tensor([0, 1]))
    if not torch.equal(out, video):  # the permutation may be the identity
        lam0 = out[0].unique()
        assert lam0.numel() == 1 and torch.isclose(target[0, 1], lam0[0])
