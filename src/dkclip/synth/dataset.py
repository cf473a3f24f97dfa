"""Write a synthetic dataset to disk in the DFEW-style layout that the data loader reads.

Layout under ``out``::

    frames/<clip_id>/00001.jpg ...     (or videos/<clip_id>.mp4 with format="mp4")
    annotations/<clip_id>.json         per-frame ground truth (AUs, noise flags, identity, pose, ...)
    set_{k}_train.txt, set_{k}_test.txt  lines "<path relative to out> <num_frames> <label>", k = 1..folds
    prompts.csv                        "id,name" with the class names
    meta.json                          classes, seed, config, sizes, generator version, counts

Folds are identity-disjoint (each identity belongs to one test fold) and stratified by class. Nothing written
depends on time, worker count or file-system order, so the same arguments give byte-identical files.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..video_writer import pick_video_codec, rgb_to_yuv420p, write_mp4  # noqa: F401 (re-exported)
from .aus import AU_IDS, AU_NAMES, class_names, class_profiles
from .pool import run_tasks
from .render import ClipSpec, render_clip
from .synth_config import SynthConfig

log = logging.getLogger(__name__)

GENERATOR_VERSION = "1.0"
FORMATS: tuple[str, ...] = ("frames", "mp4")
_OUTPUTS = ("frames", "videos", "annotations", "prompts.csv", "meta.json")


@dataclass(frozen=True)
class DatasetPlan:
    """Which clips exist: their labels, identities, lengths, noise flags, and the identity → fold map."""

    specs: tuple[ClipSpec, ...]
    fold_of_identity: tuple[int, ...]  # 0-based fold per identity
    folds: int

    def fold_of(self, spec: ClipSpec) -> int:
        return self.fold_of_identity[spec.identity]


def default_identities(total_clips: int, folds: int) -> int:
    """About four clips per identity (DFEW has several clips per actor), at least two identities per fold."""
    return int(min(1000, max(2 * folds, round(total_clips / 4))))


def build_plan(num_classes: int = 7, clips_per_class: int = 20, seed: int = 0,
               frames: tuple[int, int] = (16, 48), folds: int = 5, identities: int | None = None,
               config: SynthConfig | None = None) -> DatasetPlan:
    """Decide every clip up front from one seeded generator, so rendering can then run in any order."""
    cfg = config or SynthConfig()
    class_profiles(num_classes)
    if clips_per_class < 1:
        raise ValueError("clips_per_class must be ≥ 1")
    if folds < 1:
        raise ValueError("folds must be ≥ 1")
    lo, hi = frames
    if not 4 <= lo <= hi:
        raise ValueError(f"frames must be a range with 4 ≤ min ≤ max, got {frames}")
    total = num_classes * clips_per_class
    n_id = identities if identities is not None else default_identities(total, folds)
    if n_id < folds:
        raise ValueError(f"need at least one identity per fold: identities={n_id} < folds={folds}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0]))
    perm = rng.permutation(n_id)
    fold_of_identity = [0] * n_id
    for pos, ident in enumerate(perm):
        fold_of_identity[int(ident)] = pos % folds
    members = [[i for i in range(n_id) if fold_of_identity[i] == f] for f in range(folds)]
    cursor = [int(rng.integers(len(m))) for m in members]
    rows: list[tuple[int, int, int, bool]] = []
    for label in range(num_classes):
        offset = int(rng.integers(folds))
        noisy = np.zeros(clips_per_class, dtype=bool)
        noisy[rng.permutation(clips_per_class)[:math.ceil(cfg.noise_clips * clips_per_class)]] = True
        for j in range(clips_per_class):
            fold = (offset + j) % folds
            ident = members[fold][cursor[fold] % len(members[fold])]
            cursor[fold] += 1 + int(rng.integers(2))
            rows.append((label, ident, int(rng.integers(lo, hi + 1)), bool(noisy[j])))
    order = rng.permutation(len(rows))
    specs = tuple(
        ClipSpec(clip_id=f"{i + 1:05d}", label=rows[r][0], identity=rows[r][1], num_frames=rows[r][2], index=i,
                 seed=int(seed), num_classes=num_classes, noisy=rows[r][3], config=cfg)
        for i, r in enumerate(order)
    )
    return DatasetPlan(specs, tuple(fold_of_identity), folds)


def clip_relpath(spec: ClipSpec, fmt: str) -> str:
    return f"frames/{spec.clip_id}" if fmt == "frames" else f"videos/{spec.clip_id}.mp4"


def write_clip(spec: ClipSpec, out: Path, fmt: str = "frames") -> dict[str, Any]:
    """Render one clip and write its media and sidecar; returns the facts the lists and meta.json need."""
    frames, truth = render_clip(spec)
    rel = clip_relpath(spec, fmt)
    if fmt == "frames":
        folder = out / rel
        folder.mkdir(parents=True, exist_ok=True)
        names = [f"{t + 1:05d}.jpg" for t in range(len(frames))]
        for arr, name in zip(frames, names, strict=True):
            Image.fromarray(arr).save(folder / name, format="JPEG", quality=spec.config.jpeg_quality,
                                      subsampling=0)
    elif fmt == "mp4":
        (out / "videos").mkdir(parents=True, exist_ok=True)
        write_mp4(out / rel, frames)
        names = None
    else:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    sidecar = truth.to_json_dict(names)
    sidecar["path"] = rel
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    (out / "annotations" / f"{spec.clip_id}.json").write_text(json.dumps(sidecar, indent=1, sort_keys=False) + "\n")
    noisy = int(truth.noise_mask.sum())
    return {"clip_id": spec.clip_id, "path": rel, "label": spec.label, "identity": spec.identity,
            "num_frames": len(frames), "noisy_frames": noisy}


def _write_clip_task(args: tuple[ClipSpec, str, str]) -> dict[str, Any]:
    spec, out, fmt = args
    return write_clip(spec, Path(out), fmt)


def _prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        existing = [p for p in out.iterdir() if p.name in _OUTPUTS or p.name.startswith("set_")]
        if not overwrite:
            raise FileExistsError(f"{out} is not empty; pass overwrite=True (--overwrite) to replace a dataset")
        for p in existing:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    out.mkdir(parents=True, exist_ok=True)


def generate_dataset(out: str | Path, num_classes: int = 7, clips_per_class: int = 20, seed: int = 0,
                     frames: tuple[int, int] = (16, 48), folds: int = 5, identities: int | None = None,
                     fmt: str = "frames", workers: int = 1, config: SynthConfig | None = None,
                     overwrite: bool = False, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Generate and write the whole dataset; returns meta.json's content plus the measured ``frames_per_s``."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    cfg = config or SynthConfig()
    out = Path(out)
    plan = build_plan(num_classes, clips_per_class, seed, frames, folds, identities, cfg)
    _prepare_out(out, overwrite)
    tasks = [(spec, str(out), fmt) for spec in plan.specs]
    start = time.perf_counter()
    results = run_tasks(_write_clip_task, tasks, workers, progress)
    elapsed = time.perf_counter() - start
    meta = _write_index(out, plan, results, num_classes, seed, frames, fmt, cfg)
    total_frames = meta["counts"]["frames"]
    fps = total_frames / max(elapsed, 1e-9)
    log.info("wrote %d clips, %d frames to %s in %.1f s (%.0f frames/s)", len(results), total_frames, out,
             elapsed, fps)
    return {**meta, "frames_per_s": fps, "seconds": elapsed}


def _write_index(out: Path, plan: DatasetPlan, results: Sequence[dict[str, Any]], num_classes: int, seed: int,
                 frames: tuple[int, int], fmt: str, cfg: SynthConfig) -> dict[str, Any]:
    by_id = {r["clip_id"]: r for r in results}
    fold_lines: list[list[str]] = [[] for _ in range(plan.folds)]
    for spec in plan.specs:
        r = by_id[spec.clip_id]
        fold_lines[plan.fold_of(spec)].append(f"{r['path']} {r['num_frames']} {r['label']}")
    for k in range(plan.folds):
        train = [line for f in range(plan.folds) if f != k for line in fold_lines[f]]
        (out / f"set_{k + 1}_train.txt").write_text("".join(f"{line}\n" for line in sorted(train)))
        (out / f"set_{k + 1}_test.txt").write_text("".join(f"{line}\n" for line in sorted(fold_lines[k])))
    names = class_names(num_classes)
    (out / "prompts.csv").write_text("id,name\n" + "".join(f"{i},{n}\n" for i, n in enumerate(names)))

    per_class = [0] * num_classes
    for r in results:
        per_class[r["label"]] += 1
    quarter = sum(1 for r in results if r["noisy_frames"] * 4 >= r["num_frames"])
    profiles = class_profiles(num_classes)
    meta = {
        "generator": "dkclip synth",
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "preset": cfg.preset,
        "format": fmt,
        "size": cfg.size,
        "frames_per_clip": [int(frames[0]), int(frames[1])],
        "fps": 25,
        "num_classes": num_classes,
        "classes": list(names),
        "class_aus": {n: sorted(profiles[i].intensities) for i, n in enumerate(names)},
        "au_ids": list(AU_IDS),
        "au_names": {str(a): AU_NAMES[a] for a in AU_IDS},
        "folds": plan.folds,
        "lists": {"train": "set_{k}_train.txt", "test": "set_{k}_test.txt", "label_base": 0},
        "identities": len(plan.fold_of_identity),
        "fold_of_identity": list(plan.fold_of_identity),
        "config": cfg.to_dict(),
        "counts": {
            "clips": len(results),
            "frames": int(sum(r["num_frames"] for r in results)),
            "clips_per_class": per_class,
            "test_clips_per_fold": [len(lines) for lines in fold_lines],
            "noisy_clips": sum(1 for r in results if r["noisy_frames"] > 0),
            "clips_with_quarter_noisy": quarter,
            "noisy_frames": int(sum(r["noisy_frames"] for r in results)),
        },
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta
