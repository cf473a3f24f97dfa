"""Helpers of the predictor tests: scripted detectors, in-memory frame sources and small test videos.

"Faces" in these tests are saturated red squares on a grey background; :class:`BlobDetector` finds them
(robust to video coding), so tracking and cropping run on real decoded video without a face model.
"""

from __future__ import annotations

import fractions
import os
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from scipy import ndimage

from dkclip.predict.faces import Detection
from dkclip.predict.sources import Frame, FrameSource, SourceInfo

Box = tuple[float, float, float, float]


class BlobDetector:
    """Finds red squares (R > 150, G and B < 90) of at least ``min_size`` pixels a side."""

    name = "blobs"

    def __init__(self, min_size: int = 6) -> None:
        self.min_size = min_size
        self.calls = 0

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        out = []
        for f in frames:
            self.calls += 1
            mask = (f[..., 0] > 150) & (f[..., 1] < 90) & (f[..., 2] < 90)
            labels, _ = ndimage.label(mask)
            found = []
            for sl in ndimage.find_objects(labels):
                y, x = sl
                if y.stop - y.start >= self.min_size and x.stop - x.start >= self.min_size:
                    found.append(Detection((float(x.start), float(y.start), float(x.stop), float(y.stop)), 0.99))
            out.append(found)
        return out


class NoFaceDetector:
    name = "nothing"

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        return [[] for _ in frames]


def scene_frame(boxes: Sequence[Box], height: int = 96, width: int = 128, level: int = 0) -> np.ndarray:
    """A grey frame (with a faint gradient and a frame-dependent level, so frames differ) with red squares."""
    img = np.full((height, width, 3), 110, dtype=np.uint8)
    img[..., 2] = np.linspace(90, 140, width, dtype=np.uint8)[None, :]
    img[: height // 8, : width // 8] = 40 + (level * 13) % 160
    for x0, y0, x1, y1 in boxes:
        img[int(y0):int(y1), int(x0):int(x1)] = (230, 30, 30)
    return img


class ListSource(FrameSource):
    """Frames from memory (or a generator function), with given times: a FrameSource without decoding."""

    def __init__(self, make: Callable[[int], np.ndarray], times: Sequence[float], path: str = "memory") -> None:
        fps = 1.0 / float(np.median(np.diff(times))) if len(times) > 1 else 25.0
        super().__init__(SourceInfo(path=path, kind="video", fps=fps, duration=None))
        self.make = make
        self.times = list(times)

    def __iter__(self) -> Iterator[Frame]:
        for i, t in enumerate(self.times):
            image = self.make(i)
            self.info.num_frames = i + 1
            self.info.last_time = t
            self.info.height, self.info.width = image.shape[:2]
            yield Frame(i, t, image)


def write_scene_video(path: str | os.PathLike[str], boxes_at: Callable[[int], Sequence[Box]], num_frames: int,
                      fps: int = 25, height: int = 96, width: int = 128, times: Sequence[float] | None = None,
                      rotation: int = 0, codec: str = "libx264") -> str:
    """Encode a scene video; ``times`` (seconds) gives a variable frame rate, ``rotation`` a display matrix."""
    import av

    with av.open(os.fspath(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        if rotation:
            stream.set_display_rotation(rotation)
        if times is not None:
            stream.codec_context.time_base = fractions.Fraction(1, 1000)
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(scene_frame(boxes_at(i), height, width, i), format="rgb24")
            if times is not None:
                frame.pts = round(times[i] * 1000)
                frame.time_base = fractions.Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return os.fspath(path)


def moving_box(i: int, x0: float = 20, y0: float = 30, size: float = 32, vx: float = 0.5) -> Box:
    return (x0 + vx * i, y0, x0 + vx * i + size, y0 + size)


_MODELS: dict[str, object] = {}


def tiny_model() -> object:
    """A randomly initialised dkclip-tiny, built once per test session (read-only use)."""
    if "tiny" not in _MODELS:
        import torch

        import dkclip

        torch.manual_seed(0)
        _MODELS["tiny"] = dkclip.create_model("dkclip-tiny").eval()
    return _MODELS["tiny"]
