"""Scenes on disk: ``scene_XXX.mp4`` + ``scene_XXX.json`` per scene and ``meta.json``, byte-identical for the
same arguments whatever the number of workers."""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ...fileio import atomic_write, atomic_write_text
from ...video_writer import write_mp4
from ..aus import AU_IDS, AU_NAMES, class_names
from ..pool import run_tasks
from .renderer import render_scene
from .spec import SCENES_VERSION, SceneSpec

log = logging.getLogger(__name__)


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
