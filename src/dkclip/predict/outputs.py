"""The tables and files of a prediction: per-frame and per-window tables, CSV/JSON writers, the text summary.

``frames.csv`` has exactly the columns of :func:`frame_columns`: ``frame``, ``approx_time`` (seconds from the
first frame), the face box ``FaceRectX/Y/Width/Height`` (display pixels, the detector's box, not the enlarged
crop), ``FaceScore`` (detector confidence; interpolated between detections), ``face_id``, one probability
column per class (the mean over the windows covering the frame) and ``label``. A frame where no face is
tracked has one row with empty box, id, probabilities and label, so face-absent spans are explicit.

``windows.csv`` has one row per window and face; ``windows.json`` holds the same and the run's settings.

**Action-unit evidence** (when the predictor scores it, the default): both tables end with one column per AU,
``AU01``, ``AU02``, ... (:mod:`dkclip.model.au_evidence`: > 0 means the AU's phrase describes the face better
than a neutral face does, or, with a calibration, better than the typical face without the AU does). In
``windows.csv`` it is the window's clip-level evidence; in ``frames.csv`` a frame gets the mean evidence of the
snippets covering it (a snippet covers its part of the window, from its first sampled frame to the next
snippet's), so the AU curves have the snippets' time resolution (0.5 s for 4 snippets in a 2 s window).
``windows.json`` also holds every snippet's evidence (``snippet_aus``, in the order of ``au_columns``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..fileio import atomic_write_text

if TYPE_CHECKING:
    import pandas as pd

    from .pipeline import TrackRecord, WindowJob

BOX_COLUMNS = ("FaceRectX", "FaceRectY", "FaceRectWidth", "FaceRectHeight")


@dataclass
class WindowResult:
    """The model's answer for one window (the job's crops are released)."""

    job: WindowJob
    probs: np.ndarray  # (K,) of the chosen head
    snippet_scores: np.ndarray  # (N,) the NRM's a*
    kept: np.ndarray  # (N,) bool
    aus: np.ndarray | None = None  # (A,) the clip's AU evidence, when scored
    snippet_aus: np.ndarray | None = None  # (N, A) each snippet's

    @property
    def label_index(self) -> int:
        return int(np.argmax(self.probs))


def frame_columns(class_names: Sequence[str], au_names: Sequence[str] = ()) -> list[str]:
    return ["frame", "approx_time", *BOX_COLUMNS, "FaceScore", "face_id", *class_names, "label", *au_names]


def window_columns(class_names: Sequence[str], num_snippets: int, au_names: Sequence[str] = ()) -> list[str]:
    return ["face_id", "window", "start_time", "end_time", "start_frame", "end_frame", *BOX_COLUMNS,
            *class_names, "label", "probability", "short",
            *(f"snippet_score_{i}" for i in range(num_snippets)), *(f"kept_{i}" for i in range(num_snippets)),
            *au_names]


def snippet_spans(result: WindowResult) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive frame ranges ``(starts, ends)`` (N,) of a window's snippets: snippet i runs from its first
    sampled frame (the window's first frame for i = 0) to the frame before snippet i+1's first sampled frame
    (the window's last frame for the last one), so the snippets tile the window. A window whose sampled frames
    are not in order (a short window looped) gives every snippet the whole window."""
    job = result.job
    n = len(result.snippet_scores)
    firsts = np.asarray(job.sample_frames, dtype=np.int64).reshape(n, -1)[:, 0]
    if np.any(np.diff(firsts) < 0):
        return np.full(n, job.start_frame), np.full(n, job.end_frame)
    starts = np.concatenate([[job.start_frame], firsts[1:]])
    ends = np.concatenate([firsts[1:] - 1, [job.end_frame]])
    return starts, np.maximum(ends, starts - 1)  # a repeated first frame: an empty span


def _xywh(box: np.ndarray) -> np.ndarray:
    box = np.asarray(box, dtype=np.float64).reshape(-1, 4)
    return np.stack([box[:, 0], box[:, 1], box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]], axis=1)


def _au_values(r: WindowResult, au_names: Sequence[str]) -> list[float]:
    if not au_names:
        return []
    if r.aus is None:
        raise ValueError("AU columns asked for, but a window has no AU evidence")
    return r.aus.tolist()


def windows_table(results: Sequence[WindowResult], class_names: Sequence[str], num_snippets: int,
                  au_names: Sequence[str] = ()) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for r in sorted(results, key=lambda r: (r.job.face_id, r.job.index)):
        j = r.job
        rows.append([j.face_id, j.index, round(j.start_time, 4), round(j.end_time, 4), j.start_frame, j.end_frame,
                     *np.round(_xywh(j.box)[0], 2), *r.probs.tolist(), class_names[r.label_index],
                     float(r.probs.max()), bool(j.short), *r.snippet_scores.tolist(), *r.kept.astype(bool).tolist(),
                     *_au_values(r, au_names)])
    frame = pd.DataFrame(rows, columns=window_columns(class_names, num_snippets, au_names))
    return frame.astype({"face_id": "int64", "window": "int64", "start_frame": "int64", "end_frame": "int64"})


def frame_aus(frames: np.ndarray, results: Sequence[WindowResult], num_aus: int) -> np.ndarray:
    """Per-frame AU evidence ``(F, A)`` of one track: the mean over the snippets whose span
    (:func:`snippet_spans`) contains the frame; NaN where none does."""
    from .windows import smooth_per_frame

    spans = [snippet_spans(r) for r in results]
    starts = np.concatenate([s for s, _ in spans]) if spans else np.zeros(0, dtype=np.int64)
    ends = np.concatenate([e for _, e in spans]) if spans else np.zeros(0, dtype=np.int64)
    values = [r.snippet_aus for r in results]
    if any(v is None for v in values):
        raise ValueError("AU columns asked for, but a window has no snippet AU evidence")
    scores = np.concatenate([np.asarray(v) for v in values]).reshape(-1, num_aus) if values else np.zeros((0, num_aus))
    keep = ends >= starts  # empty spans (a repeated frame) cover nothing
    return smooth_per_frame(frames, starts[keep], ends[keep], scores[keep])


def frames_table(frame_times: Sequence[float], records: Sequence[TrackRecord], results: Sequence[WindowResult],
                 class_names: Sequence[str], au_names: Sequence[str] = ()) -> pd.DataFrame:
    """One row per (frame, tracked face), plus one empty row per frame without a face; AU columns (``au_names``)
    from the snippets' evidence (:func:`frame_aus`)."""
    import pandas as pd

    from .windows import smooth_per_frame

    k = len(class_names)
    by_track: dict[int, list[WindowResult]] = {}
    for r in results:
        by_track.setdefault(r.job.track, []).append(r)
    parts = []
    covered = np.zeros(len(frame_times), dtype=bool)
    for rec in records:
        arr = rec.arrays()
        mine = by_track.get(rec.track, [])
        probs = smooth_per_frame(arr["frame"], np.array([r.job.start_frame for r in mine], dtype=np.int64),
                                 np.array([r.job.end_frame for r in mine], dtype=np.int64),
                                 np.array([r.probs for r in mine]).reshape(-1, k))
        covered[arr["frame"]] = True
        part = pd.DataFrame({"frame": arr["frame"], "approx_time": np.round(arr["time"], 4)})
        for name, col in zip(BOX_COLUMNS, _xywh(arr["box"]).T, strict=True):
            part[name] = np.round(col, 2)
        part["FaceScore"] = np.round(arr["score"], 4)
        part["face_id"] = rec.face_id
        for i, name in enumerate(class_names):
            part[name] = probs[:, i]
        labels = np.array(class_names, dtype=object)[np.nan_to_num(probs, nan=-1).argmax(axis=1)]
        part["label"] = np.where(np.isnan(probs).all(axis=1), None, labels)
        if au_names:
            aus = frame_aus(arr["frame"], mine, len(au_names))
            for i, name in enumerate(au_names):
                part[name] = aus[:, i]
        parts.append(part)
    absent = np.flatnonzero(~covered)
    if len(absent):
        empty = pd.DataFrame({"frame": absent, "approx_time": np.round(np.asarray(frame_times)[absent], 4)})
        parts.append(empty)
    columns = frame_columns(class_names, au_names)
    if not parts:
        table = pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    else:
        table = pd.concat(parts, ignore_index=True).reindex(columns=columns)
    table = table.astype({"frame": "int64", "face_id": "Int64", "label": "object"})
    return table.sort_values(["frame", "face_id"], kind="stable", na_position="first").reset_index(drop=True)


# ---------------------------------------------------------------------- summary
@dataclass
class Segment:
    label: str
    start: float
    end: float


def face_segments(times: np.ndarray, labels: Sequence[str], end_time: float) -> list[Segment]:
    """Runs of equal per-frame labels as time spans (a frame lasts until the next one)."""
    segments: list[Segment] = []
    for i, label in enumerate(labels):
        t_next = times[i + 1] if i + 1 < len(times) else end_time
        if segments and segments[-1].label == label and math.isclose(segments[-1].end, times[i], abs_tol=1e-6):
            segments[-1].end = float(t_next)
        else:
            segments.append(Segment(str(label), float(times[i]), float(t_next)))
    return segments


def face_summaries(frames: pd.DataFrame, class_names: Sequence[str], frame_interval: float) -> list[dict[str, Any]]:
    """Per face: when it is shown, for how long, its dominant expression (the most frequent per-frame label,
    weighted by frame duration) and its expression segments."""
    out = []
    faces = frames.dropna(subset=["face_id"])
    for face_id, rows in faces.groupby("face_id", sort=True):
        rows = rows.sort_values("frame")
        times = rows["approx_time"].to_numpy(dtype=np.float64)
        end = float(times[-1] + frame_interval)
        durations = np.diff(np.append(times, end))
        labels = rows["label"].fillna("").to_numpy()
        share = {c: float(durations[labels == c].sum()) for c in class_names}
        shown = float(durations.sum())
        dominant = max(share, key=share.__getitem__) if shown > 0 else ""
        segments = face_segments(times, labels, end)
        out.append({"face_id": int(face_id), "start": round(float(times[0]), 3), "end": round(end, 3),
                    "shown": round(shown, 3), "dominant": dominant,
                    "dominant_share": round(share.get(dominant, 0.0) / shown, 3) if shown > 0 else 0.0,
                    "mean_probabilities": {c: round(float(rows[c].mean()), 4) for c in class_names},
                    "segments": [{"label": s.label, "start": round(s.start, 3), "end": round(s.end, 3)}
                                 for s in segments]})
    return out


def format_summary(name: str, summaries: Sequence[dict[str, Any]], notes: Sequence[str] = (),
                   max_segments: int = 8) -> str:
    """The short text printed after a video: one block per face."""
    lines = [f"{name}:"]
    lines += [f"  note: {n}" for n in notes]
    if not summaries:
        lines.append("  no face tracked")
    for s in summaries:
        lines.append(f"  face {s['face_id']}: shown {s['start']:.1f}-{s['end']:.1f} s ({s['shown']:.1f} s), "
                     f"mostly {s['dominant']} ({100 * s['dominant_share']:.0f}% of the time)")
        segs = s["segments"]
        text = ", ".join(f"{g['label']} {g['start']:.1f}-{g['end']:.1f} s" for g in segs[:max_segments])
        more = f", ... ({len(segs) - max_segments} more)" if len(segs) > max_segments else ""
        lines.append(f"    segments: {text}{more}")
    return "\n".join(lines)


# ---------------------------------------------------------------------- files
def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def windows_document(meta: dict[str, Any], results: Sequence[WindowResult], class_names: Sequence[str],
                     summaries: Sequence[dict[str, Any]], au_names: Sequence[str] = ()) -> dict[str, Any]:
    windows = []
    for r in sorted(results, key=lambda r: (r.job.face_id, r.job.index)):
        j = r.job
        aus: dict[str, Any] = {}
        if au_names and r.aus is not None and r.snippet_aus is not None:
            aus = {"aus": {name: float(v) for name, v in zip(au_names, r.aus, strict=True)},
                   "snippet_aus": np.asarray(r.snippet_aus, dtype=np.float64).round(6).tolist()}
        windows.append({
            "face_id": j.face_id, "window": j.index, "start_time": round(j.start_time, 4),
            "end_time": round(j.end_time, 4), "start_frame": j.start_frame, "end_frame": j.end_frame,
            "short": bool(j.short), "box": [round(float(v), 2) for v in _xywh(j.box)[0]],
            "sample_frames": j.sample_frames.tolist(),
            "probabilities": {c: float(p) for c, p in zip(class_names, r.probs, strict=True)},
            "label": class_names[r.label_index], "snippet_scores": [float(a) for a in r.snippet_scores],
            "kept": [bool(k) for k in r.kept], **aus,
        })
    return _jsonable({**meta, "faces": list(summaries), "windows": windows})


def write_tables(out_dir: str | os.PathLike[str], frames: pd.DataFrame, windows: pd.DataFrame,
                 document: dict[str, Any]) -> list[Path]:
    """``frames.csv``, ``windows.csv`` and ``windows.json`` in ``out_dir`` (created), each written atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [atomic_write_text(out / "frames.csv", frames.to_csv(index=False, float_format="%.6g")),
               atomic_write_text(out / "windows.csv", windows.to_csv(index=False, float_format="%.6g")),
               atomic_write_text(out / "windows.json", json.dumps(document, indent=1))]
    return written
