"""Inputs of the predictor: expanding what the user named into media, and decoding each one as a stream of
frames with timestamps, in display orientation.

- :func:`expand_inputs` turns files, frame folders, directories (searched recursively, by extension) and list
  files (``.txt``/``.lst``/``.list``, one path a line, relative to the list) into a flat list of media.
- :func:`open_source` opens one medium (a video PyAV decodes, a folder of frames, a single image, or a live
  FFmpeg input) as a :class:`FrameSource`: an iterator of :class:`Frame` that holds one decoded frame at a time,
  so memory does not grow with the length of the video.

Times are the frames' presentation timestamps (``pts * time_base``) relative to the first frame, so variable
frame rate videos keep their real timing; frame folders and images have no timestamps and get ``index / fps``.
Rotation metadata (the display matrix phones write) is applied to every frame; images follow their EXIF
orientation.

Every problem with an input raises :class:`~dkclip.errors.PredictionError` naming the file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.media import natural_key
from ..errors import PredictionError

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
# Extensions picked up when a directory is searched; any other file named explicitly is still tried with PyAV.
VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg",
                                              ".wmv", ".flv", ".3gp", ".ts", ".mts", ".gif"})
LIST_EXTENSIONS: frozenset[str] = frozenset({".txt", ".lst", ".list"})
# Frame folders and images carry no timing: this is their frame rate unless the caller gives one (DFEW, FERV39K
# and MAFW frames were extracted from 25-30 fps video).
DEFAULT_IMAGE_FPS = 25.0


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


def rotate_to_display(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a display-matrix rotation (degrees counter-clockwise, as PyAV reports it) to an ``(H, W, 3)`` frame.

    A phone held upright stores landscape frames with rotation -90 (the old ``rotate=90`` tag): turning them 90°
    clockwise shows them upright.
    """
    k = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


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
        import av

        self.path = path
        if not live:
            _check_file(path)
        try:
            self._container = av.open(path, format=input_format, options=options or {})
        except FileNotFoundError:
            raise PredictionError(f"{path}: no such file or device") from None
        except av.FFmpegError as exc:
            what = "cannot open the live input" if live else "not a video PyAV/FFmpeg can read"
            raise PredictionError(f"{path}: {what} ({_first_line(exc)})") from None
        if not self._container.streams.video:
            self._container.close()
            raise PredictionError(f"{path}: no video stream (audio only, or a truncated file whose index is lost)")
        stream = self._container.streams.video[0]
        # Frame threading decodes several frames at once: a large part of the cost of a long video.
        stream.thread_type = threads
        self._stream = stream
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else DEFAULT_IMAGE_FPS
        duration = None
        # What the header promises about the video stream itself (mp4/mov have both; mkv/webm often neither),
        # to tell a truncated file from a complete one: frame-threaded decoding stops quietly at a cut.
        self._header_frames = int(stream.frames or 0)
        self._header_duration: float | None = None
        if stream.duration is not None and stream.time_base is not None:
            duration = self._header_duration = float(stream.duration * stream.time_base)
        elif self._container.duration is not None:
            duration = self._container.duration / 1_000_000
        super().__init__(SourceInfo(path=path, kind="live" if live else "video", fps=fps, duration=duration,
                                    width=stream.codec_context.width, height=stream.codec_context.height))
        self.realtime = realtime
        self.max_seconds = max_seconds

    def __iter__(self) -> Iterator[Frame]:
        import av

        info = self.info
        first: float | None = None
        previous = -1.0
        wall_start = time.monotonic()
        index = 0
        try:
            for frame in self._container.decode(self._stream):
                if frame.time is not None:
                    if first is None:
                        first = frame.time
                    t = frame.time - first
                else:  # no timestamp (some raw streams): the nominal rate is all there is
                    t = previous + 1.0 / info.fps if index else 0.0
                if t <= previous:  # broken or repeated timestamps must not break the time axis
                    t = previous + 1e-3
                if self.max_seconds is not None and t > self.max_seconds:
                    break
                if self.realtime:
                    delay = wall_start + t - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                rotation = self._rotation(frame)
                image = rotate_to_display(frame.to_ndarray(format="rgb24"), rotation)
                if index == 0:
                    info.rotation = rotation
                    info.height, info.width = image.shape[:2]
                info.num_frames = index + 1
                info.last_time = t
                yield Frame(index, t, image)
                previous = t
                index += 1
        except av.FFmpegError as exc:
            raise PredictionError(f"{self.path}: corrupt or truncated video: decoding failed after {index} frames "
                                  f"({max(previous, 0.0):.2f} s): {_first_line(exc)}") from None
        if index == 0:
            raise PredictionError(f"{self.path}: no decodable video frames (corrupt or truncated video)")
        if self.info.kind == "video" and self.max_seconds is None:
            self._check_complete(index, previous)

    def _check_complete(self, decoded: int, last_time: float) -> None:
        """Raise if far fewer frames decoded than the header announces (a truncated or corrupt file). The slack
        allows for edit lists, which drop a few frames at the start."""
        frames, duration = self._header_frames, self._header_duration
        if frames > 0 and decoded < frames - max(2, 0.02 * frames):
            missing = f"{decoded} of the {frames} frames the header announces"
        elif frames <= 0 and duration is not None and last_time + 1 / self.info.fps < duration - max(
                2 / self.info.fps, 0.02 * duration):
            missing = f"{last_time + 1 / self.info.fps:.2f} s of the {duration:.2f} s the header announces"
        else:
            return
        raise PredictionError(f"{self.path}: truncated or corrupt video: decoding stopped after {missing}")

    def _rotation(self, frame: Any) -> int:
        """The frame's display-matrix rotation (PyAV >= 13), else the stream's old ``rotate`` tag (clockwise)."""
        rotation = getattr(frame, "rotation", None)
        if rotation is not None:
            return int(rotation)
        tag = self._stream.metadata.get("rotate")
        return -int(float(tag)) if tag else 0

    def close(self) -> None:
        self._container.close()


class ImagesSource(FrameSource):
    """A frame folder (naturally sorted images) or a single image, at ``fps`` frames per second."""

    def __init__(self, path: str, files: list[str], kind: str, fps: float) -> None:
        if not files:
            raise PredictionError(f"{path}: no images in this folder (expected {sorted(IMAGE_EXTENSIONS)})")
        super().__init__(SourceInfo(path=path, kind=kind, fps=fps, duration=len(files) / fps))
        self.files = files

    def __iter__(self) -> Iterator[Frame]:
        from PIL import Image, ImageOps

        size: tuple[int, int] | None = None
        for index, file in enumerate(self.files):
            try:
                with Image.open(file) as img:
                    img = ImageOps.exif_transpose(img).convert("RGB")
                    # Frames of one clip must share one size (a clip is cropped and stacked as one).
                    if size is not None and img.size != size:
                        img = img.resize(size, Image.Resampling.BILINEAR)
                    size = img.size
                    image = np.asarray(img)
            except (OSError, ValueError, SyntaxError) as exc:  # PIL's errors for corrupt/truncated images
                raise PredictionError(f"{file}: not a readable image ({_first_line(exc)})") from None
            if index == 0:
                self.info.height, self.info.width = image.shape[:2]
            self.info.num_frames = index + 1
            self.info.last_time = index / self.info.fps
            yield Frame(index, index / self.info.fps, image)


def _first_line(exc: BaseException) -> str:
    """The first line of an error, without FFmpeg's errno and file name (the message names the file already)."""
    strerror = getattr(exc, "strerror", None)
    text = strerror if isinstance(strerror, str) and strerror else str(exc)
    return (text.strip().splitlines() or [type(exc).__name__])[0][:200]


def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise PredictionError(f"{path}: no such file or folder")
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise PredictionError(f"{path}: empty file (0 bytes)")


def open_source(path: str | os.PathLike[str], *, fps: float | None = None, realtime: bool = False,
                max_seconds: float | None = None) -> FrameSource:
    """Open one medium: a frame folder, an image (by extension), or anything else as a video with PyAV.

    ``fps`` sets the frame rate of frame folders and images (default 25); videos use their timestamps.
    """
    path = os.fspath(path)
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
