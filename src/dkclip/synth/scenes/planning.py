"""Planning a scene before anything is drawn: the lanes or paths of its faces, who enters and leaves, each face's
size, motion and episodes of expression with their noise runs, all from the scene's own random streams."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..aus import AU_IDS, class_names, class_profiles, sample_apex
from ..identity import Appearance, sample_appearance
from ..timeline import NoiseEvent, Timeline, plan_noise, sample_blinks
from .spec import SceneSpec
from .tracks import BODY_HALF_WIDTH, BOX_TOP_ABOVE_EYES, HEAD_MARGIN, Episode, FaceTrack


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
