"""Media readers: frame folders and video files, reading only the frames a sampler asked for.

A reader has two jobs, kept apart so that the sampler can sit between them:

1. ``count(path)`` — the real number of frames on disk (the list's ``num_frames`` column is not trusted).
2. ``read(path, indices)`` — the frames at ``indices`` as ``uint8`` arrays (H, W, 3), in the order asked,
   repeated indices included. Out-of-range indices are clamped to ``[0, n-1]`` (docs/method.md §3.4).

Frame folders hold ``jpg``/``jpeg``/``png`` files (any case), sorted *naturally* (``2.jpg`` before ``10.jpg``;
the authors' lexicographic sort is only right for zero-padded names). Each distinct index is decoded once.
JPEGs are decoded in PIL's draft mode when the frame is at least twice the size the pipeline needs
(``min_short_side``): the DCT-domain downscale is several times cheaper than decoding the full image and
resizing it, and it loses nothing because the spatial pipeline shrinks the short side to that size anyway.

Video files (``mp4``/``avi``/``mov``/``mkv``/``webm``) are decoded with PyAV, sequentially from the start, and
decoding stops after the last needed frame. There is no seeking: DFER clips are short (DFEW 2–5 s, FERV39K ≤ 47
frames), a keyframe seek would land on or near frame 0 anyway, and frame-accurate seeking by timestamp is
fragile with variable frame rates and B-frames. The frame count comes from the container header when it has
one (mp4/mov/avi), otherwise from demuxing the packets without decoding them (mkv/webm).

Any failure (missing path, empty folder, unreadable image, corrupt or zero-length video) raises
:class:`~dkclip.data.errors.MediaError`; the dataset turns it into its ``on_error`` policy.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from PIL import Image

from .errors import MediaError

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png"})
VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm"})
_JPEG_EXTENSIONS = frozenset({".jpg", ".jpeg"})
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders embedded numbers by value: ``frame2.jpg`` < ``frame10.jpg``."""
    return tuple((0, int(part)) if part.isdigit() else (1, part.lower()) for part in _DIGITS.split(name) if part)


def list_frame_files(folder: str) -> list[str]:
    """The image files of ``folder``, naturally sorted, as full paths."""
    try:
        with os.scandir(folder) as it:
            names = [e.name for e in it if os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS]
    except FileNotFoundError as exc:
        raise MediaError.at(folder, "missing path") from exc
    except NotADirectoryError as exc:
        raise MediaError.at(folder, "not a frame folder or a known video file type") from exc
    names.sort(key=natural_key)
    return [os.path.join(folder, n) for n in names]


def clamp_indices(indices: Sequence[int] | np.ndarray, n: int) -> np.ndarray:
    return np.clip(np.asarray(indices, dtype=np.int64), 0, n - 1)


class MediaReader(Protocol):
    """What the dataset needs from a reader (folders, videos, or anything else that can be plugged in)."""

    def count(self, path: str) -> int: ...

    def read(self, path: str, indices: Sequence[int] | np.ndarray) -> list[np.ndarray]: ...


class FrameFolderReader:
    """Reads frames from a folder of images.

    ``min_short_side``: the smallest short side the pipeline needs; larger JPEGs are decoded at a reduced
    scale (PIL draft mode) that still keeps at least this short side. ``None`` disables draft decoding.
    The folder listing is cached (bounded LRU) so that the count and the read of one sample list it once.
    """

    def __init__(self, min_short_side: int | None = None, cache_size: int = 256) -> None:
        self.min_short_side = min_short_side
        self._cache: OrderedDict[str, list[str]] = OrderedDict()
        self._cache_size = cache_size

    def files(self, path: str) -> list[str]:
        hit = self._cache.get(path)
        if hit is not None:
            self._cache.move_to_end(path)
            return hit
        files = list_frame_files(path)
        self._cache[path] = files
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return files

    def count(self, path: str) -> int:
        return len(self.files(path))

    def read(self, path: str, indices: Sequence[int] | np.ndarray) -> list[np.ndarray]:
        files = self.files(path)
        if not files:
            raise MediaError.at(path, "empty frame folder (no jpg/jpeg/png files)")
        idx = clamp_indices(indices, len(files))
        decoded = {int(i): self._load(files[int(i)]) for i in np.unique(idx)}
        frames = [decoded[int(i)] for i in idx]
        return _same_size(frames)

    def _load(self, file: str) -> np.ndarray:
        try:
            with Image.open(file) as img:
                if self.min_short_side and os.path.splitext(file)[1].lower() in _JPEG_EXTENSIONS:
                    w, h = img.size
                    if min(w, h) >= 2 * self.min_short_side:
                        scale = self.min_short_side / min(w, h)
                        img.draft("RGB", (max(1, int(np.ceil(w * scale))), max(1, int(np.ceil(h * scale)))))
                return to_rgb8(img, file)
        except FileNotFoundError as exc:
            raise MediaError.at(file, "missing frame file") from exc
        except (OSError, ValueError, SyntaxError) as exc:  # PIL's errors for truncated/corrupt images
            raise MediaError.at(file, f"corrupt image ({exc})") from exc


_HIGH_DEPTH_MODES = {"I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "I;16N": 65535.0}


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
    if mode in ("RGB", "RGBA", "RGBX", "RGBa", "L", "LA", "La", "P", "PA", "1", "CMYK", "YCbCr", "LAB", "HSV"):
        return np.asarray(img.convert("RGB"))
    raise MediaError.at(where or "image", f"unsupported image mode {mode!r}")


def _same_size(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Resize odd-sized frames to the first frame's size: a clip must stack into one array."""
    h, w = frames[0].shape[:2]
    out = []
    for f in frames:
        if f.shape[:2] != (h, w):
            f = np.asarray(Image.fromarray(f).resize((w, h), Image.Resampling.BILINEAR))
        out.append(f)
    return out


class VideoFileReader:
    """Reads frames from a video file with PyAV, decoding only up to the last needed frame.

    ``min_short_side``: frames whose short side is at least twice this are downscaled by libswscale during
    the RGB conversion (cheaper than converting at full size and resizing in torch). ``threads``: PyAV's
    decoder threading (``"AUTO"``, ``"FRAME"``, ``"SLICE"`` or ``"NONE"``); the default leaves parallelism to
    the DataLoader workers, which scales better for short clips.
    """

    def __init__(self, min_short_side: int | None = None, threads: str = "NONE", cache_size: int = 1024) -> None:
        self.min_short_side = min_short_side
        self.threads = threads
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._cache_size = cache_size

    def count(self, path: str) -> int:
        hit = self._counts.get(path)
        if hit is not None:
            return hit
        import av

        if os.path.isfile(path) and os.path.getsize(path) == 0:
            raise MediaError.at(path, "zero-length video (empty file)")
        try:
            with av.open(path) as container:
                if not container.streams.video:
                    raise MediaError.at(path, "no video stream")
                stream = container.streams.video[0]
                n = int(stream.frames or 0)
                if n <= 0:  # mkv/webm keep no frame count: count packets, without decoding them
                    n = sum(1 for p in container.demux(stream) if p.size > 0)
        except FileNotFoundError as exc:
            raise MediaError.at(path, "missing path") from exc
        except av.FFmpegError as exc:
            raise MediaError.at(path, f"corrupt video ({exc})") from exc
        self._counts[path] = n
        if len(self._counts) > self._cache_size:
            self._counts.popitem(last=False)
        return n

    def read(self, path: str, indices: Sequence[int] | np.ndarray) -> list[np.ndarray]:
        import av

        n = self.count(path)
        if n <= 0:
            raise MediaError.at(path, "zero-length video")
        idx = clamp_indices(indices, n)
        wanted = set(int(i) for i in idx)
        last = max(wanted)
        got: dict[int, np.ndarray] = {}
        try:
            with av.open(path) as container:
                if not container.streams.video:
                    raise MediaError.at(path, "no video stream")
                stream = container.streams.video[0]
                stream.thread_type = self.threads
                frame = None
                for i, frame in enumerate(container.decode(stream)):
                    if i in wanted:
                        got[i] = self._to_array(frame)
                    if i >= last:
                        break
                # The header promised more frames than decode (edit lists, truncated files): the indices past
                # the end get the last decoded frame, like the clamping of out-of-range indices.
                if frame is not None and len(got) < len(wanted):
                    tail = self._to_array(frame)
                    got.update({i: tail for i in wanted if i not in got})
        except FileNotFoundError as exc:
            raise MediaError.at(path, "missing path") from exc
        except av.FFmpegError as exc:
            raise MediaError.at(path, f"corrupt video ({exc})") from exc
        if not got:
            raise MediaError.at(path, "no decodable frames")
        return _same_size([got[int(i)] for i in idx])

    def _to_array(self, frame: object) -> np.ndarray:
        w, h = frame.width, frame.height  # type: ignore[attr-defined]
        if self.min_short_side and min(w, h) >= 2 * self.min_short_side:
            scale = self.min_short_side / min(w, h)
            return frame.to_ndarray(  # type: ignore[attr-defined]
                format="rgb24", width=max(2, round(w * scale)), height=max(2, round(h * scale)),
                interpolation="AREA")
        return frame.to_ndarray(format="rgb24")  # type: ignore[attr-defined]


class AutoReader:
    """Dispatches on the path: a known video extension goes to the video reader, anything else to folders."""

    def __init__(self, min_short_side: int | None = None, video_threads: str = "NONE") -> None:
        self.folders = FrameFolderReader(min_short_side)
        self.videos = VideoFileReader(min_short_side, threads=video_threads)

    def reader_for(self, path: str) -> MediaReader:
        if os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS:
            return self.videos
        return self.folders

    def count(self, path: str) -> int:
        return self.reader_for(path).count(path)

    def read(self, path: str, indices: Sequence[int] | np.ndarray) -> list[np.ndarray]:
        return self.reader_for(path).read(path, indices)
