"""Rerunning without decoding again: the decoded frames of an input and the faces found in them, kept between
runs of one page session.

The predictor takes any :class:`~dkclip.predict.sources.FrameSource` and any face detector, so both are kept
from the outside, without a second copy of the pipeline:

- :class:`RecordingSource` wraps the decoder on the first run and keeps every frame it yields, up to a memory
  budget (over it the frames are dropped and the next run decodes again); :class:`ReplaySource` yields them
  again, with the same :class:`~dkclip.predict.sources.SourceInfo`, so that a rerun sees exactly what the
  first one saw.
- :class:`CachingDetector` wraps the predictor's detector and remembers its answer per frame, keyed by the
  frame's pixels: a rerun with other windows, stride, head or crop asks the detector nothing again; detector
  settings key a separate memo (:meth:`dkclip.app.settings.RunSettings.detection_key`).

Tracking, cropping and the model always run again (they depend on the settings being changed); the annotated
video is drawn from the kept frames when they were kept.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..predict.sources import Frame, FrameSource, SourceInfo

if TYPE_CHECKING:
    import numpy as np

    from ..predict.faces import Detection, FaceDetector

# (frames done, frames expected or 0 when unknown)
FrameProgress = Callable[[int, int], None]


class Cancelled(Exception):
    """The user pressed Cancel; raised between two frames."""


def expected_frames(info: SourceInfo) -> int:
    """The frame count the header promises (0 when it does not say): for the progress bar only."""
    return max(1, round(info.duration * info.fps)) if info.duration and info.fps else 0


@dataclass
class MediaCache:
    """What is kept of one input between runs: its frames (None until one full decode fitted the budget) with
    the source's final info, and the detector's answers per detection key."""

    frames: list[Frame] | None = None
    info: SourceInfo | None = None
    detections: dict[tuple[Any, ...], dict[bytes, list[Detection]]] = field(default_factory=dict)
    over_budget: bool = False  # the frames did not fit: every run decodes

    def memo(self, key: tuple[Any, ...]) -> dict[bytes, list[Detection]]:
        return self.detections.setdefault(key, {})


class RecordingSource(FrameSource):
    """``inner``'s frames, passed through and kept in ``cache`` when the whole input fits ``budget_bytes``.
    The outputs name the input ``name`` (the uploaded file's own name, not the server's temporary path)."""

    def __init__(self, inner: FrameSource, name: str, cache: MediaCache, budget_bytes: int,
                 progress: FrameProgress | None = None, cancel: threading.Event | None = None) -> None:
        inner.info.path = name
        super().__init__(inner.info)
        self.inner = inner
        self.cache = cache
        self.budget = budget_bytes
        self.progress = progress
        self.cancel = cancel

    def __iter__(self) -> Iterator[Frame]:
        kept: list[Frame] | None = [] if not self.cache.over_budget else None
        used = 0
        total = expected_frames(self.info)
        for frame in self.inner:
            _check(self.cancel)
            if kept is not None:
                used += frame.image.nbytes
                if used > self.budget:
                    kept = None  # too big to keep: reruns decode again
                    self.cache.over_budget = True
                else:
                    kept.append(frame)
            if self.progress is not None:
                self.progress(frame.index + 1, total)
            yield frame
        # Only a complete decode is kept (an error or Cancel mid-way leaves nothing half-kept).
        if kept is not None:
            self.cache.frames = kept
            self.cache.info = dataclasses.replace(self.info)

    def close(self) -> None:
        self.inner.close()


class ReplaySource(FrameSource):
    """The kept frames of a :class:`MediaCache`, yielded again with the first decode's source info."""

    def __init__(self, cache: MediaCache, progress: FrameProgress | None = None,
                 cancel: threading.Event | None = None) -> None:
        if cache.frames is None or cache.info is None:
            raise ValueError("nothing kept to replay")
        super().__init__(dataclasses.replace(cache.info))
        self.frames = cache.frames
        self.progress = progress
        self.cancel = cancel

    def __iter__(self) -> Iterator[Frame]:
        total = len(self.frames)
        for frame in self.frames:
            _check(self.cancel)
            if self.progress is not None:
                self.progress(frame.index + 1, total)
            yield frame


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("cancelled")


def frame_key(image: np.ndarray) -> bytes:
    """A digest of a frame's pixels (and shape): equal frames give the same detections."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((image.shape, image.dtype.str)).encode())
    digest.update(image.tobytes())  # a copy, under a millisecond for a 640x360 frame
    return digest.digest()


class CachingDetector:
    """``inner`` with its answers remembered in ``memo`` (frame digest -> detections). It keeps ``inner``'s name,
    which the outputs record."""

    def __init__(self, inner: FaceDetector, memo: dict[bytes, list[Detection]]) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", type(inner).__name__)
        self.memo = memo
        self.asked = 0  # frames the inner detector was asked about (the rest came from the memo)

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        keys = [frame_key(f) for f in frames]
        missing = [i for i, k in enumerate(keys) if k not in self.memo]
        if missing:
            found = self.inner.detect([frames[i] for i in missing])
            self.asked += len(missing)
            for i, detections in zip(missing, found, strict=True):
                self.memo[keys[i]] = list(detections)
        # Detections are frozen; a new list per call, so that no caller's edit reaches the memo.
        return [list(self.memo[k]) for k in keys]

    def __getattr__(self, name: str) -> Any:
        # Anything else (min_face_size, threshold, ...) as the wrapped detector has it.
        if name == "inner":  # not set yet (during copying): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)
