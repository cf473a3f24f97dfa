""":class:`PredictionResult`: everything predicted for one input, and how it is saved, plotted and rendered.

A module of its own so that the writers of its pictures and video (:mod:`.plots`, :mod:`.render`) can name the
type without importing the predictor that makes it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .outputs import WindowResult, format_summary, windows_document, write_tables

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from .sources import FrameSource


@dataclass
class PredictionResult:
    """Everything predicted for one input. ``frames`` and ``windows`` are pandas DataFrames (schemas in
    :mod:`dkclip.predict.outputs`); ``faces`` the per-face summaries; ``notes`` what the user should know
    (short video, no face, ...)."""

    source: str
    video: dict[str, Any]
    class_names: list[str]
    frames: pd.DataFrame
    windows: pd.DataFrame
    faces: list[dict[str, Any]]
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    window_results: list[WindowResult] = field(default_factory=list, repr=False)
    au_names: list[str] = field(default_factory=list)  # the AU evidence columns (empty: not scored)
    # How render() reads the frames again: None opens ``source``. A caller that gave the predictor a FrameSource
    # of its own (the app: an upload named as uploaded, its frames kept in memory) sets a function opening an
    # equal one.
    reopen: Callable[[], FrameSource] | None = field(default=None, repr=False, compare=False)

    @property
    def num_faces(self) -> int:
        return len(self.faces)

    def summary(self) -> str:
        return format_summary(self.source, self.faces, self.notes)

    def document(self) -> dict[str, Any]:
        """What ``windows.json`` holds."""
        meta = {"source": self.source, "video": self.video, "classes": self.class_names, **self.settings,
                "notes": self.notes}
        return windows_document(meta, self.window_results, self.class_names, self.faces, self.au_names)

    def plot(self, path: str | os.PathLike[str]) -> Path:
        """Write the timeline picture (per face: stacked class probabilities over time; erased snippets and
        face-absent spans marked)."""
        from .plots import plot_timeline

        return plot_timeline(self, path)

    def plot_aus(self, path: str | os.PathLike[str]) -> Path:
        """Write the action-unit picture (per face: a heat map of each AU's evidence over time)."""
        from .plots import plot_aus

        return plot_aus(self, path)

    def save(self, out_dir: str | os.PathLike[str], plot: bool = True) -> list[Path]:
        """Write ``frames.csv``, ``windows.csv``, ``windows.json`` and (``plot``) ``timeline.png`` and, when AUs
        were scored, ``aus.png``."""
        written = write_tables(out_dir, self.frames, self.windows, self.document())
        if plot:
            written.append(self.plot(Path(out_dir) / "timeline.png"))
            if self.au_names:
                written.append(self.plot_aus(Path(out_dir) / "aus.png"))
        return written

    def render(self, path: str | os.PathLike[str], fps: float | None = None) -> Path:
        """An annotated copy of the video (boxes, ids, current label and probability bars), re-decoding it."""
        from .render import render_video

        return render_video(self, path, fps=fps)
