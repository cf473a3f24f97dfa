"""From finished run records to the study's :class:`~dkclip.ablation.records.Summary`: per-cell mean ± std over
seeds (population std, as ``dkclip cv``), the direction checks and the setting the report states."""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime
from pathlib import Path

from ..engine.config import TrainConfig
from .checks import direction_checks
from .grid import AblationSetting, Experiment
from .records import DatasetFacts, DetectionStats, NoiseDetection, Row, RunRecord, Setting, Stats, Summary


def summarize(experiments: list[Experiment], setting: AblationSetting, cells: dict[tuple[str, int], str],
              records: dict[str, RunRecord], base: TrainConfig, wall_s: float, machine: str | None = None,
              date: str | None = None) -> Summary:
    """``cells`` maps (experiment id, seed) to a run key of ``records``. ``machine``/``date`` default to this
    machine and today."""
    seeds = list(setting.seeds)
    rows: dict[str, Row] = {}
    for exp in experiments:
        keys = [cells[(exp.id, s)] for s in seeds]
        recs = [records[k] for k in keys]
        det = [r.noise_detection for r in recs]
        complete: list[NoiseDetection] = [d for d in det if d is not None]
        rows[exp.id] = Row(
            table=exp.table, name=exp.name, prompts=exp.prompts, options=exp.knobs,
            train_frames=recs[0].train_frames, eval_frames=recs[0].eval_frames, keys=keys,
            uar=Stats.of([100 * r.reported.uar for r in recs]), war=Stats.of([100 * r.reported.war for r in recs]),
            detection=DetectionStats.of(complete) if len(complete) == len(det) else None,
        )
    first = next(iter(records.values()))
    num_test = int(first.num_test_clips or 0)
    tol = 100.0 / num_test if num_test else 0.0
    return Summary(
        setting=Setting(
            mode=setting.mode, base_config=setting.base_config, data_root=setting.data_root, fold=setting.fold,
            seeds=seeds, overrides=list(setting.extra_overrides), model=base.model.name,
            pretrained=base.model.pretrained, clip_weights=base.model.clip_weights, epochs=base.schedule.epochs,
            selection=base.eval.select, reported_head=first.reported_head or "global",
            selection_note=first.selection_note, num_test_clips=num_test, dataset=dataset_facts(base),
            distinct_runs=len(set(cells.values())), table_cells=len(cells),
            compute_s=sum(r.wall_s for r in records.values()), wall_s=wall_s,
            machine=machine if machine is not None else machine_description(),
            date=date if date is not None else datetime.now().strftime("%Y-%m-%d"), tolerance_points=tol,
        ),
        rows=rows, checks=direction_checks(rows, tol), runs=dict(records),
    )


def machine_description() -> str:
    import torch

    device = f"GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()}, {os.cpu_count()} CPUs, {device}"


def dataset_facts(cfg: TrainConfig) -> DatasetFacts | None:
    """What the synthetic dataset's ``meta.json`` says about it; None without one."""
    meta_file = Path(cfg.data.root) / "meta.json" if cfg.data.root else None
    if meta_file is None or not meta_file.is_file():
        return None
    meta = json.loads(meta_file.read_text())
    counts = meta.get("counts", {})
    return DatasetFacts(clips=counts.get("clips"), num_classes=meta.get("num_classes"), seed=meta.get("seed"),
                        preset=meta.get("preset"), frames_per_clip=meta.get("frames_per_clip"),
                        noisy_clips=counts.get("noisy_clips"),
                        clips_with_quarter_noisy=counts.get("clips_with_quarter_noisy"),
                        noisy_frames=counts.get("noisy_frames"), frames=counts.get("frames"))
