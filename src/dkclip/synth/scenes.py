"""Multi-face scenes: wide frames with one to a few synthetic people who move, change size, enter and leave,
each running its own sequence of expressions, with exact per-frame, per-face ground truth.

They test the whole ``dkclip predict`` path (decode → detect → track → windows → per-frame expression), which
the face-crop clips of :mod:`.render` cannot: here the faces have to be found first. Everything a face does is
reused from the clip generator: the face drawing (:func:`.face.draw_face`), the AU profiles, the neutral → onset
→ apex → offset time course (:class:`.timeline.Timeline`) and the paper's noisy frames
(:func:`.timeline.plan_noise`: other expression, occlusion, blur, dark), planned per face and per expression.

Differences from the clips, and why:

* every expression *episode* ends back at neutral (offset to zero), so a face can show several expressions in
  a row without jumping;
* blur and darkness act on the region around one face (a soft ellipse), not on the whole frame, because the
  noise flags are per face (where faces overlap, with ``allow_crossing``, the one in front shares the effect);
* the truth box is the *face* box as face detectors draw it (cheek to cheek, forehead to chin; the top sits
  :data:`BOX_TOP_ABOVE_EYES` face units above the eye line, measured from MTCNN on the synthetic faces), not
  the head with hair and shoulders.

Randomness: a scene owns ``SeedSequence([seed, 3, index])``; every face has its own sub-streams (look, motion,
expressions, noise), so rendering without noise changes only the noisy frames, and nothing global is touched.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ..fileio import atomic_write, atomic_write_text
from ..video_writer import write_mp4
from .aus import AU_IDS, AU_INDEX, AU_NAMES, class_names, class_profiles, sample_apex
from .face import FaceState, Pen, draw_face
from .identity import Appearance, sample_appearance
from .pool import run_tasks
from .scene import busy_background, draw_occluder, light_map, plain_background
from .synth_config import NOISE_KINDS
from .timeline import NoiseEvent, Timeline, plan_noise, sample_blinks

log = logging.getLogger(__name__)

SCENES_VERSION = "1.0"
# Where detectors put the top of a face box, in face units above the eye line: MTCNN on 60 synthetic identities
# gave eye_y − 0.93 ± 0.08 (its sides sat at ±0.97·face_w and its bottom at the chin ± 0.1).
BOX_TOP_ABOVE_EYES = 0.93
# Hair and ears reach this far (face units) beyond the cheeks; used for lane widths and the noise regions.
HEAD_MARGIN = 0.3
# Shoulders of draw_back() reach ±2.2 face units; a face counts as off-screen beyond this.
BODY_HALF_WIDTH = 2.3
_SHOULDERS = np.array([[-2.2, 3.0], [-1.9, 1.75], [-0.6, 1.5], [0.0, 1.62], [0.6, 1.5], [1.9, 1.75], [2.2, 3.0]])
# draw_back() stops at y = 3 face units; the torso is extended below so people do not float in mid-air.
_TORSO = np.array([[-2.2, 2.95], [2.2, 2.95], [2.3, 40.0], [-2.3, 40.0]])
_MASK_STEP = 4  # occlusion masks are rasterised at 1/4 of the frame size: plenty for a covered fraction


@dataclass(frozen=True)
class SceneSpec:
    """What to render. Sizes in output pixels; fractions of the frame height where noted."""

    scene_id: str = "scene_000"
    seed: int = 0
    index: int = 0                  # seeds the scene's random streams together with ``seed``
    width: int = 640
    height: int = 360
    fps: int = 30
    num_frames: int = 120
    num_faces: int = 1
    face_height: tuple[float, float] = (0.22, 0.45)  # face-box height range, fraction of the frame height
    size_change: float = 0.35       # how much a face grows or shrinks over the scene (log-scale trend amplitude)
    enter_leave: float = 0.5        # probability that a face enters (and, independently, leaves) the frame
    allow_crossing: bool = False    # False: every face keeps to its own vertical lane, so faces never overlap
    expressions: tuple[int, int] = (1, 3)  # expression episodes per face, a range
    num_classes: int = 7
    noise_episodes: float = 0.5     # probability that an episode gets noise runs
    noise_fraction: tuple[float, float] = (0.15, 0.35)  # fraction of a noisy episode's frames that are noisy
    noise_kinds: tuple[str, ...] = NOISE_KINDS
    background: str = "busy"
    lighting: float = 0.5
    accessories: float = 0.3
    supersample: int = 2

    def __post_init__(self) -> None:
        if self.width < 64 or self.height < 64 or self.width % 2 or self.height % 4:
            raise ValueError(f"scene size must be at least 64×64 with an even width and a height divisible by 4 "
                             f"(H.264 4:2:0), got {self.width}×{self.height}")
        if self.fps < 1:
            raise ValueError(f"fps must be ≥ 1, got {self.fps}")
        if self.num_frames < 8:
            raise ValueError(f"a scene needs at least 8 frames, got {self.num_frames}")
        if not 0 <= self.num_faces <= 8:
            raise ValueError(f"num_faces must be in 0..8, got {self.num_faces}")
        lo, hi = self.face_height
        if not 0.02 <= lo <= hi <= 0.9:
            raise ValueError(f"face_height must be a range within [0.02, 0.9], got {self.face_height}")
        if not 1 <= self.expressions[0] <= self.expressions[1]:
            raise ValueError(f"expressions must be a range with 1 ≤ min ≤ max, got {self.expressions}")
        if not 0.0 <= self.enter_leave <= 1.0 or not 0.0 <= self.noise_episodes <= 1.0:
            raise ValueError("enter_leave and noise_episodes are probabilities in [0, 1]")
        lo, hi = self.noise_fraction
        if not 0.0 <= lo <= hi <= 0.9:
            raise ValueError(f"noise_fraction must satisfy 0 ≤ min ≤ max ≤ 0.9, got {self.noise_fraction}")
        unknown = set(self.noise_kinds) - set(NOISE_KINDS)
        if unknown:
            raise ValueError(f"unknown noise kinds {sorted(unknown)}; use {NOISE_KINDS}")
        if self.background not in ("plain", "busy"):
            raise ValueError(f"background must be 'plain' or 'busy', got {self.background!r}")
        if self.supersample < 1:
            raise ValueError("supersample must be ≥ 1")
        class_names(self.num_classes)  # validates

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d


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
        pts = _apply(self.matrix(t), corners)
        return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))

    def head_region(self, t: int) -> tuple[float, float, float, float]:
        """Bounds of head and hair (where blur and darkness act), output pixels, unclipped."""
        app = self.appearance
        w = app.face_w + HEAD_MARGIN
        corners = np.array([[-w, -app.face_top - 0.3], [w, -app.face_top - 0.3], [w, app.face_bot + 0.3],
                            [-w, app.face_bot + 0.3]])
        pts = _apply(self.matrix(t), corners)
        return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))


@dataclass
class SceneTruth:
    """Per-frame ground truth: ``frames[t]`` lists the faces whose face box is at least partly inside frame t."""

    spec: SceneSpec
    faces: list[FaceTrack]
    frames: list[list[dict[str, Any]]]
    info: dict[str, Any]

    def boxes(self, t: int) -> dict[int, tuple[float, float, float, float]]:
        """Face id → clipped box of frame t."""
        out: dict[int, tuple[float, float, float, float]] = {}
        for rec in self.frames[t]:
            x0, y0, x1, y1 = rec["box"]
            out[int(rec["face"])] = (float(x0), float(y0), float(x1), float(y1))
        return out

    def faces_per_frame(self) -> np.ndarray:
        return np.array([len(recs) for recs in self.frames], dtype=np.int64)

    def to_json_dict(self) -> dict[str, Any]:
        s = self.spec
        names = class_names(s.num_classes)
        faces = []
        for f in self.faces:
            episodes = []
            for ep in f.episodes:
                episodes.append({
                    "label": ep.label, "class_name": names[ep.label], "start": ep.start, "end": ep.end,
                    "timeline": {k: (v + ep.start if isinstance(v, int) else v)
                                 for k, v in ep.timeline.to_dict().items()},
                    "target_aus": {str(au): round(float(v), 3)
                                   for au, v in zip(AU_IDS, ep.target.max(axis=0), strict=True) if v > 0},
                    "noise_events": [_shift_event(ev, ep.start) for ev in ep.events],
                })
            present = np.flatnonzero(f.present)
            faces.append({
                "face": f.face_id,
                "identity": f.identity,
                "present": [int(present[0]), int(present[-1]) + 1] if len(present) else None,
                "enter": f.enter,
                "leave": f.leave,
                "episodes": episodes,
                "appearance": f.appearance.to_dict(),
                "hat": list(f.hat) if f.hat else None,
            })
        return {
            "scene_id": s.scene_id,
            "generator": "dkclip synth --scenes",
            "version": SCENES_VERSION,
            "seed": s.seed,
            "index": s.index,
            "width": s.width,
            "height": s.height,
            "fps": s.fps,
            "num_frames": s.num_frames,
            "num_faces": s.num_faces,
            "num_classes": s.num_classes,
            "classes": list(names),
            "au_ids": list(AU_IDS),
            "conventions": "frames[t] is decoded frame t (0-based) and lists the faces whose face box reaches into it; "
                           "box = (x0, y0, x1, y1) in pixels clipped to the frame, visible = fraction of the unclipped "
                           "box inside the frame, occluded = fraction of the visible box covered by faces in front, "
                           "label/expression = the class the face shows on that frame (neutral below half strength), "
                           "aus in au_ids order",
            "spec": s.to_dict(),
            "scene": self.info,
            "faces": faces,
            "frames": [{"frame": t, "faces": recs} for t, recs in enumerate(self.frames)],
        }


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


def _shift_event(ev: NoiseEvent, offset: int) -> dict[str, Any]:
    d = ev.to_dict()
    d["start"] += offset
    d["end"] += offset
    return d


def _smooth(x: np.ndarray | float) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _drift(num_frames: int, fps: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth zero-mean wander within [-1, 1]: two slow sinusoids with random frequency and phase."""
    t = np.arange(num_frames) / float(fps)
    out = np.zeros(num_frames)
    for amp, (lo, hi) in ((0.65, (0.05, 0.3)), (0.35, (0.2, 0.7))):
        out += amp * np.sin(2 * np.pi * rng.uniform(lo, hi) * t + rng.uniform(0, 2 * np.pi))
    return out


def _episode_timeline(n: int, rng: np.random.Generator) -> Timeline:
    """Neutral lead-in, onset, apex (≥ 30 %), and an offset all the way back to neutral (residual 0)."""
    apex_min = max(2, math.ceil(0.3 * n))
    neutral = round(rng.uniform(0.0, 0.25) * n)
    onset = max(1, round(rng.uniform(0.1, 0.25) * n))
    offset = max(1, round(rng.uniform(0.1, 0.25) * n))
    neutral = max(0, min(neutral, n - apex_min - onset - offset))
    return Timeline(n, neutral, neutral + onset, n - offset, 0.0)


def _split(length: int, parts: int, minimum: int, rng: np.random.Generator) -> list[int]:
    """``parts`` lengths ≥ ``minimum`` summing to ``length`` (Dirichlet shares of the slack)."""
    slack = length - parts * minimum
    shares = np.floor(rng.dirichlet(np.ones(parts)) * slack).astype(int)
    shares[-1] += slack - int(shares.sum())
    return [minimum + int(s) for s in shares]


def scene_streams(spec: SceneSpec) -> tuple[np.random.Generator, np.random.Generator, list[list[np.random.Generator]]]:
    """Scene stream (background, light), layout stream (lanes, who enters), and per face: look, motion,
    expressions, noise."""
    ss = np.random.SeedSequence([int(spec.seed), 3, int(spec.index)])
    scene_ss, layout_ss, *face_ss = ss.spawn(2 + spec.num_faces)
    faces = [[np.random.default_rng(s) for s in f.spawn(4)] for f in face_ss]
    return np.random.default_rng(scene_ss), np.random.default_rng(layout_ss), faces


def _plan_face(spec: SceneSpec, k: int, streams: list[np.random.Generator], layout: dict[str, Any]) -> FaceTrack:
    look, motion, expr, noise_rng = streams
    W, H, T, fps = spec.width, spec.height, spec.num_frames, spec.fps
    identity = int(spec.index) * 16 + k
    app = sample_appearance(identity, look, spec.accessories)
    hat: tuple[int, int, int] | None = None
    if look.random() < 0.15 * spec.accessories:
        r, g, b = (int(v) for v in look.integers(20, 230, 3))
        hat = (r, g, b)
    box_units = app.face_bot - (app.eye_y - BOX_TOP_ABOVE_EYES)
    box_centre = (app.eye_y - BOX_TOP_ABOVE_EYES + app.face_bot) / 2.0  # face-unit y of the box centre
    head_half = app.face_w + HEAD_MARGIN

    # size: a trend (walking towards or away from the camera) plus a slow wobble
    tt = np.arange(T) / max(1, T - 1)
    scale = np.exp(spec.size_change * motion.uniform(-1, 1) * (tt - 0.5) + 0.08 * _drift(T, fps, motion))
    unit0 = motion.uniform(*spec.face_height) * H / box_units
    smax = float(scale.max())
    lo_x, hi_x = layout["lanes"][k]
    lane_half = (hi_x - lo_x) / 2.0
    # the head must fit its lane (no overlap) and the face box the frame height, at the largest size
    unit0 = min(unit0, 0.92 * lane_half / (head_half * smax), 0.85 * H / (box_units * smax))
    unit = unit0 * scale

    if spec.allow_crossing:
        xa, xb = layout["paths"][k]
        base_x = xa + (xb - xa) * _smooth(tt)
        wander = 0.03 * W
    else:
        base_x = np.full(T, (lo_x + hi_x) / 2.0)
        wander = max(0.0, lane_half - head_half * unit0 * smax) * 0.9
    cx = base_x + wander * _drift(T, fps, motion)
    box_cy = H * motion.uniform(0.42, 0.55) + 0.04 * H * _drift(T, fps, motion)
    cy = box_cy - box_centre * unit
    rot = motion.uniform(-5.0, 5.0) + 5.0 * _drift(T, fps, motion)

    present = np.ones(T, dtype=bool)
    enter = leave = None
    slide = round(float(motion.uniform(0.5, 1.0)) * fps)
    can_move = 3 * slide + 4 <= T  # room for an entrance, a stay and an exit
    if can_move and layout["enters"][k]:
        t0 = int(motion.integers(1, max(2, int(0.3 * T))))
        side = layout["enter_side"][k]
        present[:t0] = False
        _slide(cx, cy, unit, t0, slide, side, W, H, app, entering=True)
        enter = {"start": t0, "end": t0 + slide, "side": side}
    if can_move and layout["leaves"][k]:
        lo_t = max(int(0.65 * T), (enter["end"] if enter else 0) + slide)
        t1 = int(motion.integers(lo_t, max(lo_t + 1, T - slide)))
        side = layout["leave_side"][k]
        _slide(cx, cy, unit, t1, slide, side, W, H, app, entering=False)
        present[t1 + slide:] = False
        leave = {"start": t1, "end": min(T, t1 + slide), "side": side}

    face = FaceTrack(face_id=k, identity=identity, appearance=app, hat=hat, cx=cx, cy=cy, unit=unit, rot=rot,
                     present=present, episodes=[], aus_sides=np.zeros((T, 2, len(AU_IDS))),
                     clean_aus=np.zeros((T, 2, len(AU_IDS))),
                     blink=sample_blinks(T, expr), gaze=(0.0, 0.0), enter=enter, leave=leave)
    _plan_expressions(spec, face, expr, noise_rng)
    return face


def _slide(cx: np.ndarray, cy: np.ndarray, unit: np.ndarray, t0: int, n: int, side: str, W: int, H: int,
           app: Appearance, entering: bool) -> None:
    """Move the face in from (or out to) beyond a frame edge over frames [t0, t0 + n), in place."""
    T = len(cx)
    for t in range(t0, T):
        k = (t - t0 + 1) / (n + 1)
        w = 1.0 - _smooth(k) if entering else _smooth(k)  # weight of the off-screen position
        if entering and t >= t0 + n:
            break
        reach = BODY_HALF_WIDTH * unit[t] + 2.0
        if side == "left":
            cx[t] = (1 - w) * cx[t] + w * -reach
        elif side == "right":
            cx[t] = (1 - w) * cx[t] + w * (W + reach)
        else:  # from below: the head rises into view
            cy[t] = (1 - w) * cy[t] + w * (H + (app.face_top + 0.5) * unit[t])


def _plan_expressions(spec: SceneSpec, face: FaceTrack, rng: np.random.Generator,
                      noise_rng: np.random.Generator) -> None:
    """Episodes over the frames where the face is present, their AU states, noise runs and shown labels."""
    T = spec.num_frames
    profiles = class_profiles(spec.num_classes)
    names = class_names(spec.num_classes)
    neutral = names.index("neutral")
    present = np.flatnonzero(face.present)
    a, b = int(present[0]), int(present[-1]) + 1
    min_len = max(8, spec.fps)
    count = int(rng.integers(spec.expressions[0], spec.expressions[1] + 1))
    count = max(1, min(count, (b - a) // min_len))
    lengths = _split(b - a, count, min(min_len, b - a), rng)
    # episodes show an expression; neutral appears in the lead-ins and after each offset
    choices = [c for c in range(spec.num_classes) if c != neutral]
    wobble = 1.0 + 0.06 * np.sin(np.arange(T) * rng.uniform(0.2, 0.5) + rng.uniform(0, 6.3))
    face.gaze = (float(rng.uniform(-0.5, 0.5)), float(rng.uniform(-0.5, 0.5)))
    labels = np.full(T, neutral, dtype=np.int64)
    episode = np.full(T, -1, dtype=np.int64)
    envelope = np.zeros(T)
    phase = ["absent"] * T
    kinds: list[str | None] = [None] * T
    start, prev = a, -1
    for e, n in enumerate(lengths):
        label = int(rng.choice([c for c in choices if c != prev]))
        prev = label
        tl = _episode_timeline(n, rng)
        target = sample_apex(profiles[label], rng)
        events: list[NoiseEvent] = []
        if spec.noise_kinds and noise_rng.random() < spec.noise_episodes:
            events = plan_noise(n, tl, noise_rng, label, profiles, spec.noise_fraction, spec.noise_kinds)
        env = tl.envelope()
        peak = 1.0 / max(float(target.max()), 1e-6)
        episode[start:start + n] = e
        envelope[start:start + n] = env
        phase[start:start + n] = tl.phases()
        for i in range(n):
            t = start + i
            face.clean_aus[t] = np.clip(target * env[i] * min(wobble[t], peak), 0.0, 1.0)
            labels[t] = label if env[i] >= 0.5 else neutral
        for ev in events:
            for i in range(ev.start, ev.end):
                t = start + i
                face.events_at[t] = ev
                kinds[t] = ev.kind
        face.episodes.append(Episode(label, start, tl, target, tuple(events)))
        start += n
    face.clean_label = labels.copy()
    face.aus_sides[:] = face.clean_aus
    for t, ev in face.events_at.items():
        if ev.kind == "expression":
            face.aus_sides[t] = np.clip(ev.apex * (0.9 + 0.1 * wobble[t]), 0.0, 1.0)
            labels[t] = int(ev.params["noise_class"])
    face.label = labels
    face.episode, face.envelope, face.phase, face.noise = episode, envelope, phase, kinds


def plan_scene(spec: SceneSpec) -> tuple[list[FaceTrack], np.random.Generator]:
    """Every face's look, motion, presence and expressions; returns them and the scene stream."""
    scene_rng, layout_rng, face_streams = scene_streams(spec)
    n, W = spec.num_faces, spec.width
    layout: dict[str, Any] = {"lanes": [], "paths": [], "enters": [], "leaves": [], "enter_side": [],
                              "leave_side": []}
    order = layout_rng.permutation(n) if n else np.zeros(0, dtype=int)
    for k in range(n):
        lane = int(order[k])
        if spec.allow_crossing:
            # free walks across the frame: paths may cross; lanes only bound the face size
            layout["lanes"].append((0.0, W * min(1.0, 2.0 / max(n, 1))))
            xa = layout_rng.uniform(0.12, 0.88) * W
            xb = float(np.clip(xa + layout_rng.choice([-1, 1]) * layout_rng.uniform(0.3, 0.7) * W, 0.1 * W, 0.9 * W))
            layout["paths"].append((xa, xb))
            first, last = xa, xb
        else:
            layout["lanes"].append((lane * W / n, (lane + 1) * W / n))
            layout["paths"].append(None)
            first = last = (lane + 0.5) * W / n
        layout["enters"].append(bool(layout_rng.random() < spec.enter_leave))
        layout["leaves"].append(bool(layout_rng.random() < spec.enter_leave))
        # outer lanes use the side edge; inner ones (which would cross a neighbour) rise from below
        for key, x in (("enter_side", first), ("leave_side", last)):
            if spec.allow_crossing or n == 1:
                side = "left" if x < W / 2 else "right"
                if n == 1 and layout_rng.random() < 0.3:
                    side = "bottom"
            else:
                side = "left" if lane == 0 else "right" if lane == n - 1 else "bottom"
            layout[key].append(side)
    faces = [_plan_face(spec, k, face_streams[k], layout) for k in range(n)]
    return faces, scene_rng


def _silhouette(face: FaceTrack, t: int, step: int, size: tuple[int, int]) -> np.ndarray:
    """Bool mask (at 1/step resolution) of everything face ``t`` draws: head, hair, neck, shoulders, torso."""
    img = Image.new("L", size, 0)
    draw = ImageDraw.Draw(img)
    m = face.matrix(t, 1.0 / step)
    app = face.appearance
    cy = (app.face_bot - app.face_top) / 2.0
    ang = np.linspace(0.0, 2 * np.pi, 25)[:-1]
    head = np.stack([(app.face_w + HEAD_MARGIN) * np.cos(ang),
                     cy + ((app.face_top + app.face_bot) / 2.0 + 0.25) * np.sin(ang)], axis=1)
    for poly in (head, _SHOULDERS, _TORSO, np.array([[-0.5, 0.6], [0.5, 0.6], [0.5, 1.7], [-0.5, 1.7]])):
        draw.polygon(_apply(m, poly).ravel().tolist(), fill=1)
    return np.asarray(img, dtype=bool)


def _region_effect(arr: np.ndarray, face: FaceTrack, t: int, ev: NoiseEvent) -> None:
    """Blur or darken the head region of one face in place, blended in through a soft ellipse."""
    H, W = arr.shape[:2]
    x0, y0, x1, y1 = face.head_region(t)
    ix0, iy0, ix1, iy1 = max(0, int(x0)), max(0, int(y0)), min(W, math.ceil(x1)), min(H, math.ceil(y1))
    if ix1 - ix0 < 2 or iy1 - iy0 < 2:
        return
    crop = arr[iy0:iy1, ix0:ix1]
    if ev.kind == "blur":
        # the clips' radius is defined at 112 px face crops (≈ 47 px per face unit)
        radius = float(ev.params["radius"]) * float(face.unit[t]) / (112.0 / 2.4)
        img = Image.fromarray(np.clip(crop + 0.5, 0, 255).astype(np.uint8))
        effect = np.asarray(img.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32)
    else:
        seed = int(ev.params["seed"]) + t
        grain = np.random.default_rng(seed).normal(0.0, float(ev.params["grain"]), crop.shape).astype(np.float32)
        effect = (crop * np.float32(ev.params["factor"]) + grain).astype(np.float32)
    ys = (np.arange(iy0, iy1, dtype=np.float32) + 0.5 - (y0 + y1) / 2) / max((y1 - y0) / 2, 1.0)
    xs = (np.arange(ix0, ix1, dtype=np.float32) + 0.5 - (x0 + x1) / 2) / max((x1 - x0) / 2, 1.0)
    r = np.sqrt(ys[:, None] ** 2 + xs[None, :] ** 2)
    mask = np.clip((1.1 - r) / 0.25, 0.0, 1.0)[:, :, None]
    arr[iy0:iy1, ix0:ix1] = crop * (1.0 - mask) + effect * mask


class SceneRenderer:
    """Renders a scene one frame at a time, so that scenes of any length fit in memory (:func:`render_scene`
    keeps them all; :func:`write_scene_mp4` encodes them as they come).

    ``noise=False`` draws the same scene without its noise runs (identical on the frames no face has noise).
    """

    def __init__(self, spec: SceneSpec, noise: bool = True) -> None:
        self.spec = spec
        self.noise = noise
        self.faces, scene_rng = plan_scene(spec)
        W, H, T, ss = spec.width, spec.height, spec.num_frames, spec.supersample
        side = max(W, H) * ss
        bg = busy_background(side, scene_rng) if spec.background == "busy" else plain_background(side, scene_rng)
        self._background = bg.crop((0, 0, W * ss, H * ss))
        square_light, light_info = light_map(max(W, H), scene_rng, spec.lighting)
        self._light = np.ascontiguousarray(square_light[:H, :W])
        self._flicker = 1.0 + 0.02 * spec.lighting * np.sin(np.arange(T) * 0.9 + scene_rng.uniform(0, 6.3))
        self._names = class_names(spec.num_classes)
        self._mask_size = (math.ceil(W / _MASK_STEP), math.ceil(H / _MASK_STEP))
        self.info: dict[str, Any] = {"background": spec.background, **light_info}

    def __len__(self) -> int:
        return self.spec.num_frames

    def frame(self, t: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Frame ``t`` (uint8 (H, W, 3)) and its truth records (see :class:`SceneTruth`)."""
        spec, noise, ss = self.spec, self.noise, self.spec.supersample
        # smaller (farther) faces first, so nearer ones are drawn over them
        drawn = sorted((f for f in self.faces if f.present[t]), key=lambda f: (f.unit[t], f.face_id))
        img = self._background.copy()
        draw = ImageDraw.Draw(img)
        for f in drawn:
            pen = Pen(draw, f.matrix(t, ss))
            pen.poly(_TORSO, f.appearance.shirt)
            ev = f.events_at.get(t) if noise else None
            draw_face(pen, f.appearance, FaceState(f.state(t, noise)), blink=float(f.blink[t]), gaze=f.gaze,
                      hat=f.hat)
            if ev is not None and ev.kind == "occlusion":
                # occluders drift with the frame count inside their episode, as the events were planned
                draw_occluder(pen, ev, t - f.episodes[f.episode[t]].start, f.appearance.skin)
        if ss > 1:
            img = img.reduce(ss)
        arr = np.asarray(img, dtype=np.float32) * (self._light * np.float32(self._flicker[t]))
        for f in drawn:
            ev = f.events_at.get(t) if noise else None
            if ev is not None and ev.kind in ("blur", "dark"):
                _region_effect(arr, f, t, ev)
        image = np.clip(arr + 0.5, 0, 255).astype(np.uint8)
        return image, _frame_truth(drawn, t, spec, self._names, self._mask_size, noise)

    def __iter__(self) -> Iterator[tuple[np.ndarray, list[dict[str, Any]]]]:
        for t in range(self.spec.num_frames):
            yield self.frame(t)


def render_scene(spec: SceneSpec, noise: bool = True) -> tuple[np.ndarray, SceneTruth]:
    """Render a scene: uint8 frames (T, H, W, 3) and the per-frame, per-face truth.

    ``noise=False`` draws the same scene without its noise runs (identical on the frames no face has noise).
    """
    renderer = SceneRenderer(spec, noise)
    frames = np.empty((spec.num_frames, spec.height, spec.width, 3), dtype=np.uint8)
    truth_frames: list[list[dict[str, Any]]] = []
    for t, (image, records) in enumerate(renderer):
        frames[t] = image
        truth_frames.append(records)
    return frames, SceneTruth(spec, renderer.faces, truth_frames, renderer.info)


def write_scene_mp4(spec: SceneSpec, path: str | Path, noise: bool = True) -> Path:
    """Render and encode a scene frame by frame (memory does not grow with its length) into an H.264 mp4
    (MPEG-4 Part 2 without libx264). Not bit-exact across machines, unlike :func:`write_scene`; for long
    scenes, e.g. speed and memory measurements. No truth file is written."""
    import av

    from ..video_writer import pick_video_codec, rgb_to_yuv420p

    codec = pick_video_codec()

    def encode(tmp: str) -> None:
        with av.open(tmp, mode="w", format="mp4") as container:
            stream = container.add_stream(codec, rate=spec.fps)
            stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
            if codec == "libx264":
                stream.options = {"crf": "18", "preset": "fast"}
            for t, (image, _) in enumerate(SceneRenderer(spec, noise)):
                frame = av.VideoFrame.from_ndarray(rgb_to_yuv420p(image), format="yuv420p")
                frame.pts = t
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)

    return atomic_write(Path(path), encode)


def _frame_truth(drawn: list[FaceTrack], t: int, spec: SceneSpec, names: tuple[str, ...],
                 mask_size: tuple[int, int], noise: bool) -> list[dict[str, Any]]:
    W, H = spec.width, spec.height
    step = _MASK_STEP
    covered = np.zeros((mask_size[1], mask_size[0]), dtype=bool)
    records: dict[int, dict[str, Any]] = {}
    for f in reversed(drawn):  # front to back: what is in front of a face is already in ``covered``
        x0, y0, x1, y1 = f.box(t, noise)
        cx0, cy0, cx1, cy1 = max(0.0, x0), max(0.0, y0), min(float(W), x1), min(float(H), y1)
        if cx1 - cx0 >= 1.0 and cy1 - cy0 >= 1.0:
            full = (x1 - x0) * (y1 - y0)
            visible = (cx1 - cx0) * (cy1 - cy0) / full
            occluded = 0.0
            if covered.any():
                region = covered[int(cy0) // step:math.ceil(cy1 / step), int(cx0) // step:math.ceil(cx1 / step)]
                occluded = float(region.mean()) if region.size else 0.0
            label = int(f.label[t] if noise else f.clean_label[t])
            records[f.face_id] = {
                "face": f.face_id,
                "box": [round(cx0, 1), round(cy0, 1), round(cx1, 1), round(cy1, 1)],
                "visible": round(visible, 3),
                "occluded": round(occluded, 3),
                "label": label,
                "expression": names[label],
                "episode": int(f.episode[t]),
                "phase": f.phase[t],
                "envelope": round(float(f.envelope[t]), 4),
                "aus": [round(float(v), 3) for v in f.state(t, noise).max(axis=0)],
                "noise": f.noise[t] if noise else None,
                "blink": round(float(f.blink[t]), 2),
                "pose": {"x": round(float(f.cx[t]), 1), "y": round(float(f.cy[t]), 1),
                         "unit": round(float(f.unit[t]), 2), "rot": round(float(f.rot[t]), 2)},
            }
        if len(drawn) > 1:
            covered |= _silhouette(f, t, step, mask_size)
    return [records[k] for k in sorted(records)]


# ------------------------------------------------------------------------------------------------- on disk


def plan_scenes(num_scenes: int, seed: int = 0, width: int = 640, height: int = 360, seconds: float = 4.0,
                fps: int = 30, max_faces: int = 3, **options: Any) -> list[SceneSpec]:
    """The specs of ``num_scenes`` scenes; the number of faces (1..max_faces) is drawn from ``seed``."""
    if num_scenes < 1:
        raise ValueError(f"num_scenes must be ≥ 1, got {num_scenes}")
    if max_faces < 1:
        raise ValueError(f"max_faces must be ≥ 1, got {max_faces}")
    num_frames = round(seconds * fps)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 4]))
    digits = max(3, len(str(num_scenes - 1)))
    base = SceneSpec(width=width, height=height, fps=fps, num_frames=num_frames, seed=int(seed), **options)
    return [replace(base, scene_id=f"scene_{i:0{digits}d}", index=i, num_faces=int(rng.integers(1, max_faces + 1)))
            for i in range(num_scenes)]


def write_scene(spec: SceneSpec, out: Path) -> dict[str, Any]:
    """Render one scene and write ``<scene_id>.mp4`` and ``<scene_id>.json``; returns its summary."""
    frames, truth = render_scene(spec)
    atomic_write(out / f"{spec.scene_id}.mp4", lambda tmp: write_mp4(Path(tmp), frames, fps=spec.fps))
    atomic_write_text(out / f"{spec.scene_id}.json", json.dumps(truth.to_json_dict(), indent=1) + "\n")
    counts = np.bincount(truth.faces_per_frame(), minlength=spec.num_faces + 1)
    noisy = sum(1 for recs in truth.frames for r in recs if r["noise"] is not None)
    return {"scene_id": spec.scene_id, "video": f"{spec.scene_id}.mp4", "truth": f"{spec.scene_id}.json",
            "num_faces": spec.num_faces, "num_frames": spec.num_frames,
            "frames_with_n_faces": [int(c) for c in counts], "noisy_face_frames": noisy}


def _write_scene_task(args: tuple[SceneSpec, str]) -> dict[str, Any]:
    return write_scene(args[0], Path(args[1]))


def generate_scenes(out: str | Path, num_scenes: int, seed: int = 0, width: int = 640, height: int = 360,
                    seconds: float = 4.0, fps: int = 30, max_faces: int = 3, workers: int = 1,
                    overwrite: bool = False, progress: Callable[[int, int], None] | None = None,
                    **options: Any) -> dict[str, Any]:
    """Write ``scene_XXX.mp4`` + ``scene_XXX.json`` per scene and ``meta.json`` to ``out``.

    ``options`` are further :class:`SceneSpec` fields (``allow_crossing``, ``noise_kinds``, ...). Returns
    meta.json's content plus the measured ``frames_per_s`` and ``seconds`` (which are not written, so the same
    arguments give byte-identical files).
    """
    out = Path(out)
    specs = plan_scenes(num_scenes, seed, width, height, seconds, fps, max_faces, **options)
    if out.exists() and any(out.iterdir()):
        ours = [p for p in out.iterdir() if p.name == "meta.json" or p.name.startswith("scene_")]
        if not overwrite:
            raise FileExistsError(f"{out} is not empty; pass overwrite=True (--overwrite) to replace the scenes")
        for p in ours:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    tasks = [(spec, str(out)) for spec in specs]
    start = time.perf_counter()
    results = run_tasks(_write_scene_task, tasks, workers, progress)
    elapsed = time.perf_counter() - start
    names = class_names(specs[0].num_classes)
    spec_dict = specs[0].to_dict()
    for key in ("scene_id", "index", "num_faces"):
        spec_dict.pop(key)
    meta = {
        "generator": "dkclip synth --scenes",
        "version": SCENES_VERSION,
        "seed": int(seed),
        "num_scenes": num_scenes,
        "width": width,
        "height": height,
        "fps": fps,
        "num_frames": specs[0].num_frames,
        "max_faces": max_faces,
        "classes": list(names),
        "au_ids": list(AU_IDS),
        "au_names": {str(a): AU_NAMES[a] for a in AU_IDS},
        "spec": spec_dict,
        "scenes": results,
        "counts": {
            "frames": int(sum(r["num_frames"] for r in results)),
            "faces": int(sum(r["num_faces"] for r in results)),
            "face_frames": int(sum(n * c for r in results for n, c in enumerate(r["frames_with_n_faces"]))),
            "noisy_face_frames": int(sum(r["noisy_face_frames"] for r in results)),
        },
    }
    atomic_write_text(out / "meta.json", json.dumps(meta, indent=1) + "\n")
    total = int(sum(r["num_frames"] for r in results))
    fps_measured = total / max(elapsed, 1e-9)
    log.info("wrote %d scenes, %d frames to %s in %.1f s (%.0f frames/s)", num_scenes, total, out, elapsed,
             fps_measured)
    return {**meta, "frames_per_s": fps_measured, "seconds": elapsed}
