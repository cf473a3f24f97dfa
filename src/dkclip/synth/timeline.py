"""What happens over the frames of one clip: expression time course, head-pose drift, blinks, noise runs.

The time course (neutral → onset → apex → optional offset, random timing) mimics in-the-wild clips where the
labelled expression fills only part of the video. Noise runs reproduce the paper's "noisy frames": runs of a
non-target expression, occlusion, blur and darkness. They are planned from their own random stream, so the
same clip rendered without noise differs only on the flagged frames (the tests rely on that).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .aus import AUProfile, sample_apex
from .identity import SKIN_TONES

PHASES: tuple[str, ...] = ("neutral", "onset", "apex", "offset")
OCCLUDERS: tuple[str, ...] = ("hand", "object", "scarf", "sunglasses")


@dataclass(frozen=True)
class Timeline:
    """Frame boundaries (0-based, half-open) of the phases, and the level the offset decays to."""

    num_frames: int
    onset_start: int
    apex_start: int
    apex_end: int
    residual: float  # envelope at the end of the offset (1.0 when there is no offset)

    def phases(self) -> list[str]:
        out = []
        for t in range(self.num_frames):
            if t < self.onset_start:
                out.append("neutral")
            elif t < self.apex_start:
                out.append("onset")
            elif t < self.apex_end:
                out.append("apex")
            else:
                out.append("offset")
        return out

    def envelope(self) -> np.ndarray:
        """Expression strength per frame in [0, 1], smoothstep ramps between the phases."""
        t = np.arange(self.num_frames, dtype=np.float64)
        onset_len = self.apex_start - self.onset_start
        ramp = np.clip((t - self.onset_start + 1) / (onset_len + 1), 0.0, 1.0)
        env = ramp * ramp * (3 - 2 * ramp)
        if self.apex_end < self.num_frames:
            off_len = self.num_frames - self.apex_end
            d = np.clip((t - self.apex_end + 1) / off_len, 0.0, 1.0)
            down = d * d * (3 - 2 * d)
            env = np.where(t >= self.apex_end, 1.0 - (1.0 - self.residual) * down, env)
        return env

    def to_dict(self) -> dict[str, Any]:
        return {"onset_start": self.onset_start, "apex_start": self.apex_start, "apex_end": self.apex_end,
                "residual": round(self.residual, 4)}


def sample_timeline(num_frames: int, rng: np.random.Generator) -> Timeline:
    """Random timing with at least 30 % (and 3 frames) of apex, so the label is always visibly expressed."""
    if num_frames < 4:
        raise ValueError(f"a clip needs at least 4 frames, got {num_frames}")
    apex_min = max(3, math.ceil(0.3 * num_frames))
    neutral = round(rng.uniform(0.0, 0.3) * num_frames)
    onset = max(1, round(rng.uniform(0.1, 0.3) * num_frames))
    neutral = max(0, min(neutral, num_frames - apex_min - onset))
    onset = max(1, min(onset, num_frames - apex_min - neutral))
    remaining = num_frames - neutral - onset
    offset, residual = 0, 1.0
    if rng.random() < 0.5:
        offset = round(rng.uniform(0.1, 0.25) * num_frames)
        offset = max(0, min(offset, remaining - apex_min))
        residual = float(rng.uniform(0.15, 0.5))
    if offset == 0:
        residual = 1.0
    return Timeline(num_frames, neutral, neutral + onset, num_frames - offset, residual)


@dataclass(frozen=True)
class PoseTrack:
    """Per-frame head pose: translation (fraction of the frame), in-plane rotation (degrees), scale factor."""

    tx: np.ndarray
    ty: np.ndarray
    rot: np.ndarray
    scale: np.ndarray

    def frame(self, t: int) -> dict[str, float]:
        return {"tx": round(float(self.tx[t]), 4), "ty": round(float(self.ty[t]), 4),
                "rot": round(float(self.rot[t]), 3), "scale": round(float(self.scale[t]), 4)}


def _drift(num_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth zero-mean wander in [-1, 1]: a sum of two slow sinusoids with random frequency and phase."""
    t = np.arange(num_frames) / 25.0  # seconds at 25 fps
    out = np.zeros(num_frames)
    for amp in (0.65, 0.35):
        freq = rng.uniform(0.1, 0.6)
        out += amp * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    return out


def sample_pose(num_frames: int, rng: np.random.Generator, face_scale: tuple[float, float], offset: float,
                translation: float, rotation: float, scale_drift: float) -> PoseTrack:
    base_scale = rng.uniform(*face_scale)
    ox, oy = rng.uniform(-offset, offset, 2)
    base_rot = rng.uniform(-0.4, 0.4) * rotation
    return PoseTrack(
        tx=ox + translation * _drift(num_frames, rng),
        ty=oy + translation * _drift(num_frames, rng),
        rot=base_rot + 0.6 * rotation * _drift(num_frames, rng),
        scale=base_scale * (1.0 + scale_drift * _drift(num_frames, rng)),
    )


def sample_blinks(num_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Eyelid closure per frame (0 open, 1 shut): about one two-frame blink per 2.4 s at 25 fps."""
    blink = np.zeros(num_frames)
    for _ in range(int(rng.poisson(num_frames / 60.0))):
        t = int(rng.integers(num_frames))
        blink[t] = 1.0
        if t + 1 < num_frames:
            blink[t + 1] = max(blink[t + 1], 0.5)
    return blink


@dataclass(frozen=True)
class NoiseEvent:
    """A run of noisy frames [start, end) of one kind with its parameters."""

    kind: str
    start: int
    end: int
    params: dict[str, Any] = field(default_factory=dict)
    apex: np.ndarray | None = None  # AU state (2, n) shown during an "expression" run

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "start": self.start, "end": self.end, **self.params}


def plan_noise(num_frames: int, timeline: Timeline, rng: np.random.Generator, label: int,
               profiles: tuple[AUProfile, ...], fraction: tuple[float, float],
               kinds: tuple[str, ...]) -> list[NoiseEvent]:
    """Runs of 2..T/4 frames covering ``fraction`` of the clip, never touching the middle of the apex (so every
    clip keeps at least three clean frames of its labelled expression)."""
    if not kinds:
        return []
    mid = (timeline.apex_start + timeline.apex_end) // 2
    free = np.ones(num_frames, dtype=bool)
    free[max(0, mid - 1):mid + 2] = False
    target = min(math.ceil(rng.uniform(*fraction) * num_frames), int(free.sum()))
    max_run = max(2, num_frames // 4)
    events: list[NoiseEvent] = []
    used = 0
    while used < target:
        length = min(target - used, int(rng.integers(2, max_run + 1)))
        starts: list[int] = []
        while length > 0:
            window = np.lib.stride_tricks.sliding_window_view(free, length).all(axis=1)
            starts = np.flatnonzero(window).tolist()
            if starts:
                break
            length -= 1
        if length == 0:
            break
        start = int(starts[int(rng.integers(len(starts)))])
        free[start:start + length] = False
        used += length
        events.append(_make_event(str(rng.choice(list(kinds))), start, start + length, rng, label, profiles))
    return sorted(events, key=lambda e: e.start)


def _make_event(kind: str, start: int, end: int, rng: np.random.Generator, label: int,
                profiles: tuple[AUProfile, ...]) -> NoiseEvent:
    if kind == "expression":
        others = [c for c in range(len(profiles)) if c != label]
        cls = int(rng.choice(others))
        apex = sample_apex(profiles[cls], rng)
        return NoiseEvent(kind, start, end, {"noise_class": cls}, apex)
    if kind == "occlusion":
        occ = str(rng.choice(OCCLUDERS))
        colour = [int(v) for v in rng.integers(20, 236, 3)]
        params = {"occluder": occ, "x": round(float(rng.uniform(-0.35, 0.35)), 3),
                  "y": round(float(rng.uniform(-0.2, 0.6)), 3), "angle": round(float(rng.uniform(-35, 35)), 2),
                  "size": round(float(rng.uniform(0.85, 1.15)), 3), "drift": round(float(rng.uniform(-0.03, 0.03)), 4),
                  "colour": colour, "tone": list(SKIN_TONES[int(rng.integers(len(SKIN_TONES)))])}
        return NoiseEvent(kind, start, end, params)
    if kind == "blur":
        return NoiseEvent(kind, start, end, {"radius": round(float(rng.uniform(1.6, 3.0)), 3)})
    if kind == "dark":
        return NoiseEvent(kind, start, end, {"factor": round(float(rng.uniform(0.1, 0.3)), 3),
                                             "grain": round(float(rng.uniform(2.0, 6.0)), 3),
                                             "seed": int(rng.integers(2**31))})
    raise ValueError(f"unknown noise kind {kind!r}")
