"""Face crops framed like the training data, cut as frames are decoded and kept at the model's input scale.

Framing. DFEW, FERV39K and MAFW ship face crops in which the whole face fills most of the frame with a thin
border (forehead/hair line, chin, ears). A detector box (MTCNN's runs brow to chin, cheek to cheek) is tighter
than that, so the crop is the square of side ``scale * max(w, h)`` around the box centre, with
``scale = 1.3``. The model's eval transform then takes its centre ``224/256`` (resize the short side to R, centre
crop S), so the model sees about 1.14 × the detector box: the whole face and a thin border, as in training.
Parts of the square outside the frame are black (a face at the edge of the picture stays centred).

Size. Crops are stored at the eval transform's resize size R (128 px for dkclip-tiny, 256 for ViT-B/16 at
224), which is what the transform would shrink them to anyway: the model's input is identical to cropping
the full frame on demand, and a pending window holds R×R crops instead of full frames.

``--detector none`` (frames already are face crops): the frame is kept whole, its short side resized to R, so
the model sees it exactly as ``dkclip evaluate`` sees a dataset clip.

``align=True`` additionally rotates the crop about its centre so that the eyes are level (from the detector's
5 landmarks). The training datasets are not aligned (their crops keep the head's roll), so this is off by
default; it helps on strongly tilted heads.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from ..data.transforms import resize_short_side_for
from .defaults import DEFAULT_CROP_SCALE


def store_size(image_size: int) -> int:
    """The side crops are kept at: the model's eval resize R (e.g. 128 for a 112 px model, 256 for 224)."""
    return resize_short_side_for(image_size)


def square_box(box: np.ndarray | tuple[float, float, float, float], scale: float) -> tuple[int, int, int, int]:
    """The square (x0, y0, x1, y1) of side ``scale * max(w, h)`` centred on ``box``, in whole pixels."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(1.0, scale * max(x1 - x0, y1 - y0))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = round(cx - side / 2), round(cy - side / 2)
    s = max(1, round(side))
    return left, top, left + s, top + s


def eye_angle(landmarks: np.ndarray) -> float:
    """Roll of the head in degrees (counter-clockwise as seen) from the two eye landmarks (rows 0 and 1)."""
    (lx, ly), (rx, ry) = landmarks[0], landmarks[1]
    return math.degrees(math.atan2(ry - ly, rx - lx))


class Cropper:
    """Cuts one face crop (``uint8 (size, size, 3)``) per track point, or the whole frame (``whole_frame``)."""

    def __init__(self, size: int, scale: float = DEFAULT_CROP_SCALE, align: bool = False,
                 whole_frame: bool = False) -> None:
        self.size = size
        self.scale = scale
        self.align = align
        self.whole_frame = whole_frame
        self._frame_dims: tuple[int, int] | None = None  # (w, h) of whole-frame crops, fixed by the first frame

    def __call__(self, image: Image.Image, box: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        if self.whole_frame:
            return self._whole(image)
        if self.align and landmarks is not None:
            return self._aligned(image, box, landmarks)
        # PIL pads a crop box that leaves the image with black; resize is antialiased (box filter support).
        crop = image.crop(square_box(box, self.scale))
        return np.asarray(crop.resize((self.size, self.size), Image.Resampling.BILINEAR))

    def _whole(self, image: Image.Image) -> np.ndarray:
        if self._frame_dims is None:
            w, h = image.size
            short = min(w, h)
            self._frame_dims = (max(1, round(w * self.size / short)), max(1, round(h * self.size / short)))
        return np.asarray(image.resize(self._frame_dims, Image.Resampling.BILINEAR))

    def _aligned(self, image: Image.Image, box: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = square_box(box, self.scale)
        side = x1 - x0
        # Cut a square √2 larger (so the rotation brings in no black corners), shrink, rotate, centre-crop.
        big_side = math.ceil(side * math.sqrt(2))
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        bx0, by0 = round(cx - big_side / 2), round(cy - big_side / 2)
        big = math.ceil(self.size * math.sqrt(2))
        region = image.crop((bx0, by0, bx0 + big_side, by0 + big_side)).resize((big, big), Image.Resampling.BILINEAR)
        region = region.rotate(eye_angle(landmarks), resample=Image.Resampling.BILINEAR)
        off = (big - self.size) // 2
        return np.asarray(region.crop((off, off, off + self.size, off + self.size)))
