"""Media readers: frame folders and video files, reading only the frames a sampler asked for.

A reader has two jobs, kept apart so that the sampler can sit between them:

1. ``count(path)`` — the real number of frames on disk (the list's ``num_frames`` column is not trusted).
2. ``read(path, indices)`` — the frames at ``indices`` as ``uint8`` arrays (H, W, 3), in the order asked,
   repeated indices included. Out-of-range indices are clamped to ``[0, n-1]`` (docs/method.md §3.4).

Pixels come from :mod:`dkclip.data.decoding`, the decoding layer the predictor shares: video frames are turned
by their rotation metadata and images by their EXIF orientation, and damaged videos follow one rule there.

Frame folders hold ``jpg``/``jpeg``/``png`` files (any case), sorted *naturally* (``2.jpg`` before ``10.jpg``;
the authors' lexicographic sort is only right for zero-padded names). Each distinct index is decoded once.
JPEGs are decoded in PIL's draft mode when the frame is at least twice the size the pipeline needs
(``min_short_side``): it loses nothing because the spatial pipeline shrinks the short side to that size anyway.

Video files (``mp4``/``avi``/``mov``/``mkv``/``webm``) are decoded sequentially from the start, and decoding
stops after the last needed frame (no seeking: DFER clips are short, DFEW 2–5 s, FERV39K ≤ 47 frames, and a
keyframe seek would land on or near frame 0 anyway). The frame count comes from the container header when it
has one (mp4/mov/avi), otherwise from demuxing the packets without decoding them (mkv/webm). A video that ends
before the last asked index is judged by the decoding layer's damaged-file rule: a few frames short, it is
used (indices past its end get its last frame, like clamping) after one warning; far short, it is refused.
Since decoding stops at the last needed frame, a file is only judged when a sample reaches past its end.

Any failure (missing path, empty folder, unreadable image, corrupt, truncated or zero-length video) raises
:class:`~dkclip.data.errors.MediaError`; the dataset turns it into its ``on_error`` policy.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from .decoding import VideoDecoder, fit_to_size, load_image
from .errors import MediaError

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png"})
VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm"})
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
        decoded = {int(i): load_image(files[int(i)], self.min_short_side) for i in np.unique(idx)}
        frames = [decoded[int(i)] for i in idx]
        return _same_size(frames)


def _same_size(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Odd-sized frames resized to the first frame's size: a clip must stack into one array."""
    h, w = frames[0].shape[:2]
    return [fit_to_size(f, h, w) for f in frames]


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
        with VideoDecoder(path) as video:
            n = video.count_frames()
        self._counts[path] = n
        if len(self._counts) > self._cache_size:
            self._counts.popitem(last=False)
        return n

    def read(self, path: str, indices: Sequence[int] | np.ndarray) -> list[np.ndarray]:
        n = self.count(path)
        if n <= 0:
            raise MediaError.at(path, "zero-length video")
        idx = clamp_indices(indices, n)
        wanted = set(int(i) for i in idx)
        last = max(wanted)
        got: dict[int, np.ndarray] = {}
        with VideoDecoder(path, threads=self.threads) as video:
            frame = None
            for frame in video.frames():
                if frame.index in wanted:
                    got[frame.index] = frame.rgb(self.min_short_side)
                if frame.index >= last:
                    break
            video.check_complete()  # ended before `last`: refused when far short, else one warning
            # The indices past the end get the last decoded frame, like the clamping of out-of-range indices.
            if frame is not None and len(got) < len(wanted):
                tail = frame.rgb(self.min_short_side)
                got.update({i: tail for i in wanted if i not in got})
        return _same_size([got[int(i)] for i in idx])


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
