"""One face over a scene: its episodes of expression (:class:`Episode`) and its :class:`FaceTrack` (where it is,
how big, what it shows, frame by frame), with the geometry of the face box and of the body drawn under it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ..aus import AU_INDEX
from ..identity import Appearance
from ..timeline import NoiseEvent, Timeline

# Where detectors put the top of a face box, in face units above the eye line: MTCNN on 60 synthetic identities
# gave eye_y − 0.93 ± 0.08 (its sides sat at ±0.97·face_w and its bottom at the chin ± 0.1).
BOX_TOP_ABOVE_EYES = 0.93
# Hair and ears reach this far (face units) beyond the cheeks; used for lane widths and the noise regions.
HEAD_MARGIN = 0.3
# Shoulders of draw_back() reach ±2.2 face units; a face counts as off-screen beyond this.
BODY_HALF_WIDTH = 2.3
_SHOULDERS = np.array([[-2.2, 3.0], [-1.9, 1.75], [-0.6, 1.5], [0.0, 1.62], [0.6, 1.5], [1.9, 1.75], [2.2, 3.0]])
# draw_back() stops at y = 3 face units; the torso is extended below so people do not float in mid-air.
TORSO = np.array([[-2.2, 2.95], [2.2, 2.95], [2.3, 40.0], [-2.3, 40.0]])


@dataclass(frozen=True)
class Episode:
    """One expression of one face: scene frames [start, start + timeline.num_frames), apex AU state, and its
    noise runs (frames relative to ``start``, as :func:`plan_noise` and :func:`draw_occluder` count them)."""

    label: int
    start: int
    timeline: Timeline
    target: np.ndarray
    events: tuple[NoiseEvent, ...] = ()

    @property
    def end(self) -> int:
        return self.start + self.timeline.num_frames


@dataclass
class FaceTrack:
    """Everything about one face over the scene; per-frame arrays have one entry per scene frame."""

    face_id: int
    identity: int
    appearance: Appearance
    hat: tuple[int, int, int] | None
    cx: np.ndarray            # face origin (face units (0, 0)) in output pixels
    cy: np.ndarray
    unit: np.ndarray          # output pixels per face unit
    rot: np.ndarray           # in-plane rotation, degrees
    present: np.ndarray       # bool: drawn on this frame (it may still be off-screen while entering)
    episodes: list[Episode]
    aus_sides: np.ndarray     # (T, 2, len(AU_IDS)) AU state shown, noise runs included
    clean_aus: np.ndarray     # the same without the "expression" noise runs
    blink: np.ndarray
    gaze: tuple[float, float]
    enter: dict[str, Any] | None = None
    leave: dict[str, Any] | None = None
    label: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # class shown per frame
    clean_label: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    episode: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # episode index, -1 absent
    envelope: np.ndarray = field(default_factory=lambda: np.zeros(0))
    phase: list[str] = field(default_factory=list)
    noise: list[str | None] = field(default_factory=list)
    events_at: dict[int, NoiseEvent] = field(default_factory=dict)  # scene frame → active noise event

    def state(self, t: int, noise: bool = True) -> np.ndarray:
        return self.aus_sides[t] if noise else self.clean_aus[t]

    def matrix(self, t: int, scale: float = 1.0) -> np.ndarray:
        """2×3 affine from face units to pixels of an image ``scale`` × the output size."""
        u = self.unit[t] * scale
        th = math.radians(self.rot[t])
        c, s = math.cos(th) * u, math.sin(th) * u
        return np.array([[c, -s, self.cx[t] * scale], [s, c, self.cy[t] * scale]], dtype=np.float64)

    def box(self, t: int, noise: bool = True) -> tuple[float, float, float, float]:
        """Unclipped face box (x0, y0, x1, y1) in output pixels: the rotated face rectangle's bounds."""
        app = self.appearance
        aus = self.state(t, noise)
        drop = 0.2 * aus[:, AU_INDEX[26]].mean() + 0.04 * aus[:, AU_INDEX[25]].mean()  # the jaw drops the chin
        top, bot = app.eye_y - BOX_TOP_ABOVE_EYES, app.face_bot + drop
        corners = np.array([[-app.face_w, top], [app.face_w, top], [app.face_w, bot], [-app.face_w, bot]])
        pts = apply_affine(self.matrix(t), corners)
        return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))

    def head_region(self, t: int) -> tuple[float, float, float, float]:
        """Bounds of head and hair (where blur and darkness act), output pixels, unclipped."""
        app = self.appearance
        w = app.face_w + HEAD_MARGIN
        corners = np.array([[-w, -app.face_top - 0.3], [w, -app.face_top - 0.3], [w, app.face_bot + 0.3],
                            [-w, app.face_bot + 0.3]])
        pts = apply_affine(self.matrix(t), corners)
        return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))


def apply_affine(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


def silhouette(face: FaceTrack, t: int, step: int, size: tuple[int, int]) -> np.ndarray:
    """Bool mask (at 1/step resolution) of everything face ``t`` draws: head, hair, neck, shoulders, torso."""
    img = Image.new("L", size, 0)
    draw = ImageDraw.Draw(img)
    m = face.matrix(t, 1.0 / step)
    app = face.appearance
    cy = (app.face_bot - app.face_top) / 2.0
    ang = np.linspace(0.0, 2 * np.pi, 25)[:-1]
    head = np.stack([(app.face_w + HEAD_MARGIN) * np.cos(ang),
                     cy + ((app.face_top + app.face_bot) / 2.0 + 0.25) * np.sin(ang)], axis=1)
    for poly in (head, _SHOULDERS, TORSO, np.array([[-0.5, 0.6], [0.5, 0.6], [0.5, 1.7], [-0.5, 1.7]])):
        draw.polygon(apply_affine(m, poly).ravel().tolist(), fill=1)
    return np.asarray(img, dtype=bool)
