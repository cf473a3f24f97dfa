"""Render one clip (frames + per-frame ground truth) from a :class:`ClipSpec`, entirely in memory.

Randomness: every clip owns a ``SeedSequence([seed, 2, index])`` split into independent streams (timeline,
pose, scene, noise), and every identity its own ``SeedSequence([seed, 1, identity])``. No global RNG is
touched, so clips render identically in any order, in any worker, and with or without noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import ImageDraw

from .aus import AU_IDS, active_aus, class_names, class_profiles, describe_aus, sample_apex
from .face import FaceState, Pen, draw_face
from .identity import Appearance, identity_rng, sample_appearance
from .scene import draw_occluder, finish_frame, make_scene, plain_background, pose_matrix
from .synth_config import SynthConfig
from .timeline import Timeline, plan_noise, sample_blinks, sample_pose, sample_timeline


@dataclass(frozen=True)
class ClipSpec:
    """What to render: the clip's place in the dataset plus the generation config."""

    clip_id: str
    label: int
    identity: int
    num_frames: int
    index: int = 0            # position in the dataset plan; seeds the clip's random streams
    seed: int = 0             # dataset seed
    num_classes: int = 7
    noisy: bool = True        # whether this clip gets noise runs (decided by the dataset plan)
    config: SynthConfig = field(default_factory=SynthConfig)


@dataclass
class ClipTruth:
    """Per-frame ground truth of a rendered clip.

    ``aus`` is (T, len(AU_IDS)) with the larger of the two sides per AU, ``aus_sides`` (T, 2, len(AU_IDS)) the
    per-side values ([R, L]), ``noise`` the noise kind per frame (None = clean).
    """

    spec: ClipSpec
    appearance: Appearance
    timeline: Timeline
    envelope: np.ndarray
    aus_sides: np.ndarray
    noise: list[str | None]
    noise_events: list[dict[str, Any]]
    pose: list[dict[str, float]]
    blink: np.ndarray
    scene: dict[str, Any]
    target: np.ndarray  # (2, len(AU_IDS)) apex AU state of the labelled expression

    @property
    def aus(self) -> np.ndarray:
        return self.aus_sides.max(axis=1)

    @property
    def noise_mask(self) -> np.ndarray:
        return np.array([n is not None for n in self.noise], dtype=bool)

    def unilateral(self, t: int) -> dict[str, str]:
        """AUs of frame t acting on one side only, as {"12": "R"}."""
        out = {}
        for i, au in enumerate(AU_IDS):
            r, lft = self.aus_sides[t, :, i]
            if max(r, lft) >= 0.15 and min(r, lft) < 0.05:
                out[str(au)] = "R" if r > lft else "L"
        return out

    def caption(self, t: int) -> str:
        """AU caption of frame t, for single-frame contrastive pretraining."""
        return describe_aus(self.aus[t], unilateral={int(k): v for k, v in self.unilateral(t).items()})

    def to_json_dict(self, frame_names: list[str] | None = None) -> dict[str, Any]:
        """The sidecar content: clip facts, appearance, timing, and one record per frame."""
        s = self.spec
        phases = self.timeline.phases()
        target = self.target.max(axis=0)
        frames = []
        for t in range(s.num_frames):
            rec: dict[str, Any] = {"index": t + 1}
            if frame_names is not None:
                rec["file"] = frame_names[t]
            rec.update({
                "phase": phases[t],
                "envelope": round(float(self.envelope[t]), 4),
                "aus": [round(float(v), 3) for v in self.aus[t]],
                "noise": self.noise[t],
                "blink": round(float(self.blink[t]), 2),
                "pose": self.pose[t],
            })
            uni = self.unilateral(t)
            if uni:
                rec["unilateral"] = uni
            frames.append(rec)
        return {
            "clip_id": s.clip_id,
            "label": s.label,
            "class_name": class_names(s.num_classes)[s.label],
            "identity": s.identity,
            "num_frames": s.num_frames,
            "size": s.config.size,
            "au_ids": list(AU_IDS),
            "target_aus": {str(au): round(float(v), 3) for au, v in zip(AU_IDS, target, strict=True) if v > 0},
            "target_caption": describe_aus(target),
            "timeline": self.timeline.to_dict(),
            "noise_events": self.noise_events,
            "num_noisy_frames": int(self.noise_mask.sum()),
            "appearance": self.appearance.to_dict(),
            "scene": self.scene,
            "frames": frames,
        }


def clip_streams(spec: ClipSpec) -> list[np.random.Generator]:
    """Independent generators: timeline, pose, scene, noise."""
    ss = np.random.SeedSequence([int(spec.seed), 2, int(spec.index)])
    return [np.random.default_rng(s) for s in ss.spawn(4)]


def appearance_of(seed: int, identity: int, config: SynthConfig) -> Appearance:
    return sample_appearance(identity, identity_rng(seed, identity), config.accessories)


def render_clip(spec: ClipSpec, noise: bool = True) -> tuple[np.ndarray, ClipTruth]:
    """Render a clip: uint8 frames (T, H, W, 3) and their ground truth.

    ``noise=False`` renders the same clip without its noise runs (identical on every clean frame).
    """
    cfg = spec.config
    t_rng, p_rng, s_rng, n_rng = clip_streams(spec)
    profiles = class_profiles(spec.num_classes)
    if not 0 <= spec.label < len(profiles):
        raise ValueError(f"label {spec.label} out of range for {spec.num_classes} classes")
    app = appearance_of(spec.seed, spec.identity, cfg)
    T = spec.num_frames
    timeline = sample_timeline(T, t_rng)
    target = sample_apex(profiles[spec.label], t_rng)
    envelope = timeline.envelope()
    wobble = 1.0 + 0.06 * np.sin(np.arange(T) * t_rng.uniform(0.2, 0.5) + t_rng.uniform(0, 6.3))
    blink = sample_blinks(T, t_rng)
    gaze = t_rng.uniform(-0.5, 0.5, 2)
    pose = sample_pose(T, p_rng, cfg.face_scale, cfg.offset, cfg.translation, cfg.rotation, cfg.scale_drift)
    scene = make_scene(cfg.size, cfg.supersample, s_rng, cfg.background, cfg.lighting, cfg.accessories)
    flicker = 1.0 + 0.02 * cfg.lighting * np.sin(np.arange(T) * 0.9 + s_rng.uniform(0, 6.3))
    events = []
    if spec.noisy and cfg.noise_kinds:
        events = plan_noise(T, timeline, n_rng, spec.label, profiles, cfg.noise_fraction, cfg.noise_kinds)
    active = events if noise else []
    by_frame: dict[int, Any] = {t: ev for ev in active for t in range(ev.start, ev.end)}

    canvas = cfg.size * cfg.supersample
    frames = np.empty((T, cfg.size, cfg.size, 3), dtype=np.uint8)
    aus_sides = np.empty((T, 2, len(AU_IDS)))
    kinds: list[str | None] = []
    for t in range(T):
        ev = by_frame.get(t)
        state = np.clip(target * envelope[t] * min(wobble[t], 1.0 / max(target.max(), 1e-6)), 0.0, 1.0)
        if ev is not None and ev.kind == "expression":
            state = np.clip(ev.apex * (0.9 + 0.1 * wobble[t]), 0.0, 1.0)
        aus_sides[t] = state
        kinds.append(ev.kind if ev is not None else None)
        img = scene.background.copy()
        pen = Pen(ImageDraw.Draw(img), pose_matrix(canvas, pose.tx[t], pose.ty[t], pose.rot[t], pose.scale[t]))
        draw_face(pen, app, FaceState(state), blink=float(blink[t]), gaze=(float(gaze[0]), float(gaze[1])),
                  hat=scene.hat)
        if ev is not None and ev.kind == "occlusion":
            draw_occluder(pen, ev, t, app.skin)
        blur = ev.params["radius"] if ev is not None and ev.kind == "blur" else 0.0
        dark = None
        if ev is not None and ev.kind == "dark":
            dark = {**ev.params, "seed": ev.params["seed"] + t}
        frames[t] = finish_frame(img, cfg.supersample, scene.light, float(flicker[t]), blur, dark)

    truth = ClipTruth(
        spec=spec, appearance=app, timeline=timeline, envelope=envelope, aus_sides=aus_sides, noise=kinds,
        noise_events=[ev.to_dict() for ev in active], pose=[pose.frame(t) for t in range(T)], blink=blink,
        scene=scene.info, target=target,
    )
    return frames, truth


def render_frame(appearance: Appearance, aus: np.ndarray, size: int = 112, supersample: int = 2,
                 rotation: float = 0.0, scale: float = 1.0, shift: tuple[float, float] = (0.0, 0.0),
                 blink: float = 0.0, background_seed: int = 0) -> np.ndarray:
    """Draw one face with the given AU state, shape (len(AU_IDS),) or (2, len(AU_IDS)) per side; uint8 (H, W, 3).

    For single-frame uses (e.g. AU-caption pretraining) that need no clip, timeline or disk.
    """
    state = np.asarray(aus, dtype=np.float64)
    if state.ndim == 1:
        state = np.stack([state, state])
    if state.shape != (2, len(AU_IDS)):
        raise ValueError(f"aus must have shape ({len(AU_IDS)},) or (2, {len(AU_IDS)}), got {state.shape}")
    canvas = size * supersample
    img = plain_background(canvas, np.random.default_rng(background_seed))
    pen = Pen(ImageDraw.Draw(img), pose_matrix(canvas, shift[0], shift[1], rotation, scale))
    draw_face(pen, appearance, FaceState(state), blink=blink)
    light = np.ones((size, size, 3), dtype=np.float32)
    return finish_frame(img, supersample, light, 1.0)


def is_target_expression(aus: np.ndarray, label: int, num_classes: int = 7) -> bool:
    """Whether an AU vector shows exactly the AU set of class ``label`` (used by tests and analysis)."""
    from .aus import class_au_set

    return active_aus(aus) == class_au_set(label, num_classes)



