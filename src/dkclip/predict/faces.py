"""Face detectors behind one small interface, so another detector can be added without touching the rest.

A detector takes a batch of RGB frames (``uint8`` arrays ``(H, W, 3)``) and returns, per frame, the faces it
found as :class:`Detection` objects in that frame's pixel coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class Detection:
    """One face in one frame: box ``(x0, y0, x1, y1)`` in pixels, a confidence, and 5 landmarks if the detector
    gives them (left eye, right eye, nose, left mouth corner, right mouth corner; ``(5, 2)`` as x, y)."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray | None = None

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


class FaceDetector(Protocol):
    """What the predictor needs from a detector."""

    name: str

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]: ...


class WholeFrameDetector:
    """``--detector none``: every frame is already a face crop (DFEW, FERV39K, MAFW, the synthetic clips)."""

    name = "none"

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        return [[Detection((0.0, 0.0, float(f.shape[1]), float(f.shape[0])), 1.0)] for f in frames]
