"""Small synthetic media with known content, for tests and the data benchmark.

Each frame carries its own index in a flat patch (the top-left quarter has grey level :func:`frame_level`),
so a test can tell which frame a reader returned even after lossy video coding; the rest of the frame is a
smooth colour gradient with a moving square, enough structure to exercise crops and flips. Independent of the
``dkclip synth`` generator on purpose: the data pipeline must be testable on its own.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image


def frame_level(i: int) -> int:
    """The grey level that marks frame ``i`` (distinct for 12 consecutive frames, far from 0 and 255)."""
    return 24 + (i * 17) % 208


def make_frame(i: int, height: int, width: int) -> np.ndarray:
    """Frame ``i`` as (H, W, 3) uint8 (the gradients are computed once per row and column and broadcast: an 8K
    frame takes milliseconds)."""
    xs = np.arange(width, dtype=np.float32)
    ys = np.arange(height, dtype=np.float32)
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[..., 0] = (255 * xs / max(1, width - 1)).astype(np.uint8)[None, :]
    img[..., 1] = (255 * ys / max(1, height - 1)).astype(np.uint8)[:, None]
    img[..., 2] = 128
    side = max(4, min(height, width) // 5)
    x0 = (i * 3) % max(1, width - side)
    img[height // 2:height // 2 + side, x0:x0 + side] = (250, 30, 30)
    img[: height // 2, : width // 2] = frame_level(i)
    return img


def write_frame_folder(folder: str | os.PathLike[str], num_frames: int, height: int = 64, width: int = 80,
                       ext: str = "jpg", names: Sequence[str] | None = None, quality: int = 95) -> str:
    """Write ``num_frames`` frames as ``1.jpg, 2.jpg, ...`` (not zero-padded, to exercise natural sorting)."""
    os.makedirs(folder, exist_ok=True)
    for i in range(num_frames):
        name = names[i] if names is not None else f"{i + 1}.{ext}"
        img = Image.fromarray(make_frame(i, height, width))
        kwargs = {"quality": quality} if ext.lower() in ("jpg", "jpeg") else {}
        img.save(os.path.join(folder, name), **kwargs)
    return os.fspath(folder)


def write_video(path: str | os.PathLike[str], num_frames: int, height: int = 64, width: int = 80,
                fps: int = 25, codec: str = "libx264", crf: int = 12) -> str:
    """Write ``num_frames`` frames to a video file with PyAV (H.264 in yuv420p by default)."""
    import av

    with av.open(os.fspath(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": str(crf), "preset": "veryfast"}
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(make_frame(i, height, width), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return os.fspath(path)
