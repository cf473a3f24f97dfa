"""Face detectors behind one small interface, so another detector can be added without touching the rest.

A detector takes a batch of RGB frames (``uint8`` arrays ``(H, W, 3)``) and returns, per frame, the faces it
found as :class:`Detection` objects in that frame's pixel coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..errors import PredictionError, UsageError
from ..threads import torch_threads
from .defaults import DEFAULT_MIN_FACE_SIZE, DEFAULT_THRESHOLD  # the measurements: MTCNNDetector


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


class MTCNNDetector:
    """``--detector mtcnn``: facenet-pytorch's MTCNN (P-Net → R-Net → O-Net cascade, weights in its wheel).

    Boxes are MTCNN's face boxes (cheek to cheek, forehead to chin; not square), clipped to the frame; the
    landmarks are not clipped. Faces whose unclipped box is smaller than ``min_face_size`` on its longer side, or
    whose O-Net score is under ``threshold``, are dropped; at most ``max_faces`` (the largest) are kept. Faces come
    most confident first.
    Frames of one size are detected together, ``batch_size`` at a time (MTCNN runs its pyramid on the batch).
    ``num_threads`` sets torch's intra-op threads for the duration of :meth:`detect` (restored afterwards): MTCNN
    runs many small convolutions, and on a busy CPU two threads were 4–10× *slower* than one (spin-waiting),
    while on an idle one they were 1.8× faster; None leaves torch's setting alone.

    Defaults, as measured on this package's synthetic scenes (:mod:`dkclip.synth.scenes`, 640×360: 60 scenes,
    1800 frames, 2504 fully visible face views without occluder, blur or darkness), 21 scikit-image photos and
    the 200 LFW patches (100 faces, 100 non-faces) shipped with scikit-image:

    * ``min_face_size=20`` (:data:`DEFAULT_MIN_FACE_SIZE`): the pyramid's smallest face; faces under it are not
      found at all. Measured for ``dkclip predict`` (640×360 scenes, one thread, 2026-11-29): on scenes with
      18–72 px faces, 88 / 63 / 47 % of the fully visible clean face views are found at 20 / 30 / 40 px (only
      faces under 22 px are missed at 20), on the standard scenes (79–162 px faces) 100 / 99 / 99.5 %; MTCNN
      costs 41 / 30 / 25 ms of CPU per frame, and dkclip-tiny runs end to end at 2.4× / 3.6× real time at
      20 / 40 px (CPU time, ``benchmarks/predict_speed.py``). Both are faster than real time, so the default
      keeps the small faces; 40 is the faster choice when every face is large. (32 also loses 2 of the 100
      upscaled LFW faces.) Batching 16 frames through MTCNN saved only 4–6 % of its CPU time, not worth
      holding frames back: each detection frame is detected as it arrives;
    * ``threshold=0.8`` (MTCNN's own last stage accepts 0.7): scene recall at IoU ≥ 0.5 is 97.5 / 97.1 / 96.7 /
      95.7 % at 0.7 / 0.8 / 0.85 / 0.9, with 2 / 2 / 2 / 1 false detections in the 1800 frames (each a small box
      on part of a face), and no false detection at 0.8 on the photos or the non-face patches that 0.9 avoids;
    * ``stage_thresholds=(0.5, 0.6, 0.7)``: P-Net and R-Net a little more permissive than MTCNN's published
      (0.6, 0.7, 0.7), which dropped dark-skinned synthetic faces before O-Net could score them (clean recall
      +1 point, same false detections, about 5 % slower).
    """

    name = "mtcnn"

    def __init__(self, min_face_size: int = DEFAULT_MIN_FACE_SIZE, threshold: float = DEFAULT_THRESHOLD,
                 device: str = "cpu",
                 max_faces: int | None = None, batch_size: int = 8,
                 stage_thresholds: tuple[float, float, float] = (0.5, 0.6, 0.7),
                 num_threads: int | None = None) -> None:
        if min_face_size < 12:
            # P-Net's receptive field is 12 px: smaller faces would need upsampling MTCNN does not do well
            raise UsageError(f"min_face_size must be at least 12 px, got {min_face_size}")
        if not 0.0 <= threshold <= 1.0:
            raise UsageError(f"threshold must be in [0, 1], got {threshold}")
        if max_faces is not None and max_faces < 1:
            raise UsageError(f"max_faces must be at least 1 (or None for all), got {max_faces}")
        if batch_size < 1:
            raise UsageError(f"batch_size must be at least 1, got {batch_size}")
        if len(stage_thresholds) != 3 or not all(0.0 <= v <= 1.0 for v in stage_thresholds):
            raise UsageError(f"stage_thresholds must be three numbers in [0, 1], got {stage_thresholds}")
        if num_threads is not None and num_threads < 1:
            raise UsageError(f"num_threads must be at least 1 (or None), got {num_threads}")
        try:
            # imported here so dkclip works without facenet-pytorch until a detector is asked for
            from facenet_pytorch import MTCNN
        except ImportError as exc:
            raise UsageError(
                "face detection needs facenet-pytorch: pip install --no-deps facenet-pytorch==2.6.0 requests "
                f"(or `make install`); import failed with: {exc}") from None
        self.min_face_size = int(min_face_size)
        self.threshold = float(threshold)
        self.device = device
        self.max_faces = max_faces
        self.batch_size = int(batch_size)
        self.stage_thresholds = tuple(float(v) for v in stage_thresholds)
        self.num_threads = num_threads
        # keep_all: every face, not only the largest; post_process is for crops, which we do not take here
        self._mtcnn = MTCNN(min_face_size=self.min_face_size, thresholds=list(self.stage_thresholds),
                            keep_all=True, select_largest=False, post_process=False, device=device)

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        with torch_threads(self.num_threads):
            return self._detect(frames)

    def _detect(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        out: list[list[Detection]] = [[] for _ in frames]
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, frame in enumerate(frames):
            arr = np.asarray(frame)
            if arr.ndim != 3 or arr.shape[2] != 3:
                raise PredictionError(f"face detection needs RGB frames (H, W, 3), got shape {arr.shape}")
            groups.setdefault(arr.shape, []).append(i)
        for shape, indices in groups.items():
            for k in range(0, len(indices), self.batch_size):
                chunk = indices[k:k + self.batch_size]
                batch = np.stack([_as_uint8(frames[i]) for i in chunk])
                boxes, probs, points = self._mtcnn.detect(batch, landmarks=True)
                for i, b, p, lm in zip(chunk, boxes, probs, points, strict=True):
                    out[i] = self._select(b, p, lm, shape[1], shape[0])
        return out

    def _select(self, boxes: np.ndarray | None, probs: np.ndarray, points: np.ndarray | None, width: int,
                height: int) -> list[Detection]:
        if boxes is None or len(boxes) == 0:
            return []
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        probs = np.asarray(probs, dtype=np.float64).reshape(-1)
        points = np.asarray(points, dtype=np.float64).reshape(-1, 5, 2)
        found = []
        for box, score, lm in zip(boxes, probs, points, strict=True):
            x0, y0, x1, y1 = (float(v) for v in box)
            if score < self.threshold or max(x1 - x0, y1 - y0) < self.min_face_size:
                continue
            clipped = (max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1))
            if clipped[2] - clipped[0] < 1.0 or clipped[3] - clipped[1] < 1.0:
                continue
            found.append(Detection(clipped, float(score), lm))
        if self.max_faces is not None:  # the largest faces: the people the video is about
            found = sorted(found, key=lambda d: -d.width * d.height)[:self.max_faces]
        found.sort(key=lambda d: -d.score)
        return found


def _as_uint8(frame: np.ndarray) -> np.ndarray:
    arr = np.asarray(frame)
    if arr.dtype != np.uint8:
        # float frames in [0, 1] are the other common convention; anything else is taken as 0..255
        scale = 255.0 if arr.dtype.kind == "f" and float(arr.max(initial=0.0)) <= 1.0 else 1.0
        arr = np.clip(np.round(arr.astype(np.float64) * scale), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


DETECTORS: tuple[str, ...] = ("mtcnn", "none")


def build_detector(name: str, **options: Any) -> FaceDetector:
    """The detector called ``name`` ("mtcnn" or "none"); ``options`` go to its constructor."""
    if name == "mtcnn":
        return MTCNNDetector(**options)
    if name == "none":
        if options:
            raise UsageError(f"detector 'none' takes no options, got {sorted(options)}")
        return WholeFrameDetector()
    raise UsageError(f"unknown face detector {name!r}; known: {', '.join(DETECTORS)}")
