"""The one decoding layer: every reader of media (training and evaluation in :mod:`dkclip.data.media`, the
predictor in :mod:`dkclip.predict.sources`) turns files into pixels and times here, so a clip looks the same
to the model whichever path read it.

The rules, each written once:

- **Rotation.** A video frame is turned to display orientation by its display matrix (PyAV's ``frame.rotation``,
  degrees counter-clockwise; phones write it instead of rotating the pixels), else by the stream's old
  ``rotate`` tag (degrees clockwise). See :func:`rotate_to_display`.
- **EXIF orientation.** An image is transposed by its EXIF ``Orientation`` tag (phone JPEGs store the sensor's
  landscape pixels plus a tag), and converted to 8-bit RGB without clipping high-depth grey (:func:`to_rgb8`).
- **Timestamps.** A video frame's time is its presentation timestamp (``pts * time_base``) relative to the
  first frame, so variable-frame-rate video keeps its real timing; a frame without one gets the previous time
  plus one nominal frame period, and times are made strictly increasing (:class:`FrameClock`).
- **Damaged files.** Phone and web encoders write approximate frame counts, and truncated files decode up to
  the cut (quietly with frame threading, with an FFmpeg error without it). When decoding ends early, what
  decoded is judged against what the header announces (:func:`judge_decoded`):

  * short by at most ``max(2 frames, 2 %)``: silently accepted (edit lists drop a few frames at the start);
  * at least half of the announced frames: accepted, with one ``logging.warning`` naming the file and the
    counts (once per file and process);
  * fewer than half, or none: refused with :class:`~dkclip.data.errors.MediaError` naming the file.

  A header without a frame count (mkv/webm) is judged by the video stream's duration with the same fractions;
  a header with neither (live inputs) accepts whatever decodes (at least one frame), warning if an FFmpeg error
  ended it. Training and evaluation turn a refusal into their ``on_error`` policy; the predictor into a
  one-line error.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import ExifTags, Image, ImageOps

from .errors import MediaError

log = logging.getLogger(__name__)

# The nominal frame rate of a video whose header gives none.
DEFAULT_FPS = 25.0
# Decoding that ends this far short of the header is normal (edit lists drop a few frames at the start).
_SLACK_FRAMES = 2
_SLACK_FRACTION = 0.02
# Below this fraction of what the header announces, a file is refused rather than used.
MIN_DECODED_FRACTION = 0.5
_JPEG_EXTENSIONS = frozenset({".jpg", ".jpeg"})
_HIGH_DEPTH_MODES = {"I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I;16N": 65535.0}
_RGB_CONVERTIBLE = ("RGB", "RGBA", "RGBX", "RGBa", "L", "LA", "La", "P", "PA", "1", "CMYK", "YCbCr", "LAB", "HSV")
# Files already warned about in this process: a training run reads a clip every epoch, the predictor reads a
# video twice (predict, then render); the warning is for the file, not for each read.
_warned: set[str] = set()


def error_text(exc: BaseException) -> str:
    """The first line of an error, without FFmpeg's errno and file name (the message names the file already)."""
    strerror = getattr(exc, "strerror", None)
    text = strerror if isinstance(strerror, str) and strerror else str(exc)
    return (text.strip().splitlines() or [type(exc).__name__])[0][:200]


# ----------------------------------------------------------------------------------------------- images


def to_rgb8(img: Image.Image, where: str = "") -> np.ndarray:
    """(H, W, 3) uint8 from an image in any PIL mode.

    PIL's own ``convert("RGB")`` clips high-depth grey (16-bit PNGs, mode ``I;16``/``I``/``F``) at 255, which
    turns such frames white; those are scaled to 8 bits instead (16-bit: /257; ``I`` with values above 255:
    as 16-bit; ``F``: [0, 1] or [0, 255] by its range). Palette, CMYK, alpha and bilevel images go through
    ``convert("RGB")`` (alpha is dropped). Anything else fails naming the file.
    """
    mode = img.mode
    if mode in _HIGH_DEPTH_MODES or mode in ("I", "F"):
        values = np.asarray(img).astype(np.float32)
        top = float(values.max()) if values.size else 0.0
        if mode in _HIGH_DEPTH_MODES or (mode == "I" and top > 255):
            scale = 255.0 / 65535.0
        elif mode == "F" and top <= 1.0:
            scale = 255.0
        else:
            scale = 1.0
        grey = np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    if mode in _RGB_CONVERTIBLE:
        return np.asarray(img.convert("RGB"))
    raise MediaError.at(where or "image", f"unsupported image mode {mode!r}")


def _upright(img: Image.Image) -> Image.Image:
    """The image turned by its EXIF orientation; untouched (no copy) when it has none, the common case."""
    if img.getexif().get(ExifTags.Base.Orientation, 1) in (0, 1):
        return img
    return ImageOps.exif_transpose(img)


def _draft(img: Image.Image, file: str, min_short_side: int | None) -> None:
    """Decode a large JPEG at a reduced scale (PIL draft mode, a DCT-domain downscale several times cheaper than
    decoding in full) that still keeps a short side of at least ``min_short_side``."""
    if not min_short_side or os.path.splitext(file)[1].lower() not in _JPEG_EXTENSIONS:
        return
    w, h = img.size
    if min(w, h) >= 2 * min_short_side:
        scale = min_short_side / min(w, h)
        img.draft("RGB", (max(1, int(np.ceil(w * scale))), max(1, int(np.ceil(h * scale)))))


def load_image(file: str, min_short_side: int | None = None) -> np.ndarray:
    """One image as ``uint8 (H, W, 3)`` RGB, upright by its EXIF orientation; ``min_short_side`` allows draft
    decoding of JPEGs at least twice that size. Raises :class:`MediaError` naming the file."""
    try:
        with Image.open(file) as img:
            _draft(img, file, min_short_side)
            return to_rgb8(_upright(img), file)
    except FileNotFoundError as exc:
        raise MediaError.at(file, "missing frame file") from exc
    except (OSError, ValueError, SyntaxError) as exc:  # PIL's errors for truncated/corrupt images
        raise MediaError.at(file, f"corrupt image ({error_text(exc)})") from exc


def fit_to_size(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``image`` resized (bilinear) to ``height x width`` unless it has that size: the frames of one clip must
    share one size to be cropped and stacked together."""
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR))


# ----------------------------------------------------------------------------------------------- videos


def rotate_to_display(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a display-matrix rotation (degrees counter-clockwise, as PyAV reports it) to an ``(H, W, 3)`` frame.

    A phone held upright stores landscape frames with rotation -90 (the old ``rotate=90`` tag): turning them 90°
    clockwise shows them upright.
    """
    k = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


def frame_rotation(frame: Any, stream: Any) -> int:
    """The frame's display-matrix rotation (PyAV >= 13), else the stream's old ``rotate`` tag (clockwise)."""
    rotation = getattr(frame, "rotation", None)
    if rotation is not None:
        return int(rotation)
    tag = stream.metadata.get("rotate")
    return -int(float(tag)) if tag else 0


def frame_to_rgb(frame: Any, rotation: int, min_short_side: int | None = None) -> np.ndarray:
    """A decoded PyAV frame as ``uint8 (H, W, 3)`` RGB in display orientation. Frames whose short side is at least
    twice ``min_short_side`` are downscaled by libswscale during the RGB conversion (cheaper than converting at
    full size and resizing afterwards); the scale is the same on both axes, so rotating afterwards is exact."""
    w, h = frame.width, frame.height
    if min_short_side and min(w, h) >= 2 * min_short_side:
        scale = min_short_side / min(w, h)
        rgb = frame.to_ndarray(format="rgb24", width=max(2, round(w * scale)), height=max(2, round(h * scale)),
                               interpolation="AREA")
    else:
        rgb = frame.to_ndarray(format="rgb24")
    return rotate_to_display(rgb, rotation)


class FrameClock:
    """Frame times in seconds from the first frame: real timestamps (variable frame rate kept), the nominal
    period where a frame has none (some raw streams), and strictly increasing, because broken or repeated
    timestamps must not break the time axis."""

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self.first: float | None = None
        self.last = -1.0

    def __call__(self, timestamp: float | None) -> float:
        if timestamp is None:
            t = self.last + 1.0 / self.fps if self.last >= 0 else 0.0
        else:
            if self.first is None:
                self.first = timestamp
            t = timestamp - self.first
        if t <= self.last:
            t = self.last + 1e-3
        self.last = t
        return t


@dataclass(frozen=True)
class Announced:
    """What a header promises about the video stream: its frame count (0 when it keeps none) and duration."""

    frames: int = 0
    duration: float | None = None


def judge_decoded(path: str, decoded: int, announced: Announced, *, seconds: float = 0.0, fps: float = DEFAULT_FPS,
                  error: str | None = None) -> None:
    """The damaged-file rule (module docstring) for a stream that ended after ``decoded`` frames covering
    ``seconds`` of video (last frame time plus one frame period, at ``fps``); ``error`` is the FFmpeg error that
    ended it, if any. Returns when the frames are usable (after at most one warning per file); raises
    :class:`MediaError` otherwise."""
    cause = f" ({error})" if error else ""
    if decoded == 0:
        raise MediaError.at(path, f"no decodable video frames (corrupt or truncated video){cause}")
    if announced.frames > 0:
        got, want, slack = float(decoded), float(announced.frames), float(_SLACK_FRAMES)
        stated = f"{decoded} of the {announced.frames} frames"
    elif announced.duration is not None:
        got, want, slack = seconds, announced.duration, _SLACK_FRAMES / fps
        stated = f"{seconds:.2f} s of the {announced.duration:.2f} s"
    else:  # nothing to judge against: what decoded is all there is
        if error:
            _warn_once(path, f"{path}: decoding stopped after {decoded} frames{cause}; using those")
        return
    if got >= want - max(slack, _SLACK_FRACTION * want):
        return
    message = f"truncated or corrupt video: decoding stopped after {stated} the header announces{cause}"
    if got < MIN_DECODED_FRACTION * want:
        raise MediaError.at(path, message)
    _warn_once(path, f"{path}: {message}; using the {decoded} frames that decoded")


def _warn_once(path: str, message: str) -> None:
    if path not in _warned:
        _warned.add(path)
        log.warning(message)


@dataclass(frozen=True)
class VideoFrame:
    """One decoded video frame: its position in decode order, its time (:class:`FrameClock`), its display
    rotation and PyAV's frame (convert it with :meth:`rgb`, only when it is needed)."""

    index: int
    time: float
    rotation: int
    frame: Any

    def rgb(self, min_short_side: int | None = None) -> np.ndarray:
        return frame_to_rgb(self.frame, self.rotation, min_short_side)


class VideoDecoder:
    """The first video stream of a file (or a live input) opened with PyAV; use as a context manager.

    :meth:`frames` decodes sequentially (no seeking: frame-accurate seeking by timestamp is fragile with
    variable frame rates and B-frames, and DFER clips are short); an FFmpeg error part way ends the stream like a
    cut does. Call :meth:`check_complete` after iterating: it applies the damaged-file rule when the stream ran
    out, and does nothing when the caller stopped early. ``threads``: PyAV's decoder threading (``"AUTO"``,
    ``"FRAME"``, ``"SLICE"`` or ``"NONE"``). Every failure raises :class:`MediaError` naming ``path``.
    """

    def __init__(self, path: str, *, threads: str = "NONE", live: bool = False, input_format: str | None = None,
                 options: dict[str, str] | None = None) -> None:
        self.path = path
        self._container = _open_container(path, live, input_format, options)
        if not self._container.streams.video:
            self._container.close()
            raise MediaError.at(path, "no video stream (audio only, or a truncated file whose index is lost)")
        self.stream = self._container.streams.video[0]
        self.stream.thread_type = threads
        rate = self.stream.average_rate or self.stream.guessed_rate or self.stream.base_rate
        self.fps = float(rate) if rate else DEFAULT_FPS
        self.announced = Announced() if live else _announced(self.stream)
        self.decoded = 0
        self._clock = FrameClock(self.fps)
        self._ended = False
        self._error: str | None = None

    @property
    def duration(self) -> float | None:
        """The header's duration of the video stream, else of the whole container (None: live, or unknown)."""
        if self.announced.duration is not None:
            return self.announced.duration
        container_duration = self._container.duration
        return None if container_duration is None else container_duration / 1_000_000

    def count_frames(self) -> int:
        """The header's frame count, else (mkv/webm keep none) the packets counted by demuxing without decoding.
        Reads the container: call it on a decoder used for nothing else."""
        import av

        if self.announced.frames > 0:
            return self.announced.frames
        try:
            return sum(1 for p in self._container.demux(self.stream) if p.size > 0)
        except av.FFmpegError as exc:
            raise MediaError.at(self.path, f"corrupt video ({error_text(exc)})") from exc

    def frames(self) -> Iterator[VideoFrame]:
        import av

        try:
            for frame in self._container.decode(self.stream):
                index = self.decoded
                self.decoded += 1  # counted before the yield: a caller that stops here has still decoded it
                yield VideoFrame(index, self._clock(frame.time), frame_rotation(frame, self.stream), frame)
        except av.FFmpegError as exc:
            self._error = error_text(exc)
        self._ended = True

    def check_complete(self) -> None:
        """The damaged-file rule for what :meth:`frames` decoded, when the stream ended before the caller
        stopped; nothing otherwise."""
        if self._ended:
            seconds = self._clock.last + 1.0 / self.fps if self.decoded else 0.0
            judge_decoded(self.path, self.decoded, self.announced, seconds=seconds, fps=self.fps, error=self._error)

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoDecoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_container(path: str, live: bool, input_format: str | None, options: dict[str, str] | None) -> Any:
    import av

    if not live and os.path.isfile(path) and os.path.getsize(path) == 0:
        raise MediaError.at(path, "zero-length video (empty file)")
    try:
        return av.open(path, format=input_format, options=options or {})
    except FileNotFoundError as exc:
        raise MediaError.at(path, "missing path (no such file or device)") from exc
    except av.FFmpegError as exc:
        what = "cannot open the live input" if live else "corrupt video, or not a video PyAV/FFmpeg can read"
        raise MediaError.at(path, f"{what} ({error_text(exc)})") from exc


def _announced(stream: Any) -> Announced:
    """The video stream's own frame count and duration (mp4/mov have both; mkv/webm often neither). The
    container's duration is no substitute: it may cover a longer audio stream."""
    duration = None
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    return Announced(frames=int(stream.frames or 0), duration=duration)
