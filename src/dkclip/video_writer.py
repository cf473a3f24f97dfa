"""Writing video files with PyAV, reproducibly: the codec this FFmpeg build has, an exact RGB→YUV 4:2:0
conversion in numpy, and a bit-exact single-threaded encoder setup (same frames → byte-identical file)."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

# The container format of each video file extension we write (``--render``, the app); the key set is what a
# video file name may end with.
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}


def pick_video_codec() -> str:
    """libx264 when this FFmpeg build has it, else mpeg4 (always built in)."""
    import av

    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited-range RGB → planar YUV 4:2:0 in numpy, stacked (3H/2, W) as PyAV expects.

    Done here so the encoder input is fully determined by the frames (no swscale flags or SIMD paths).
    """
    x = rgb.astype(np.float32)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 16.0 + 0.2568 * r + 0.5041 * g + 0.0979 * b
    u = 128.0 - 0.1482 * r - 0.2910 * g + 0.4392 * b
    v = 128.0 + 0.4392 * r - 0.3678 * g - 0.0714 * b
    h, w = y.shape
    u = u.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    v = v.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    planes = [np.clip(np.round(p), 0, 255).astype(np.uint8) for p in (y, u, v)]
    return np.concatenate([planes[0], planes[1].reshape(h // 4, w), planes[2].reshape(h // 4, w)], axis=0)


def write_mp4(path: Path, frames: np.ndarray, fps: int = 25, codec: str | None = None) -> None:
    """Encode frames (T, H, W, 3) uint8; single-threaded and bit-exact so output is reproducible."""
    import av

    codec = codec or pick_video_codec()
    _, h, w, _ = frames.shape
    if h % 4 or w % 2:
        raise ValueError(f"mp4 output needs a frame size divisible by 4, got {w}×{h}")
    with av.open(str(path), mode="w", format="mp4", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        make_reproducible(stream, codec, crf=16, preset="fast")
        encode_frames(container, stream, frames)


def make_reproducible(stream: Any, codec: str, crf: int, preset: str) -> None:
    """Set up an opened video ``stream`` so the same frames always give the same bytes: one thread, bit-exact
    flags, and (x264) no macroblock tree or lookahead, which made its output vary from run to run under load even
    single-threaded. ``crf``/``preset`` apply to libx264; MPEG-4 gets a fixed quantiser."""
    stream.codec_context.thread_count = 1
    if codec == "libx264":
        stream.options = {"crf": str(crf), "preset": preset, "threads": "1", "flags": "+bitexact",
                          "x264-params": "mbtree=0:rc-lookahead=0"}
    else:
        stream.options = {"qscale": "3", "flags": "+bitexact+qscale"}


def encode_frames(container: Any, stream: Any, frames: Iterable[np.ndarray]) -> None:
    """Encode RGB frames (H, W, 3) uint8 into ``stream`` of the open PyAV ``container``, frame t at pts t, through
    :func:`rgb_to_yuv420p`, then flush the encoder. Frames may come one at a time from an iterator, so a long
    video need not be held in memory."""
    import av

    for t, arr in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(rgb_to_yuv420p(arr), format="yuv420p")
        frame.pts = t
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
