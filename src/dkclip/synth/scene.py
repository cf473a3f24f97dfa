"""Everything around the face: background, camera framing (pose → affine), lighting, and the image-level noise
(occluders, blur, darkness).

Backgrounds and light maps are built once per clip and reused for every frame; only the face is redrawn,
which keeps generation well above 50 frames/s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .face import Pen, ellipse_pts, shade
from .timeline import NoiseEvent

# Face units per frame height at face_scale 1: the skull top is cut a little and the chin sits near the bottom
# edge, like the face-detector crops of DFEW/FERV39K/MAFW.
FRAME_UNITS = 2.4
ANCHOR_Y = 0.12  # face-unit y that lands on the frame centre

_MUTED = ((120, 128, 140), (150, 140, 125), (95, 110, 100), (170, 165, 160), (70, 75, 90), (140, 120, 120),
          (200, 195, 185), (60, 60, 60))


@dataclass
class Scene:
    """Per-clip surroundings: background canvas (supersampled), light map (output size), optional hat."""

    background: Image.Image
    light: np.ndarray  # (H, W, 3) float32 multiplicative light map
    hat: tuple[int, int, int] | None
    info: dict[str, Any]


def pose_matrix(canvas: int, tx: float, ty: float, rot_deg: float, scale: float) -> np.ndarray:
    """2×3 affine map from face units to canvas pixels for one frame's head pose."""
    unit = canvas / FRAME_UNITS * scale
    th = math.radians(rot_deg)
    c, s = math.cos(th) * unit, math.sin(th) * unit
    cx = canvas / 2.0 + tx * canvas
    cy = canvas / 2.0 + ty * canvas
    # p ↦ centre + R·unit·(p − anchor)
    return np.array([[c, -s, cx + s * ANCHOR_Y], [s, c, cy - c * ANCHOR_Y]], dtype=np.float64)


def plain_background(canvas: int, rng: np.random.Generator) -> Image.Image:
    top = np.asarray(_MUTED[int(rng.integers(len(_MUTED)))], dtype=np.float32) + rng.normal(0, 10, 3)
    bottom = top * rng.uniform(0.6, 1.0)
    t = np.linspace(0.0, 1.0, canvas, dtype=np.float32)[:, None, None]
    grad = top[None, None, :] * (1 - t) + bottom[None, None, :] * t
    arr = np.broadcast_to(grad, (canvas, canvas, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def busy_background(canvas: int, rng: np.random.Generator) -> Image.Image:
    """Clutter: rectangles (furniture, windows), ellipses, stripes and lines in random colours."""
    img = plain_background(canvas, rng)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(25, 45))):
        col = tuple(int(v) for v in rng.integers(0, 256, 3))
        x0, y0 = rng.uniform(-0.2, 1.0, 2) * canvas
        w, h = rng.uniform(0.05, 0.5, 2) * canvas
        kind = rng.integers(4)
        if kind == 0:
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=col)
        elif kind == 1:
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=col)
        elif kind == 2:
            draw.line([x0, y0, x0 + w, y0 + h * rng.uniform(-1, 1)], fill=col, width=int(rng.integers(2, 10)))
        else:
            step = max(3, int(rng.uniform(0.02, 0.06) * canvas))
            for k in range(0, int(w), step * 2):
                draw.rectangle([x0 + k, y0, x0 + k + step, y0 + h], fill=col)
    return img


def light_map(size: int, rng: np.random.Generator, strength: float) -> tuple[np.ndarray, dict[str, Any]]:
    """Directional light gradient × brightness × colour tint; ``strength`` 0 gives a uniform map of 1."""
    brightness = 1.0 + strength * rng.uniform(-0.35, 0.15)
    angle = rng.uniform(0, 2 * np.pi)
    slope = strength * rng.uniform(0.0, 0.55)
    tint = 1.0 + strength * rng.uniform(-0.08, 0.08, 3)
    g = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    ramp = np.cos(angle) * g[None, :] + np.sin(angle) * g[:, None]
    light = (brightness * (1.0 + slope * ramp))[:, :, None] * tint[None, None, :].astype(np.float32)
    info = {"brightness": round(float(brightness), 4), "light_angle": round(float(np.degrees(angle)), 2),
            "light_slope": round(float(slope), 4), "tint": [round(float(v), 4) for v in tint]}
    return light.astype(np.float32), info


def make_scene(size: int, supersample: int, rng: np.random.Generator, background: str, lighting: float,
               accessories: float) -> Scene:
    canvas = size * supersample
    bg = busy_background(canvas, rng) if background == "busy" else plain_background(canvas, rng)
    light, info = light_map(size, rng, lighting)
    hat = None
    if rng.random() < 0.15 * accessories:
        hat = tuple(int(v) for v in rng.integers(20, 230, 3))
    info.update({"background": background, "hat": list(hat) if hat else None})
    return Scene(bg, light, hat, info)  # type: ignore[arg-type]


def draw_occluder(pen: Pen, event: NoiseEvent, t: int, skin: tuple[int, int, int]) -> None:
    """Draw the occluding object of an occlusion run in face units, sliding slowly across the run."""
    p = event.params
    k = t - event.start
    x = p["x"] + p["drift"] * k
    y = p["y"]
    size = p["size"]
    colour = tuple(p["colour"])
    th = math.radians(p["angle"])
    rot = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    kind = p["occluder"]
    if kind == "hand":
        hand = tuple(p.get("tone", skin))
        edge = shade(hand, 0.55)
        centre = np.array([x, y + 0.25])
        palm = ellipse_pts(0, 0, 0.34 * size, 0.36 * size) @ rot.T + centre
        fingers = [np.array([[(-0.24 + 0.16 * j) * size, 0.0],
                             [(-0.27 + 0.18 * j) * size, (-0.62 + 0.06 * abs(j - 1.5)) * size]]) @ rot.T + centre
                   for j in range(4)]
        pen.poly(ellipse_pts(0, 0, 0.37 * size, 0.39 * size) @ rot.T + centre, edge)
        for finger in fingers:
            pen.line(finger, edge, 0.16 * size)
        for finger in fingers:
            pen.line(finger, hand, 0.12 * size)
        pen.poly(palm, hand)
    elif kind == "object":
        w, h = 0.42 * size, 0.62 * size
        box = np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) @ rot.T + [x, y]
        pen.poly(box, colour)
        pen.poly(np.array([[-w * 0.8, -h * 0.85], [w * 0.8, -h * 0.85], [w * 0.8, h * 0.7], [-w * 0.8, h * 0.7]])
                 @ rot.T + [x, y], shade(colour, 0.55))
    elif kind == "scarf":
        top = 0.35 + 0.15 * (y - 0.2)
        band = np.array([[-1.4, top], [1.4, top - 0.05], [1.5, 1.8], [-1.5, 1.8]])
        pen.poly(band, colour)
        for j in range(5):
            pen.line(np.array([[-1.2 + 0.5 * j, top + 0.05], [-1.0 + 0.5 * j, 1.6]]), shade(colour, 0.7), 0.04)
    elif kind == "sunglasses":
        for sgn in (-1.0, 1.0):
            pen.poly(ellipse_pts(sgn * 0.4, -0.13, 0.3 * size, 0.2 * size), (18, 18, 22))
        pen.line(np.array([[-0.15, -0.17], [0.15, -0.17]]), (18, 18, 22), 0.05)
    else:
        raise ValueError(f"unknown occluder {kind!r}")


def finish_frame(img: Image.Image, supersample: int, light: np.ndarray, flicker: float,
                 blur: float = 0.0, dark: dict[str, Any] | None = None) -> np.ndarray:
    """Downsample (box filter = anti-aliasing), blur, light, darken; returns uint8 (H, W, 3)."""
    if supersample > 1:
        img = img.reduce(supersample)
    if blur > 0:
        img = img.filter(ImageFilter.GaussianBlur(blur * img.width / 112.0))
    arr = np.asarray(img, dtype=np.float32) * (light * flicker)
    if dark is not None:
        grain = np.random.default_rng(dark["seed"]).normal(0.0, dark["grain"], arr.shape).astype(np.float32)
        arr = arr * dark["factor"] + grain
    return np.clip(arr + 0.5, 0, 255).astype(np.uint8)
