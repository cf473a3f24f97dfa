"""``cv``: run the k folds of a protocol and write the paper-style table (per-class accuracy, UAR and WAR per
fold, mean ± std) in Markdown and CSV.

List paths in the config carry a ``{fold}`` placeholder (``lists/DFEW_set_{fold}_train.txt``). Each fold is an
ordinary run (``<name>-fold<k>``); a fold whose ``results.json`` exists is not trained again, and an
interrupted fold resumes from its ``last.pt``, so ``cv`` itself can be re-run until it completes.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..data.annotations import VideoRecord, load_annotations
from ..data.errors import AnnotationError
from ..engine.run_config import TrainConfig
from ..engine.trainer import TrainingStopped, train
from ..errors import ConfigError
from ..fileio import atomic_write_text
from ..prompts import resolve_prompts


def fold_config(cfg: TrainConfig, fold: int, name: str) -> TrainConfig:
    fold_cfg = copy.deepcopy(cfg)
    d = fold_cfg.data
    for attr in ("train_list", "val_list", "test_list"):
        value = getattr(d, attr)
        if value is not None:
            setattr(d, attr, value.replace("{fold}", str(fold)))
    fold_cfg.run.name = f"{name}-fold{fold}"
    return fold_cfg


def _fold_problems(cfg: TrainConfig, fold: int, num_classes: int | None) -> list[str]:
    """What would stop this fold's training, found from its list files alone (no media read, no model built)."""
    d = cfg.data
    problems: list[str] = []
    records: dict[str, list[VideoRecord]] = {}
    for key in ("train_list", "val_list", "test_list"):
        path = getattr(d, key)
        if path is None:
            continue
        try:
            recs = load_annotations(path, fmt=d.list_format, root=d.root, rewrites=d.rewrites)
        except AnnotationError as exc:
            problems.append(f"data.{key}: {exc}")
            continue
        except OSError as exc:
            problems.append(f"data.{key}: cannot read {path}: {exc.strerror or exc}")
            continue
        if d.min_listed_frames > 0:
            recs = [r for r in recs if r.num_frames is None or r.num_frames >= d.min_listed_frames]
        if not recs:
            problems.append(f"data.{key}: {path} has no usable clips")
            continue
        if num_classes is not None:
            bad = [r for r in recs if not 0 <= r.label < num_classes]
            if bad and d.on_error == "raise":
                problems.append(f"data.{key}: {len(bad)} clips have a label outside 0..{num_classes - 1} (e.g. "
                                f"{bad[0].where}: {bad[0].label})")
        records[key] = recs
    train = records.get("train_list")
    if train is not None and num_classes is not None and not d.allow_missing_classes:
        missing = sorted(set(range(num_classes)) - {r.label for r in train})
        if missing:
            problems.append(f"data.train_list: no clip of class {', '.join(map(str, missing))} of the "
                            f"{num_classes} classes of model.prompts ({d.train_list})")
    if train is not None and len(train) < cfg.schedule.effective_batch:
        problems.append(f"data.train_list: {len(train)} clips, fewer than schedule.effective_batch "
                        f"({cfg.schedule.effective_batch})")
    test = records.get("test_list")
    if train is not None and test is not None:
        shared = {r.path for r in train} & {r.path for r in test}
        if shared:
            problems.append(f"data.test_list shares {len(shared)} clips with data.train_list (e.g. "
                            f"{sorted(shared)[0]})")
    return [f"fold {fold}: {p}" for p in problems]


def check_folds(cfg: TrainConfig, folds: list[int], name: str) -> None:
    """Check every fold's lists before the first fold starts: they exist, parse, are not empty, their labels fit
    the model's classes, the training list covers every class (unless data.allow_missing_classes) and holds at
    least one optimiser step, and no test clip is a training clip. A fold already finished is not checked."""
    prompts = cfg.model.prompts
    num_classes = None if "{fold}" in prompts else len(resolve_prompts(prompts))
    problems: list[str] = []
    for fold in folds:
        fold_cfg = fold_config(cfg, fold, name)
        assert fold_cfg.run.name is not None  # set by fold_config
        if (Path(fold_cfg.run.output_dir) / fold_cfg.run.name / "results.json").is_file():
            continue
        problems += _fold_problems(fold_cfg, fold, num_classes)
    if problems:
        shown = "; ".join(problems[:4]) + (f"; and {len(problems) - 4} more" if len(problems) > 4 else "")
        raise ConfigError(f"cross-validation: {len(problems)} problems in the fold lists, nothing trained: {shown}",
                          hint="fix the lists (dkclip prepare check LIST reports details), or run only the good "
                               "folds with --folds")


def run_cv(cfg: TrainConfig, folds: list[int], name: str) -> dict[str, Any]:
    if not cfg.data.train_list or "{fold}" not in cfg.data.train_list:
        raise ConfigError("data.train_list must contain the placeholder {fold} for cross-validation")
    if not cfg.data.test_list:
        raise ConfigError("data.test_list is not set")
    check_folds(cfg, folds, name)
    results: dict[int, dict[str, Any]] = {}
    for fold in folds:
        fold_cfg = fold_config(cfg, fold, name)
        assert fold_cfg.run.name is not None  # set by fold_config
        run_dir = Path(fold_cfg.run.output_dir) / fold_cfg.run.name
        result_file = run_dir / "results.json"
        if not result_file.is_file():
            resume = run_dir if (run_dir / "last.pt").is_file() else None
            try:
                train(fold_cfg, config_name=name, resume=resume)
            except TrainingStopped as exc:
                raise TrainingStopped(f"fold {fold}: {exc}", hint="run the same dkclip cv command again: finished "
                                      "folds are kept and this one resumes") from None
        results[fold] = json.loads(result_file.read_text())
    out_dir = Path(cfg.run.output_dir) / f"{name}-cv"
    table = cv_table(results, cfg.eval.head)
    atomic_write_text(out_dir / "cv_results.md", table["markdown"] + "\n")
    atomic_write_text(out_dir / "cv_results.csv", table["csv"])
    print(table["markdown"])
    print(f"cross-validation table: {out_dir / 'cv_results.md'}")
    return table


def cv_table(results: dict[int, dict[str, Any]], head: str = "global") -> dict[str, Any]:
    folds = sorted(results)
    first = results[folds[0]]["heads"][head]
    names = list(first["per_class_recall"])
    rows = []
    for fold in folds:
        h = results[fold]["heads"][head]
        recalls = [h["per_class_recall"][n] for n in names]
        rows.append([np.nan if r is None else 100 * r for r in recalls] + [100 * h["uar"], 100 * h["war"]])
    data = np.array(rows, dtype=float)
    mean, std = np.nanmean(data, axis=0), np.nanstd(data, axis=0)
    columns = [*names, "UAR", "WAR"]
    note = results[folds[0]].get("selection_note", "")
    md = [f"{head} head; {note}", "", "| fold | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for fold, row in zip(folds, data, strict=True):
        md.append(f"| {fold} | " + " | ".join("-" if np.isnan(v) else f"{v:.2f}" for v in row) + " |")
    md.append("| mean ± std | " + " | ".join(f"{m:.2f} ± {s:.2f}" for m, s in zip(mean, std, strict=True)) + " |")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["fold", *columns])
    for fold, row in zip(folds, data, strict=True):
        writer.writerow([fold, *[f"{v:.4f}" for v in row]])
    writer.writerow(["mean", *[f"{v:.4f}" for v in mean]])
    writer.writerow(["std", *[f"{v:.4f}" for v in std]])
    return {"markdown": "\n".join(md), "csv": buffer.getvalue(), "mean": dict(zip(columns, mean.tolist(),
                                                                                    strict=True))}
