"""Noise-detection maths by hand: which snippets are noisy, and precision/recall against the erasures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dkclip.ablation.noise import annotation_file, detection_metrics, frame_noise_flags, snippet_noise


def test_frame_flags_and_annotation_files() -> None:
    sidecar = {"frames": [{"noise": None}, {"noise": "blur"}, {}, {"noise": "occlusion"}]}
    assert frame_noise_flags(sidecar).tolist() == [False, True, False, True]
    assert annotation_file("/d/frames/c007", None) == Path("/d/annotations/c007.json")
    assert annotation_file("/x/videos/c007.mp4", "/d") == Path("/d/annotations/c007.json")


def test_snippet_noise_by_hand() -> None:
    flags = np.array([0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0], dtype=bool)  # 12 frames
    # 8 sampled frames, 4 snippets of 2: (0,1) (4,5) (6,9) (10,11): 0/2, 2/2, 2/2, 0/2 flagged.
    assert snippet_noise(flags, np.array([0, 1, 4, 5, 6, 9, 10, 11]), 4).tolist() == [False, True, True, False]
    # A tie (1 of 2) is not "most"; indices past the end are clamped like the readers do.
    assert snippet_noise(flags, np.array([3, 4, 11, 40]), 2).tolist() == [False, False]


def test_detection_metrics_by_hand() -> None:
    erased = np.array([[0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]], dtype=bool)
    noisy = np.array([[0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=bool)
    clip_noisy = np.array([True, True, False, False])
    m = detection_metrics(erased, noisy, clip_noisy)
    # Noisy clips: erased 3 snippets, 1 of them noisy; 2 noisy snippets in 8.
    assert m.precision == pytest.approx(1 / 3)
    assert m.recall == pytest.approx(1 / 2)
    assert m.base_rate == pytest.approx(2 / 8)
    assert m.erase_rate_noisy_clips == pytest.approx(3 / 8)
    assert m.false_alarm_noisy_clips == pytest.approx(2 / 6)
    assert m.erase_rate_clean_clips == pytest.approx(1 / 8)
    assert m.counts.erased_noisy == 1 and m.counts.snippets_in_noisy_clips == 8
    assert m.counts.clean_clip_views == 2 and m.counts.erased_in_clean_clips == 1
    none = detection_metrics(np.zeros((1, 4), bool), np.zeros((1, 4), bool), np.array([True]))
    assert none.precision is None and none.recall is None and none.erase_rate_clean_clips is None
