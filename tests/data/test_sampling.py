"""Frame sampling (docs/method.md §3.4) against hand-computed indices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dkclip.data.sampling import FrameSampler, eval_indices, train_indices


def test_train_one_random_frame_per_segment() -> None:
    gen = torch.Generator().manual_seed(0)
    seen = np.zeros((16, 4), dtype=int)
    for _ in range(200):
        idx = train_indices(64, 16, gen)  # avg = 4: segment i is frames 4i..4i+3
        assert idx.shape == (16,)
        offset = idx - 4 * np.arange(16)
        assert ((offset >= 0) & (offset < 4)).all()
        seen[np.arange(16), offset] += 1
    assert (seen > 0).all()  # every frame of every segment gets drawn


def test_train_uses_floor_segments_and_is_seeded() -> None:
    # n=37, T=16: avg = 2, frames 32..36 are never drawn (as the authors' code).
    a = train_indices(37, 16, torch.Generator().manual_seed(5))
    b = train_indices(37, 16, torch.Generator().manual_seed(5))
    assert (a == b).all() and a.max() < 32
    assert (train_indices(16, 16, torch.Generator()) == np.arange(16)).all()  # avg = 1: every frame


def test_short_clip_loop_wraps_with_bankers_rounding() -> None:
    # round(i * 8/16) with round-half-to-even, mod 8: i=15 gives round(7.5) = 8 -> 0.
    expected = [0, 0, 1, 2, 2, 2, 3, 4, 4, 4, 5, 6, 6, 6, 7, 0]
    assert train_indices(8, 16, short_clip="loop").tolist() == expected
    assert train_indices(3, 4, short_clip="loop").tolist() == [0, 1, 2, 2]  # round(0, .75, 1.5, 2.25)


def test_short_clip_pad_repeats_last_frame() -> None:
    assert train_indices(5, 8, short_clip="pad").tolist() == [0, 1, 2, 3, 4, 4, 4, 4]
    assert eval_indices(5, 8, short_clip="pad").tolist() == [0, 1, 2, 3, 4, 4, 4, 4]


def test_test_mode_segment_centres() -> None:
    # n=40, T=16: avg 2.5, int(2.5 i + 1.25)
    assert eval_indices(40, 16).tolist() == [1, 3, 6, 8, 11, 13, 16, 18, 21, 23, 26, 28, 31, 33, 36, 38]
    # n=8 < T: avg .5, int(.5 i + .25): in range without looping
    assert eval_indices(8, 16).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]
    assert eval_indices(100, 4).tolist() == [12, 37, 62, 87]  # T is a parameter


def test_multiview_uniform_and_random() -> None:
    views = FrameSampler(16, "test", num_views=2)(32)
    assert views.tolist() == [list(range(0, 32, 2)), list(range(1, 32, 2))]
    assert (FrameSampler(16, "test")(40)[0] == eval_indices(40, 16)).all()
    rnd = FrameSampler(16, "test", num_views=4, view_mode="random")(64, torch.Generator().manual_seed(1))
    assert rnd.shape == (4, 16) and len({tuple(v) for v in rnd.tolist()}) > 1


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        train_indices(0, 16)
    with pytest.raises(ValueError):
        FrameSampler(mode="val")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        eval_indices(10, 4, short_clip="mirror")  # type: ignore[arg-type]
