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

from ..fileio import atomic_write
from ..video_writer import CONTAINERS, make_reproducible, pick_video_codec
from .sources import open_source

if TYPE_CHECKING:
    from .result import PredictionResult

_PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
            (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)]


def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


Rect = tuple[float, float, float, float]  # x0, y0, x1, y1


def _overlap(a: Rect, b: Rect) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _place(size: tuple[float, float], candidates: list[tuple[float, float]], taken: list[Rect], width: int,
           height: int) -> Rect:
    """The first candidate position (top-left) for a ``size`` rectangle that lies inside the picture and covers
    nothing in ``taken``; else the one covering least (clamped into the picture)."""
    w, h = size
    best: tuple[float, Rect] | None = None
    for x, y in candidates:
        x = min(max(0.0, x), max(0.0, width - w))
        y = min(max(0.0, y), max(0.0, height - h))
        rect = (x, y, x + w, y + h)
        cost = sum(_overlap(rect, t) for t in taken)
        if cost == 0:
            return rect
        if best is None or cost < best[0]:
            best = (cost, rect)
    assert best is not None
    return best[1]


def annotate(image: np.ndarray, faces: list[dict[str, Any]], class_names: list[str]) -> np.ndarray:
    """Draw boxes, ids, labels and probability bars of ``faces`` (dicts with ``face_id``, ``box`` (x, y, w, h),
    ``probs`` (K,) and ``label``) on a copy of ``image``.

    Each face gets its box and a label ("face 2: happiness 0.81") in its colour, and a panel of bars (all
    classes, the top one in the face's colour) placed beside the box where it covers no face, label or other
    panel (right, left, below, above, in that order), on a translucent background.
    """
    img = Image.fromarray(image).convert("RGBA")
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    h, w = image.shape[:2]
    size = max(10, min(h, w) // 36)
    font = _font(size)
    small = _font(max(9, size - 1))
    line = max(2, size // 5)
    taken: list[Rect] = []
    labels = []
    for face in faces:
        x, y, bw, bh = (float(v) for v in face["box"])
        taken.append((x, y, x + bw, y + bh))
    # Labels first (they belong to their box), then the panels around whatever is already there.
    for face in faces:
        color = _PALETTE[(int(face["face_id"]) - 1) % len(_PALETTE)]
        x, y, bw, bh = (float(v) for v in face["box"])
        draw.rectangle([x, y, x + bw, y + bh], outline=(*color, 255), width=line)
        probs = face["probs"]
        known = probs is not None and not np.isnan(probs).all()
        top = int(np.nanargmax(probs)) if known else -1
        text = f"face {face['face_id']}" + (f": {class_names[top]} {probs[top]:.2f}" if known else "")
        tw = draw.textlength(text, font=font) + 6
        # above the box, or inside its top edge when the box touches the top of the picture
        rect = _place((tw, size + 6), [(x, y - size - 6), (x + line, y + line)], [], w, h)
        # the label sits on the face's colour, in black or white, whichever reads better on it
        ink = (0, 0, 0, 255) if 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2] > 140 else (255, 255, 255, 255)
        draw.rectangle(rect, fill=(*color, 235))
        draw.text((rect[0] + 3, rect[1] + 2), text, fill=ink, font=font)
        taken.append(rect)
        labels.append((face, color, probs if known else None, top, rect))
    for face, color, probs, top, label_rect in labels:
        if probs is None:
            continue
        x, y, bw, bh = (float(v) for v in face["box"])
        row = size + 3
        name_w = max(draw.textlength(n, font=small) for n in class_names) + 6
        bar_w = 4 * size
        pw, ph = name_w + bar_w + 8, row * len(class_names) + 6
        gap = 4
        candidates = [(x + bw + gap, y), (x - pw - gap, y), (x, y + bh + gap), (x, label_rect[1] - ph - gap),
                      (x + gap, y + bh - ph - gap)]
        # the panel may not hide the face it describes; other faces' boxes and all labels and panels count too
        rect = _place((pw, ph), candidates, taken, w, h)
        taken.append(rect)
        px, py = rect[0], rect[1]
        draw.rectangle(rect, fill=(0, 0, 0, 160))
        for i, (name, p) in enumerate(zip(class_names, probs, strict=True)):
            ry = py + 3 + i * row
            bright = 255 if i == top else 200
            draw.text((px + 4, ry), name, fill=(bright, bright, bright, 255), font=small)
            length = 0 if np.isnan(p) else round(float(p) * bar_w)
            fill = (*color, 255) if i == top else (170, 170, 170, 255)
            bx = px + 4 + name_w
            draw.rectangle([bx, ry + 2, bx + max(1, length), ry + row - 3], fill=fill)
    return np.asarray(Image.alpha_composite(img, overlay).convert("RGB"))


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

    from .output_folder import RENDER_TAG

    path = Path(path)
    faces = _faces_by_frame(result)
    rate = fps or float(result.video.get("fps") or 25.0)
    codec = pick_video_codec()
    container = CONTAINERS.get(path.suffix.lower(), "mp4")  # the temporary file of an atomic write has none

    def encode(tmp: str) -> None:
        source = result.reopen() if result.reopen is not None else open_source(result.source, fps=rate)
        with source as src, av.open(tmp, mode="w", format=container) as out:
            out.metadata["comment"] = RENDER_TAG + result.source  # which input it shows (output_folder.py)
            _encode(src, out, faces, result.class_names, rate, codec)

    return atomic_write(path, encode)  # a half-written video never takes the name


def _encode(src: Any, out: Any, faces: dict[int, list[dict[str, Any]]], class_names: list[str], rate: float,
            codec: str) -> None:
    """Annotate every decoded frame of ``src`` and encode it into the open container ``out``."""
    import av

    stream = None
    for frame in src:
        image = annotate(frame.image, faces.get(frame.index, []), class_names)
        if stream is None:
            stream = out.add_stream(codec, rate=Fraction(round(rate * 1000), 1000).limit_denominator(1001))
            # yuv420p needs even sizes: the odd last row/column is cut.
            stream.width, stream.height = image.shape[1] // 2 * 2, image.shape[0] // 2 * 2
            stream.pix_fmt = "yuv420p"
            # Millisecond timestamps keep each frame at its original time (variable frame rate too).
            stream.codec_context.time_base = Fraction(1, 1000)
            # Same frames, same bytes: a rerun with the same settings rewrites the same file (the app relies on it).
            make_reproducible(stream, codec, crf=20, preset="veryfast")
        image = np.ascontiguousarray(image[: stream.height, : stream.width])
        vf = av.VideoFrame.from_ndarray(image, format="rgb24")
        vf.pts = round(frame.time * 1000)
        vf.time_base = Fraction(1, 1000)
        for packet in stream.encode(vf):
            out.mux(packet)
    if stream is not None:
        for packet in stream.encode():
            out.mux(packet)
