"""``timeline.png``: one row per face, its class probabilities stacked over time.

Grey hatching marks the spans where the face is absent (not tracked); black ticks above a row mark the snippets
the NRM erased in each window (the time span of every snippet with ``kept == False``; overlapping windows use
two lanes). A video without a face gives a single empty row saying so.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .result import PredictionResult


# Erased snippets are drawn in black: red is a class colour (anger in tab10).
ERASED_COLOR = "0.1"


def _row_major(items: list, ncol: int) -> list:
    """Reorder legend entries so that matplotlib's column-by-column filling reads row by row."""
    rows = math.ceil(len(items) / ncol)
    grid = [items[r * ncol:(r + 1) * ncol] for r in range(rows)]
    return [row[c] for c in range(ncol) for row in grid if c < len(row)]


def _colors(k: int) -> list:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if k <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(k)]


def _spans(mask: np.ndarray, times: np.ndarray, end: float) -> list[tuple[float, float]]:
    """Time spans of the runs of True in ``mask`` (frame i lasts until frame i+1)."""
    spans = []
    edges = np.append(times, end)
    i = 0
    while i < len(mask):
        if mask[i]:
            j = i
            while j + 1 < len(mask) and mask[j + 1]:
                j += 1
            spans.append((float(edges[i]), float(edges[j + 1])))
            i = j + 1
        else:
            i += 1
    return spans


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _video_frames(result: PredictionResult) -> tuple[np.ndarray, np.ndarray, float]:
    """Every frame of the video in order (indices and times, face or not) and the typical frame interval."""
    all_frames = result.frames.drop_duplicates("frame").sort_values("frame")
    times = all_frames["approx_time"].to_numpy(dtype=np.float64)
    interval = float(np.median(np.diff(times))) if len(times) > 1 else 1.0 / 25
    return all_frames["frame"].to_numpy(), times, interval


def _no_face(ax: Any, duration: float) -> None:
    ax.text(0.5, 0.5, "no face found", ha="center", va="center", transform=ax.transAxes, fontsize=12)
    ax.set_xlim(0, duration)
    ax.set_yticks([])


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` as a PNG atomically and close it."""
    from ..fileio import atomic_write

    try:
        return atomic_write(Path(path), lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    finally:
        _pyplot().close(fig)


def plot_timeline(result: PredictionResult, path: str | os.PathLike[str]) -> Path:
    plt = _pyplot()
    from matplotlib.patches import Patch

    names = result.class_names
    colors = _colors(len(names))
    frames = result.frames
    frame_index, times, interval = _video_frames(result)
    duration = float(result.video.get("duration") or (times[-1] if len(times) else 0.0)) or 1.0
    face_ids = [f["face_id"] for f in result.faces]
    rows = max(1, len(face_ids))
    fig, axes = plt.subplots(rows, 1, figsize=(11, 1.2 + 1.6 * rows), sharex=True, squeeze=False)
    title = f"{Path(result.source).name}: {result.settings.get('model', '')}, {result.settings.get('head')} head"
    fig.suptitle(title, fontsize=10)
    if not face_ids:
        _no_face(axes[0, 0], duration)
    windows = result.windows
    n_snip = int(result.settings.get("num_snippets", 0))
    for ax, face_id in zip(axes[:, 0], face_ids, strict=False):
        rows_f = frames[frames["face_id"] == face_id].sort_values("frame")
        t = rows_f["approx_time"].to_numpy(dtype=np.float64)
        probs = rows_f[names].to_numpy(dtype=np.float64)
        # Stacked areas need a step shape: each frame's value holds until the next frame.
        t_step = np.append(t, t[-1] + interval)
        p_step = np.vstack([probs, probs[-1:]])
        ax.stackplot(t_step, np.nan_to_num(p_step).T, colors=colors, step="post", linewidth=0)
        present = np.isin(frame_index, rows_f["frame"].to_numpy())
        for s, e in _spans(~present, times, duration):
            ax.axvspan(s, e, facecolor="0.85", hatch="///", edgecolor="0.6", linewidth=0)
        mine = windows[windows["face_id"] == face_id]
        for _, w in mine.iterrows():
            length = (w["end_time"] - w["start_time"]) / max(1, n_snip)
            # Overlapping windows alternate between two lanes, so each window's erased snippets stay visible.
            lane = 1.025 if int(w["window"]) % 2 == 0 else 1.06
            for i in range(n_snip):
                if not bool(w[f"kept_{i}"]):
                    s = w["start_time"] + i * length
                    ax.plot([s, s + length], [lane, lane], color=ERASED_COLOR, linewidth=2.5,
                            solid_capstyle="butt")
        ax.set_ylim(0, 1.09)
        ax.set_xlim(0, duration)
        ax.set_ylabel(f"face {face_id}")
        ax.set_yticks([0, 0.5, 1])
    axes[-1, 0].set_xlabel("time (s)")
    handles = [Patch(color=c, label=n) for c, n in zip(colors, names, strict=True)]
    handles += [Patch(facecolor="0.85", hatch="///", edgecolor="0.6", label="face absent"),
                Patch(color=ERASED_COLOR, label="erased snippet (NRM)")]
    # One legend row for up to 10 entries (7 classes + 2 marks); more wrap into rows, read left to right.
    ncol = len(handles) if len(handles) <= 10 else math.ceil(len(handles) / 2)
    fig.legend(handles=_row_major(handles, ncol), loc="lower center", ncol=ncol, fontsize=8, frameon=False)
    legend_rows = math.ceil(len(handles) / ncol)
    fig.tight_layout(rect=(0, (0.3 + 0.22 * legend_rows) / fig.get_figheight(), 1, 0.95))
    return _save(fig, path)


def plot_aus(result: PredictionResult, path: str | os.PathLike[str]) -> Path:
    """``aus.png``: per face, a heat map of the action-unit evidence over time (one row per AU, the per-frame
    ``AU..`` columns: the snippets' evidence), red above 0 (the AU shows), blue below, white at 0; face-absent
    frames are left grey. The colour scale is symmetric, clipped at the 98th percentile of |evidence|, and the
    title says whether 0 is calibrated ("absent") or the raw neutral-face reference."""
    import matplotlib

    from ..prompts import AU_NAMES

    plt = _pyplot()

    aus = list(result.au_names)
    if not aus:
        raise ValueError("this prediction has no AU evidence (predicted with aus=False)")
    frames = result.frames
    frame_index, times, interval = _video_frames(result)
    duration = float(result.video.get("duration") or (times[-1] + interval if len(times) else 0.0)) or 1.0
    face_ids = [f["face_id"] for f in result.faces]
    values = frames.dropna(subset=["face_id"])[aus].to_numpy(dtype=np.float64)
    finite = np.abs(values[np.isfinite(values)])
    limit = float(np.percentile(finite, 98)) if finite.size else 1.0
    limit = limit if limit > 0 else 1.0
    rows = max(1, len(face_ids))
    height = 0.9 + (0.2 * len(aus) + 0.5) * rows
    fig, axes = plt.subplots(rows, 1, figsize=(11, height), sharex=True, squeeze=False)
    zero = "0 = absent (calibrated)" if result.settings.get("au_calibrated") else "0 = as a neutral face (raw)"
    fig.suptitle(f"{Path(result.source).name}: action-unit evidence, {zero}", fontsize=10)
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="0.85")
    image = None
    labels = [f"{a} {AU_NAMES.get(int(a[2:]), '')}".strip() for a in aus]
    for ax, face_id in zip(axes[:, 0], face_ids, strict=False):
        rows_f = frames[frames["face_id"] == face_id].set_index("frame")
        grid = np.full((len(aus), len(frame_index)), np.nan)
        present = np.isin(frame_index, rows_f.index.to_numpy())
        grid[:, present] = rows_f.loc[frame_index[present], aus].to_numpy(dtype=np.float64).T
        edges = np.append(times, times[-1] + interval)
        image = ax.pcolormesh(edges, np.arange(len(aus) + 1), np.ma.masked_invalid(grid), cmap=cmap,
                              vmin=-limit, vmax=limit, shading="flat")
        ax.set_yticks(np.arange(len(aus)) + 0.5)
        ax.set_yticklabels(labels, fontsize=6)
        ax.invert_yaxis()
        ax.set_xlim(0, duration)
        ax.set_title(f"face {face_id}", fontsize=8, loc="left")
    if not face_ids:
        _no_face(axes[0, 0], duration)
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout(rect=(0, 0, 0.93, 1 - 0.35 / height))
    if image is not None:
        bar = fig.add_axes((0.94, 0.15, 0.012, 0.7))
        fig.colorbar(image, cax=bar).ax.tick_params(labelsize=7)
    return _save(fig, path)
