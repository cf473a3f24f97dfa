"""Inputs of the predictor: expanding what the user named into media, and decoding each one as a stream of
frames with timestamps, in display orientation.

- :func:`expand_inputs` turns files, frame folders, directories (searched recursively, by extension) and list
  files (``.txt``/``.lst``/``.list``, one path a line, relative to the list) into a flat list of media.
- :func:`open_source` opens one medium (a video PyAV decodes, a folder of frames, a single image, or a live
  FFmpeg input) as a :class:`FrameSource`: an iterator of :class:`Frame` that holds one decoded frame at a time,
  so memory does not grow with the length of the video.

Decoding follows the rules of :mod:`dkclip.data.decoding`, the layer training and evaluation read through too:
video times are the frames' presentation timestamps relative to the first frame (variable frame rates keep their
real timing), rotation metadata and EXIF orientation are applied, and a video that decodes a few frames short
of its header is used after one warning, one far short refused. Frame folders and images have no timestamps and
get ``index / fps``.

Every problem with an input raises :class:`~dkclip.errors.PredictionError` naming the file.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.decoding import DEFAULT_FPS, VideoDecoder, fit_to_size, load_image
from ..data.errors import MediaError
from ..data.media import natural_key
from ..errors import PredictionError, UsageError

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
# Extensions picked up when a directory is searched; any other file named explicitly is still tried with PyAV.
VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg",
                                              ".wmv", ".flv", ".3gp", ".ts", ".mts", ".gif"})
LIST_EXTENSIONS: frozenset[str] = frozenset({".txt", ".lst", ".list"})
# Frame folders and images carry no timing: this is their frame rate unless the caller gives one (DFEW, FERV39K
# and MAFW frames were extracted from 25-30 fps video).
DEFAULT_IMAGE_FPS = DEFAULT_FPS


@dataclass(frozen=True)
class Frame:
    """One decoded frame: its position in decode order, its time in seconds from the first frame, and the
    pixels, ``uint8 (H, W, 3)`` RGB in display orientation."""

    index: int
    time: float
    image: np.ndarray


@dataclass
class SourceInfo:
    """What is known about a medium before (``fps``, ``duration`` from the header) and after decoding."""

    path: str
    kind: str  # "video", "frames", "image" or "live"
    fps: float  # nominal frame rate (header, or the fps given for frame folders and images)
    duration: float | None = None  # from the header; None when it has none (live inputs, some containers)
    width: int = 0  # display size (after rotation)
    height: int = 0
    rotation: int = 0  # degrees counter-clockwise applied to the stored frames
    num_frames: int = 0  # frames decoded so far (final once the source is exhausted)
    last_time: float = 0.0  # time of the last decoded frame


def _is_frame_folder(path: Path) -> bool:
    """A directory holding images and no videos is one clip (a frame folder), not a collection."""
    try:
        entries = list(os.scandir(path))
    except OSError:
        return False
    exts = {os.path.splitext(e.name)[1].lower() for e in entries if e.is_file()}
    return bool(exts & IMAGE_EXTENSIONS) and not exts & VIDEO_EXTENSIONS


def _search(directory: Path) -> list[Path]:
    """Media under ``directory``, recursively: videos, and frame folders as single items."""
    found: list[Path] = []
    for root, dirs, files in os.walk(directory):
        dirs.sort(key=natural_key)
        root_path = Path(root)
        exts = {os.path.splitext(f)[1].lower() for f in files}
        if exts & IMAGE_EXTENSIONS and not exts & VIDEO_EXTENSIONS and root_path != directory:
            found.append(root_path)
            dirs.clear()  # a frame folder's sub-folders (rare) are not separate clips
            continue
        for name in sorted(files, key=natural_key):
            ext = os.path.splitext(name)[1].lower()
            if ext in VIDEO_EXTENSIONS or (ext in IMAGE_EXTENSIONS and exts & VIDEO_EXTENSIONS):
                found.append(root_path / name)
    return found


def _read_list(path: Path) -> list[Path]:
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        item = Path(line)
        items.append(item if item.is_absolute() else path.parent / item)
    return items


def expand_inputs(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The media the user named, in order, without duplicates.

    A path that does not exist is kept, so that it is reported (by name) when it is opened instead of vanishing
    from a batch.
    """
    out: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            out.extend([path] if _is_frame_folder(path) else _search(path))
        elif path.is_file() and path.suffix.lower() in LIST_EXTENSIONS:
            out.extend(expand_inputs(_read_list(path)))
        else:
            out.append(path)
    seen: set[str] = set()
    unique = []
    for p in out:
        key = os.path.abspath(p)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


@contextmanager
def _prediction_errors() -> Iterator[None]:
    """The decoding layer's errors as the predictor's one-line ``PATH: reason`` errors."""
    try:
        yield
    except MediaError as exc:
        raise PredictionError(f"{exc.path}: {exc.reason}") from exc


class FrameSource:
    """Iterates the frames of one medium; use as a context manager (closes the container)."""

    def __init__(self, info: SourceInfo) -> None:
        self.info = info

    def __iter__(self) -> Iterator[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VideoSource(FrameSource):
    """A video file or live input decoded with PyAV, one frame at a time.

    ``realtime``: deliver frames no faster than their timestamps (a file read as if it were a camera).
    ``max_seconds``: stop after this much video time (live inputs have no end).
    """

    def __init__(self, path: str, *, live: bool = False, input_format: str | None = None,
                 options: dict[str, str] | None = None, realtime: bool = False,
                 max_seconds: float | None = None, threads: str = "AUTO") -> None:
        if max_seconds is not None and not 0 < max_seconds <= math.inf:
            raise UsageError(f"max_seconds (--max-seconds) must be a positive number of seconds, got {max_seconds}")
        self.path = path
        if not live:
            _check_file(path)
        # Frame threading decodes several frames at once: a large part of the cost of a long video.
        with _prediction_errors():
            self._video = VideoDecoder(path, threads=threads, live=live, input_format=input_format,
                                       options=options)
        codec = self._video.stream.codec_context
        super().__init__(SourceInfo(path=path, kind="live" if live else "video", fps=self._video.fps,
                                    duration=self._video.duration, width=codec.width, height=codec.height))
        self.realtime = realtime
        self.max_seconds = max_seconds

    def __iter__(self) -> Iterator[Frame]:
        info = self.info
        wall_start = time.monotonic()
        with _prediction_errors():
            for decoded in self._video.frames():
                if self.max_seconds is not None and decoded.time > self.max_seconds:
                    break
                if self.realtime:
                    delay = wall_start + decoded.time - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                image = decoded.rgb()
                if decoded.index == 0:
                    info.rotation = decoded.rotation
                    info.height, info.width = image.shape[:2]
                info.num_frames = decoded.index + 1
                info.last_time = decoded.time
                yield Frame(decoded.index, decoded.time, image)
            self._video.check_complete()  # the stream ran out: a damaged file is warned about or refused

    def close(self) -> None:
        self._video.close()


class ImagesSource(FrameSource):
    """A frame folder (naturally sorted images) or a single image, at ``fps`` frames per second."""

    def __init__(self, path: str, files: list[str], kind: str, fps: float) -> None:
        if not files:
            raise PredictionError(f"{path}: no images in this folder (expected {sorted(IMAGE_EXTENSIONS)})")
        super().__init__(SourceInfo(path=path, kind=kind, fps=fps, duration=len(files) / fps))
        self.files = files

    def __iter__(self) -> Iterator[Frame]:
        for index, file in enumerate(self.files):
            with _prediction_errors():
                image = load_image(file)
            if index == 0:
                self.info.height, self.info.width = image.shape[:2]
            # Frames of one clip must share one size (a clip is cropped and stacked as one).
            image = fit_to_size(image, self.info.height, self.info.width)
            self.info.num_frames = index + 1
            self.info.last_time = index / self.info.fps
            yield Frame(index, index / self.info.fps, image)


def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise PredictionError(f"{path}: no such file or folder")
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise PredictionError(f"{path}: empty file (0 bytes)")


def check_fps(fps: float | None) -> None:
    """The frame rate given for frame folders and images: None (the default) or a positive number (0 used to
    mean the default and a negative one gave negative times: no face was ever tracked)."""
    if fps is not None and not 0 < fps < math.inf:
        raise UsageError(f"fps must be a positive number of frames per second, got {fps}")


def open_source(path: str | os.PathLike[str], *, fps: float | None = None, realtime: bool = False,
                max_seconds: float | None = None) -> FrameSource:
    """Open one medium: a frame folder, an image (by extension), or anything else as a video with PyAV.

    ``fps`` sets the frame rate of frame folders and images (default 25); videos use their timestamps.
    """
    path = os.fspath(path)
    check_fps(fps)
    _check_file(path)
    image_fps = fps or DEFAULT_IMAGE_FPS
    if os.path.isdir(path):
        files = sorted((e.path for e in os.scandir(path)
                        if e.is_file() and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS),
                       key=lambda p: natural_key(os.path.basename(p)))
        return ImagesSource(path, files, "frames", image_fps)
    if os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS:
        return ImagesSource(path, [path], "image", image_fps)
    return VideoSource(path, realtime=realtime, max_seconds=max_seconds)


def live_input(device_or_url: str) -> tuple[str, str | None, dict[str, str]]:
    """``(path, format, options)`` for PyAV: a camera (``/dev/videoN`` or a bare number: video4linux2 on Linux,
    AVFoundation on macOS) or any URL/file FFmpeg opens (rtsp://, http://, a file read live)."""
    import sys

    spec = device_or_url
    if spec.isdigit():
        if sys.platform == "darwin":
            return spec, "avfoundation", {"framerate": "30"}
        spec = f"/dev/video{spec}"
    if spec.startswith("/dev/video"):
        return spec, "v4l2", {}
    options: dict[str, str] = {}
    if spec.startswith("rtsp://"):
        options["rtsp_transport"] = "tcp"  # UDP loses packets on busy networks: broken frames, broken faces
    return spec, None, options


def open_live(device_or_url: str, *, realtime: bool | None = None, max_seconds: float | None = None) -> VideoSource:
    """Open a live input. A plain file is paced at its own frame rate (``realtime``), so that it behaves as a
    camera would; cameras and streams pace themselves."""
    path, fmt, options = live_input(device_or_url)
    is_file = os.path.isfile(path)
    pace = is_file if realtime is None else realtime
    return VideoSource(path, live=True, input_format=fmt, options=options, realtime=pace, max_seconds=max_seconds)


def describe(info: SourceInfo) -> dict[str, Any]:
    """The facts about a source that the outputs record."""
    return {"path": info.path, "kind": info.kind, "fps": round(info.fps, 3), "frames": info.num_frames,
            "duration": round(info.last_time + 1.0 / info.fps if info.num_frames else 0.0, 3),
            "width": info.width, "height": info.height, "rotation": info.rotation}
