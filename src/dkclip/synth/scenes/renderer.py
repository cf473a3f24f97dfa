"""Drawing a planned scene frame by frame (faces back to front, lighting, the per-face blur and darkness), into
arrays or straight into an mp4."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ...fileio import atomic_write
from ..aus import class_names
from ..face import FaceState, Pen, draw_face
from ..scene import busy_background, draw_occluder, light_map, plain_background
from ..timeline import NoiseEvent
from .planning import plan_scene
from .spec import SceneSpec
from .tracks import TORSO, FaceTrack
from .truth import MASK_STEP, SceneTruth, frame_truth


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
        self._mask_size = (math.ceil(W / MASK_STEP), math.ceil(H / MASK_STEP))
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
            pen.poly(TORSO, f.appearance.shirt)
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
        return image, frame_truth(drawn, t, spec, self._names, self._mask_size, noise)

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

    from ...video_writer import encode_frames, pick_video_codec

    codec = pick_video_codec()

    def encode(tmp: str) -> None:
        with av.open(tmp, mode="w", format="mp4") as container:
            stream = container.add_stream(codec, rate=spec.fps)
            stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
            if codec == "libx264":
                stream.options = {"crf": "18", "preset": "fast"}
            encode_frames(container, stream, (image for image, _ in SceneRenderer(spec, noise)))

    return atomic_write(Path(path), encode)
