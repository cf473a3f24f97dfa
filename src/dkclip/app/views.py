"""What the page shows of a run, as plain values (tables as rows, messages as Markdown): no Gradio here, so
that it is tested without a browser.

The segments table lists, per face, the expression segments of the per-face summary
(:func:`dkclip.predict.outputs.face_summaries`: runs of the same per-frame label); a segment's confidence is the
mean probability of its label over the segment's frames in ``frames.csv`` (unless the summary gives one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..predict.result import PredictionResult
    from .engine import InputOutcome, RunOutcome

SEGMENT_HEADERS = ["face", "start (s)", "end (s)", "label", "confidence"]


def segment_rows(result: PredictionResult) -> list[list[Any]]:
    """One row per expression segment: face id, start and end (s), label, confidence."""
    frames = result.frames.dropna(subset=["face_id"])
    rows: list[list[Any]] = []
    for face in result.faces:
        mine = frames[frames["face_id"] == face["face_id"]]
        times = mine["approx_time"].to_numpy(dtype=np.float64)
        for seg in face["segments"]:
            confidence = seg.get("confidence")
            if confidence is None and seg["label"] in mine.columns:
                inside = (times >= seg["start"] - 1e-6) & (times < seg["end"] - 1e-6)
                values = mine[seg["label"]].to_numpy(dtype=np.float64)[inside]
                confidence = float(np.nanmean(values)) if np.isfinite(values).any() else None
            rows.append([int(face["face_id"]), round(float(seg["start"]), 2), round(float(seg["end"]), 2),
                         str(seg["label"]), None if confidence is None else round(float(confidence), 3)])
    return rows


def input_status(outcome: InputOutcome) -> str:
    """The lines about one input: its error, or its faces and notes."""
    if outcome.result is None:
        return f"**{outcome.name}: could not be used.** {outcome.error}"
    r = outcome.result
    faces = f"{r.num_faces} face{'s' if r.num_faces != 1 else ''}"
    lines = [f"**{outcome.name}**: {faces}, {len(r.windows)} windows, "
             f"{r.video.get('frames', 0)} frames ({r.video.get('duration', 0):g} s)."]
    lines += [f"Note: {n}" for n in r.notes]
    for face in r.faces:
        lines.append(f"Face {face['face_id']}: shown {face['start']:.1f}-{face['end']:.1f} s, mostly "
                     f"{face['dominant']} ({100 * face['dominant_share']:.0f}% of the time).")
    return "  \n".join(lines)


def run_status(outcome: RunOutcome) -> str:
    """The page's message after a run: per input, then what was reused, then the equivalent command."""
    parts = [input_status(o) for o in outcome.inputs]
    reused = sorted({r for o in outcome.inputs for r in o.reused})
    if reused:
        what = " and ".join(reused)
        changed = f" (changed: {', '.join(outcome.changed)})" if outcome.changed else ""
        parts.append(f"Rerun{changed}: reused {what}; tracks, crops, windows and the model ran again.")
    parts.append(f"The same files from the command line: `{outcome.command}`")
    return "\n\n".join(parts)
