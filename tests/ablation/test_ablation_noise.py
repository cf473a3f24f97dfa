"""Noise-detection maths by hand: which snippets are noisy (and of which kind), precision/recall against the
erasures, per kind, and the ROC-AUC (cross-checked with scikit-learn)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from dkclip.ablation.noise import detection_metrics, frame_noise_flags, kind_detection, roc_auc, snippet_noise
from dkclip.ablation.predictions import annotation_file, frame_noise_kinds, snippet_kinds


def test_frame_flags_kinds_and_annotation_files() -> None:
    sidecar = {"frames": [{"noise": None}, {"noise": "blur"}, {}, {"noise": "occlusion"}]}
    assert frame_noise_flags(sidecar).tolist() == [False, True, False, True]
    assert frame_noise_kinds(sidecar) == [None, "blur", None, "occlusion"]
    assert annotation_file("/d/frames/c007", None) == Path("/d/annotations/c007.json")
    assert annotation_file("/x/videos/c007.mp4", "/d") == Path("/d/annotations/c007.json")


def test_snippet_noise_by_hand() -> None:
    flags = np.array([0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0], dtype=bool)  # 12 frames
    # 8 sampled frames, 4 snippets of 2: (0,1) (4,5) (6,9) (10,11): 0/2, 2/2, 2/2, 0/2 flagged.
    assert snippet_noise(flags, np.array([0, 1, 4, 5, 6, 9, 10, 11]), 4).tolist() == [False, True, True, False]
    # A tie (1 of 2) is not "most"; indices past the end are clamped like the readers do.
    assert snippet_noise(flags, np.array([3, 4, 11, 40]), 2).tolist() == [False, False]


def test_snippet_kinds_agree_with_the_flags_and_take_the_commonest_kind() -> None:
    kinds = [None, None, "dark", "dark", "blur", "dark", "blur", "blur", None, "occlusion", None, None]
    flags = np.array([k is not None for k in kinds])
    idx = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    # Snippets of 3: (0,1,2) 1/3 flagged; (3,4,5) dark 2, blur 1; (6,7,8) blur 2; (9,10,11) 1/3.
    assert snippet_kinds(kinds, idx, 4) == ["", "dark", "blur", ""]
    assert [k != "" for k in snippet_kinds(kinds, idx, 4)] == snippet_noise(flags, idx, 4).tolist()
    # A tie between kinds goes to the kind seen first in the snippet.
    assert snippet_kinds(["blur", "dark", "dark", "blur"], np.array([0, 1, 2, 3]), 1) == ["blur"]


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


def test_kind_detection_by_hand() -> None:
    kinds = np.array(["blur", "blur", "dark", "", "", "", ""])
    erased = np.array([True, False, True, True, False, False, False])
    scores = np.array([0.05, 0.2, 0.01, 0.1, 0.3, 0.3, 0.25])
    blur = kind_detection("blur", erased, scores, kinds)
    assert (blur.snippets, blur.erased) == (2, 1)
    assert blur.erase_rate == 0.5 and blur.precision == 0.5  # 1 blur erased, 1 clean erased
    assert blur.base_rate == pytest.approx(2 / 6)  # the dark snippet is neither positive nor negative
    # 1 - a*: blur 0.95, 0.8 against clean 0.9, 0.7, 0.7, 0.75: 0.95 beats all 4, 0.8 beats 3 -> 7 / 8.
    assert blur.auc == pytest.approx(7 / 8)
    missing = kind_detection("occlusion", erased, scores, kinds)
    assert missing.snippets == 0 and missing.erase_rate is None and missing.auc is None


def test_roc_auc_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(5, 300))
        positive = rng.random(n) < rng.uniform(0.1, 0.9)
        if positive.all() or not positive.any():
            continue
        scores = np.round(rng.normal(positive * rng.uniform(0, 2), 1.0), int(rng.integers(0, 3)))  # many ties
        assert roc_auc(scores, positive) == pytest.approx(roc_auc_score(positive, scores), abs=1e-12)
    assert roc_auc(np.array([1.0, 2.0]), np.array([True, True])) is None
    assert roc_auc(np.array([0.1, 0.2, 0.2, 0.9]), np.array([False, True, False, True])) == pytest.approx(0.875)
