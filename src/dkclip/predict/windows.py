"""Sliding windows over a face track, the T frames the model sees in each, and per-frame smoothing.

Everything is in seconds (frame timestamps), so that variable frame rate video is handled; for constant frame
rate the sampling is exactly the evaluation sampling of :func:`dkclip.data.sampling.eval_indices`.

- :func:`plan_windows`: windows of ``window`` seconds every ``stride`` seconds from the start of a track, plus
  one more aligned to the end of the track when the grid leaves its tail uncovered (so every frame of a track
  gets a prediction). A track shorter than one window gets one window over what exists.
- :func:`window_sample`: T frames of a window at the centres of T equal time segments (the frame shown at each
  centre), as evaluation samples a clip; with ``short_clip="pad"`` a window of fewer than T frames is edge-padded
  as the model's config says.
- :func:`snippet_grid_centres`: the same centres computed on the track's snippet grid (snippets of window / N
  seconds from the track's start), so that two windows sharing a snippet sample the very same frames for it and
  the snippet is encoded once (:mod:`.snippet_cache`).
- :func:`smooth_per_frame`: a frame's probabilities are the mean over the windows that contain it.
"""

from __future__ import annotations

import numpy as np

from ..data.sampling import edge_pad_indices

# Slack for comparing float times (timestamps are rationals turned into floats).
_EPS = 1e-6


def plan_windows(t0: float, t_end: float, window: float, stride: float) -> list[tuple[float, float]]:
    """``(start, end)`` times of the windows over a track that spans ``[t0, t_end)``."""
    if window <= 0 or stride <= 0:
        raise ValueError(f"window and stride must be positive, got {window} and {stride}")
    length = t_end - t0
    if length < window - _EPS:
        return [(t0, t_end)]
    spans = []
    j = 0
    while t0 + j * stride + window <= t_end + _EPS:
        start = t0 + j * stride
        spans.append((start, start + window))
        j += 1
    if spans[-1][1] < t_end - _EPS:
        spans.append((t_end - window, t_end))
    return spans


def grid_start(t0: float, j: int, stride: float) -> float:
    """Start of the j-th regular window of a track starting at ``t0``."""
    return t0 + j * stride


def segment_centres(start: float, end: float, num_frames: int) -> np.ndarray:
    """The centres of ``num_frames`` equal segments of ``[start, end)``."""
    return start + (np.arange(num_frames) + 0.5) * ((end - start) / num_frames)


def snippet_grid_centres(t0: float, start: float, end: float, num_frames: int, num_snippets: int
                         ) -> np.ndarray | None:
    """The T segment centres of the window ``[start, end)`` computed from the snippet grid of a track starting at
    ``t0`` (snippet k spans ``t0 + k·d`` to ``t0 + (k+1)·d``, d = window / N), or None when the window is not on
    that grid (a tail aligned to the track's end, a stride that is not a multiple of d, a short window).

    The centres are those of :func:`segment_centres` in exact arithmetic; computed from integer snippet and frame
    numbers they are also equal in floating point for every window containing the snippet."""
    if num_frames % num_snippets:
        return None
    per_snippet = num_frames // num_snippets
    length = (end - start) / num_snippets
    first = (start - t0) / length
    k = round(first)
    if abs(first - k) > _EPS:
        return None
    step = length / per_snippet
    return t0 + (k * per_snippet + np.arange(num_frames) + 0.5) * step


def window_sample(times: np.ndarray, start: float, end: float, num_frames: int,
                  short_clip: str = "loop", centres: np.ndarray | None = None) -> np.ndarray:
    """Indices into ``times`` (sorted frame times of the frames in the window) of the T frames the model sees.

    Frame i is on screen from ``times[i]`` to ``times[i + 1]``; each segment centre takes the frame on screen at
    that moment. For a constant frame rate this is ``eval_indices`` (segment centres); a window with fewer frames
    than T repeats frames in order, as evaluation's ``short_clip="loop"`` does, or is edge-padded for ``"pad"``.
    ``centres``: the segment centres when already known (:func:`snippet_grid_centres`).
    """
    n = len(times)
    if n == 0:
        raise ValueError("a window without frames")
    if short_clip == "pad" and n < num_frames:
        return edge_pad_indices(n, num_frames)
    # The slack makes a centre that falls exactly on a frame's timestamp pick that frame despite float rounding.
    centres = (segment_centres(start, end, num_frames) if centres is None else centres) + _EPS
    return np.clip(np.searchsorted(times, centres, side="right") - 1, 0, n - 1)


def smooth_per_frame(frames: np.ndarray, starts: np.ndarray, ends: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Per-frame probabilities ``(F, K)``: for each of ``frames`` (frame indices), the mean of ``probs`` (W, K)
    over the windows whose inclusive frame range ``[starts[w], ends[w]]`` contains it; NaN where none does."""
    frames = np.asarray(frames, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    k = probs.shape[1] if probs.ndim == 2 else 0
    if len(frames) == 0:
        return np.zeros((0, k))
    if len(probs) == 0:
        return np.full((len(frames), k), np.nan)
    lo = int(min(frames.min(), np.min(starts)))
    hi = int(max(frames.max(), np.max(ends)))
    # Difference arrays: +p at a window's first frame, -p after its last; a cumulative sum gives the sums.
    total = np.zeros((hi - lo + 2, k))
    count = np.zeros(hi - lo + 2)
    s = np.asarray(starts, dtype=np.int64) - lo
    e = np.asarray(ends, dtype=np.int64) - lo + 1
    np.add.at(total, s, probs)
    np.add.at(total, e, -probs)
    np.add.at(count, s, 1)
    np.add.at(count, e, -1)
    total = np.cumsum(total, axis=0)[frames - lo]
    count = np.cumsum(count)[frames - lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = total / count[:, None]
    out[count <= 0] = np.nan
    return out
