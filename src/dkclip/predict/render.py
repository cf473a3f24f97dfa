"""``--render out.mp4``: an annotated copy of the video, encoded with PyAV.

The input is decoded a second time (prediction keeps no full frames), frame by frame, and each frame gets, per
tracked face, its box and id in the face's colour, the current label and probability, and a small bar chart of
all class probabilities (the per-frame smoothed values of ``frames.csv``). Frames keep their timestamps, so a
variable frame rate video stays in sync.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .sources import open_source

if TYPE_CHECKING:
    from .predictor import PredictionResult

_PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
            (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]


def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def annotate(image: np.ndarray, faces: list[dict[str, Any]], class_names: list[str]) -> np.ndarray:
    """Draw boxes, ids, labels and probability bars of ``faces`` (dicts with ``face_id``, ``box`` (x, y, w, h),
    ``probs`` (K,) and ``label``) on a copy of ``image``."""
    img = Image.fromarray(image)
    draw = ImageDraw.Draw(img)
    h, w = image.shape[:2]
    size = max(10, min(h, w) // 36)
    font = _font(size)
    for face in faces:
        color = _PALETTE[(int(face["face_id"]) - 1) % len(_PALETTE)]
        x, y, bw, bh = face["box"]
        draw.rectangle([x, y, x + bw, y + bh], outline=color, width=max(2, size // 5))
        probs = face["probs"]
        # The label goes above the box, or inside it when the box touches the top of the picture.
        text_at = (x, y - size - 4) if y - size - 4 >= 0 else (x + 4, y + 4)
        if probs is None or np.isnan(probs).all():
            draw.text(text_at, f"face {face['face_id']}", fill=color, font=font)
            continue
        top = int(np.nanargmax(probs))
        draw.text(text_at, f"face {face['face_id']}: {class_names[top]} {probs[top]:.2f}",
                  fill=color, font=font, stroke_width=1, stroke_fill=(0, 0, 0))
        # The bar panel sits right of the box, or left of it at the right edge of the picture.
        bar_w = 4 * size
        label_w = int(3.2 * size)
        panel_w = label_w + bar_w + 6
        row = size + 2
        if x + bw + 4 + panel_w <= w:
            px, py = x + bw + 4, y
        elif x - panel_w - 4 >= 0:
            px, py = x - panel_w - 4, y
        else:  # a box as wide as the picture (--detector none): the panel goes inside, under the label
            px, py = x + 4, text_at[1] + size + 6
        draw.rectangle([px, py, px + panel_w, py + row * len(class_names) + 4], fill=(0, 0, 0))
        for i, (name, p) in enumerate(zip(class_names, probs, strict=True)):
            ry = py + 2 + i * row
            draw.text((px + 2, ry), name[:6], fill=(255, 255, 255), font=_font(max(8, size - 2)))
            length = 0 if np.isnan(p) else round(float(p) * bar_w)
            fill = color if i == top else (170, 170, 170)
            draw.rectangle([px + label_w, ry + 2, px + label_w + max(1, length), ry + row - 3], fill=fill)
    return np.asarray(img)


def _faces_by_frame(result: PredictionResult) -> dict[int, list[dict[str, Any]]]:
    frames = result.frames.dropna(subset=["face_id"])
    names = result.class_names
    boxes = frames[["FaceRectX", "FaceRectY", "FaceRectWidth", "FaceRectHeight"]].to_numpy(dtype=np.float64)
    probs = frames[names].to_numpy(dtype=np.float64)
    out: dict[int, list[dict[str, Any]]] = {}
    for i, (f, fid) in enumerate(zip(frames["frame"].to_numpy(), frames["face_id"].to_numpy(), strict=True)):
        out.setdefault(int(f), []).append({"face_id": int(fid), "box": boxes[i], "probs": probs[i]})
    return out


def render_video(result: PredictionResult, path: str | os.PathLike[str], fps: float | None = None) -> Path:
    """Write the annotated video of ``result`` to ``path`` (H.264 when this FFmpeg has it, else MPEG-4)."""
    import av

    from ..video_writer import pick_video_codec

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    faces = _faces_by_frame(result)
    rate = fps or float(result.video.get("fps") or 25.0)
    codec = pick_video_codec()
    with open_source(result.source, fps=rate) as src, av.open(str(path), mode="w") as out:
        stream = None
        for frame in src:
            image = annotate(frame.image, faces.get(frame.index, []), result.class_names)
            if stream is None:
                stream = out.add_stream(codec, rate=Fraction(round(rate * 1000), 1000).limit_denominator(1001))
                # yuv420p needs even sizes: the odd last row/column is cut.
                stream.width, stream.height = image.shape[1] // 2 * 2, image.shape[0] // 2 * 2
                stream.pix_fmt = "yuv420p"
                # Millisecond timestamps keep each frame at its original time (variable frame rate too).
                stream.codec_context.time_base = Fraction(1, 1000)
                if codec == "libx264":
                    stream.options = {"crf": "20", "preset": "veryfast"}
            image = np.ascontiguousarray(image[: stream.height, : stream.width])
            vf = av.VideoFrame.from_ndarray(image, format="rgb24")
            vf.pts = round(frame.time * 1000)
            vf.time_base = Fraction(1, 1000)
            for packet in stream.encode(vf):
                out.mux(packet)
        if stream is not None:
            for packet in stream.encode():
                out.mux(packet)
    return path
