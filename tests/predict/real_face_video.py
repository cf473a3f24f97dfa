"""A short video of a real face with a known face box on every frame, for detector and predictor tests.

The face is scikit-image's astronaut photo (Eileen Collins, public domain, shipped inside scikit-image, so
nothing is downloaded): her head and shoulders are cut out, then moved and scaled over the frames on a plain
background and written as H.264 mp4 with PyAV. Each frame's ground-truth box is the hand-checked face box of
the photo (:data:`ASTRONAUT_FACE`) carried through the same scaling and shift, so it is exact up to resampling.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# Her face in skimage.data.astronaut() (512×512): cheek to cheek, hairline to chin, checked by eye. MTCNN finds
# (181, 62, 268, 172) here, IoU 0.87 with this box.
ASTRONAUT_FACE: tuple[float, float, float, float] = (180.0, 65.0, 272.0, 178.0)
# The part of the photo that is moved around: hair, face, the helmet ring and a little background.
_CUTOUT: tuple[int, int, int, int] = (90, 0, 370, 300)
_BACKGROUND: tuple[int, int, int] = (104, 116, 132)


def astronaut() -> np.ndarray:
    """The photo as uint8 (512, 512, 3) RGB."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[..., :3])


def real_face_frames(num_frames: int = 24, size: tuple[int, int] = (320, 240)) -> tuple[np.ndarray, np.ndarray]:
    """Frames (T, H, W, 3) uint8 and ground-truth face boxes (T, 4) as (x0, y0, x1, y1) in pixels.

    The cut-out grows from 45 % to 70 % of its size while its centre travels on an ellipse; it always stays
    inside the frame, so every box is fully visible. ``size`` is (width, height).
    """
    width, height = size
    photo = Image.fromarray(astronaut()).crop(_CUTOUT)
    cw, ch = photo.size
    fx0, fy0, fx1, fy1 = ASTRONAUT_FACE
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    boxes = np.empty((num_frames, 4), dtype=np.float64)
    for t in range(num_frames):
        u = t / max(1, num_frames - 1)
        scale = min(0.45 + 0.25 * u, 0.95 * height / ch, 0.95 * width / cw)
        w, h = round(cw * scale), round(ch * scale)
        sx, sy = w / cw, h / ch  # the scale actually used after rounding to whole pixels
        room_x, room_y = width - w, height - h
        x = round(room_x * (0.5 + 0.45 * np.cos(2 * np.pi * u)))
        y = round(room_y * (0.5 + 0.45 * np.sin(2 * np.pi * u)))
        canvas = Image.new("RGB", (width, height), _BACKGROUND)
        canvas.paste(photo.resize((w, h), Image.BILINEAR), (x, y))
        frames[t] = np.asarray(canvas)
        boxes[t] = ((fx0 - _CUTOUT[0]) * sx + x, (fy0 - _CUTOUT[1]) * sy + y,
                    (fx1 - _CUTOUT[0]) * sx + x, (fy1 - _CUTOUT[1]) * sy + y)
    return frames, boxes


def write_real_face_video(path: str | Path, num_frames: int = 24, size: tuple[int, int] = (320, 240),
                          fps: int = 25) -> tuple[Path, np.ndarray]:
    """Write the video (H.264 mp4, bit-exact) and return its path and the per-frame face boxes (T, 4)."""
    from dkclip.video_writer import write_mp4

    frames, boxes = real_face_frames(num_frames, size)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_mp4(path, frames, fps=fps)
    return path, boxes
