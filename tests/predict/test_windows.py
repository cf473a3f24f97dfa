"""Window planning, the T frames of a window, and per-frame smoothing."""

from __future__ import annotations

import numpy as np
import pytest

from dkclip.data.sampling import eval_indices
from dkclip.predict.windows import plan_windows, smooth_per_frame, window_sample


def test_plan_windows_grid_tail_and_short_track() -> None:
    assert plan_windows(0.0, 4.0, 2.0, 1.0) == [(0.0, 2.0), (1.0, 3.0), (2.0, 4.0)]
    # 4.5 s: the grid stops at 2-4 s, one more window is aligned to the end so the tail has a prediction.
    assert plan_windows(0.0, 4.5, 2.0, 1.0) == [(0.0, 2.0), (1.0, 3.0), (2.0, 4.0), (2.5, 4.5)]
    assert plan_windows(1.0, 3.0, 2.0, 1.0) == [(1.0, 3.0)]
    assert plan_windows(0.0, 1.2, 2.0, 1.0) == [(0.0, 1.2)]  # shorter than a window: what exists
    with pytest.raises(ValueError):
        plan_windows(0.0, 1.0, 0.0, 1.0)


@pytest.mark.parametrize("n", [50, 16, 33, 7, 100])
def test_window_sample_equals_eval_sampling_at_constant_frame_rate(n: int) -> None:
    fps = 25.0
    times = np.arange(n) / fps
    picks = window_sample(times, 0.0, n / fps, 16)
    assert np.array_equal(picks, eval_indices(n, 16, "loop"))


def test_window_sample_by_time_at_variable_frame_rate() -> None:
    # Dense frames in the first half second, sparse afterwards: sampling follows time, not frame count.
    times = np.array([0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 1.0, 1.5])
    picks = window_sample(times, 0.0, 2.0, 4)  # centres 0.25, 0.75, 1.25, 1.75
    assert picks.tolist() == [5, 9, 10, 11]


def test_window_sample_pad_mode_for_short_windows() -> None:
    times = np.arange(3) / 25
    assert window_sample(times, 0.0, 3 / 25, 8, "pad").tolist() == [0, 1, 2, 2, 2, 2, 2, 2]
    assert window_sample(times, 0.0, 3 / 25, 6, "loop").tolist() == [0, 0, 1, 1, 2, 2]


def test_smooth_per_frame_is_the_mean_of_covering_windows() -> None:
    frames = np.arange(10, 20)
    starts = np.array([10, 14])
    ends = np.array([15, 19])
    probs = np.array([[1.0, 0.0], [0.0, 1.0]])
    out = smooth_per_frame(frames, starts, ends, probs)
    assert np.allclose(out[:4], [1, 0])  # frames 10-13: first window only
    assert np.allclose(out[4:6], [0.5, 0.5])  # 14-15: both
    assert np.allclose(out[6:], [0, 1])
    # A frame no window covers has no value, and no windows at all gives NaN everywhere.
    assert np.isnan(smooth_per_frame(np.array([30]), starts, ends, probs)).all()
    assert np.isnan(smooth_per_frame(frames, np.zeros(0), np.zeros(0), np.zeros((0, 2)))).all()
