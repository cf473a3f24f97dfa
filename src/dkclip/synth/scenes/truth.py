"""The ground truth of a scene: per frame, the faces whose box reaches into it (box, visibility, occlusion by
faces in front, label, AUs, noise), and the JSON file that holds it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..aus import AU_IDS, class_names
from ..timeline import NoiseEvent
from .spec import SCENES_VERSION, SceneSpec
from .tracks import FaceTrack, silhouette

MASK_STEP = 4  # occlusion masks are rasterised at 1/4 of the frame size: plenty for a covered fraction


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


def _shift_event(ev: NoiseEvent, offset: int) -> dict[str, Any]:
    d = ev.to_dict()
    d["start"] += offset
    d["end"] += offset
    return d


def frame_truth(drawn: list[FaceTrack], t: int, spec: SceneSpec, names: tuple[str, ...],
                 mask_size: tuple[int, int], noise: bool) -> list[dict[str, Any]]:
    W, H = spec.width, spec.height
    step = MASK_STEP
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
            covered |= silhouette(f, t, step, mask_size)
    return [records[k] for k in sorted(records)]
