"""From recorded runs and their stored per-clip predictions to the study's summary (``ablation.json``): per cell
the held-out UAR/WAR with intervals and the spread over seeds, per claim the paired tests and a verdict, the NRM
as a noise detector (per noise kind, and per normalisation), the comparison of the presets, and the cells still
missing. Everything here is recomputed from ``<preset>/results/*.json`` and ``<preset>/predictions/*.csv.gz``;
nothing is retrained.

The claims and their verdicts are :mod:`dkclip.ablation.claims`; the records written, :mod:`dkclip.ablation.summary`.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np

from ..synth import NOISE_KINDS
from .claims import CLAIMS, HEAD, PredictionStore, claim_id, growth, paired_claim
from .grid import FULL_MODEL_CELLS, AblationSetting, Experiment, build_grid
from .paired import cell_interval
from .plan import StudyPart
from .records import DatasetFacts, DetectionStats, RunRecord, SetEvaluation, Stats, load_record
from .summary import Cell, Claim, KindStats, PartSetting, PartSummary, StudySummary


def _pct(values: Sequence[float | None]) -> Stats:
    return Stats.of([None if v is None else 100 * v for v in values])


def _kind_stats(evals: Sequence[SetEvaluation]) -> dict[str, KindStats]:
    out = {}
    for kind in NOISE_KINDS:
        per = [e.by_kind.get(kind) for e in evals]
        have = [k for k in per if k is not None]
        if not have or len(have) != len(per):
            continue
        out[kind] = KindStats(kind=kind, snippets=have[0].snippets, erase_rate=_pct([k.erase_rate for k in have]),
                              precision=_pct([k.precision for k in have]),
                              base_rate=_pct([k.base_rate for k in have]), auc=_pct([k.auc for k in have]))
    return out


def build_cell(table: str, name: str, exp: Experiment, keys: list[str | None], evaluation: str,
               records: dict[str, RunRecord], store: PredictionStore, seeds: Sequence[int]) -> Cell:
    have = [(s, records[k]) for s, k in zip(seeds, keys, strict=True) if k is not None]
    evals = [(s, r, r.evaluations.get(evaluation)) for s, r in have]
    done = [(s, r, e) for s, r, e in evals if e is not None]
    uar = _pct([e.heads[HEAD].uar for _, _, e in done])
    war = _pct([e.heads[HEAD].war for _, _, e in done])
    interval = None
    preds = [(s, store.get(r, evaluation)) for s, r, _ in done]
    loaded = [(s, p) for s, p in preds if p is not None]
    if loaded and len(loaded) == len(done):
        labels = loaded[0][1].labels
        interval = cell_interval(labels, [p.preds(HEAD) for _, p in loaded], [s for s, _ in loaded])
    dets = [e.detection for _, _, e in done]
    detection = DetectionStats.of([d for d in dets if d is not None]) if dets and all(dets) else None
    aucs = [e.auc for _, _, e in done]
    return Cell(
        table=table, name=name, prompts=exp.prompts, options=exp.knobs,
        train_frames=have[0][1].train_frames if have else None, eval_frames=have[0][1].eval_frames if have else None,
        keys=[k if k is not None and evaluation in records[k].evaluations else None for k in keys],
        evaluation=evaluation, uar=uar, war=war, interval=interval,
        fold_uar=_pct([r.reported.uar for _, r in have]), fold_war=_pct([r.reported.war for _, r in have]),
        detection=detection, auc=_pct(aucs) if done and all(a is not None for a in aucs) else None,
        kinds=_kind_stats([e for _, _, e in done]) if detection is not None else {},
        local_uar=_pct([e.heads["local"].uar for _, _, e in done if "local" in e.heads]),
    )


def summarize_part(part: StudyPart, setting: AblationSetting, records: dict[str, RunRecord],
                   records_dir: Path) -> PartSummary:
    cells, claims, missing = tabulate(part.experiments, part.cells, list(setting.seeds), records, records_dir)
    return PartSummary(setting=part_setting(part, setting, records, cells), cells=cells, claims=claims,
                       missing=missing, runs={k: records[k] for k in dict.fromkeys(part.cells.values())
                                              if k in records})


def tabulate(experiments: Sequence[Experiment], cell_keys: dict[tuple[str, int], str], seeds: list[int],
             records: dict[str, RunRecord], records_dir: Path) -> tuple[dict[str, Cell], dict[str, Claim], list[str]]:
    """Cells (with the test-time NRM variants of the full model), claims and missing (cell, seed) pairs, from the
    records and the predictions stored under ``records_dir``."""
    store = PredictionStore(records_dir)
    cells: dict[str, Cell] = {}
    missing: list[str] = []
    for exp in experiments:
        keys: list[str | None] = []
        for s in seeds:
            k = cell_keys.get((exp.id, s))
            if k is not None and k in records:
                keys.append(k)
            else:
                keys.append(None)
                missing.append(f"{exp.id} seed {s}")
        cells[exp.id] = build_cell(exp.table, exp.name, exp, keys, "heldout", records, store, seeds)
    full = next((e for e in experiments if e.id in FULL_MODEL_CELLS), None)
    if full is not None:
        base_cell = cells[full.id]
        for norm in ("minmax", "zscore", "none"):
            evaluation = "heldout" if norm == "minmax" else f"heldout@nrm_norm={norm}"
            cells[f"nrm-test/{norm}"] = build_cell("nrm-test", norm, full, base_cell.keys, evaluation, records, store,
                                                   seeds)
    claims = {}
    for table, better, worse, text in CLAIMS:
        if better in cells and worse in cells:
            claims[claim_id(better, worse)] = paired_claim(table, cells[better], cells[worse], text, records, store,
                                                           seeds)
    for norm in ("zscore", "none"):  # the NRM variants against Eq. 9 (same clips): no claim of the paper
        for kind, cell_id in (("test", f"nrm-test/{norm}"), ("trained", f"nrm/{norm}")):
            ref = "nrm-test/minmax"
            if cell_id in cells and ref in cells:
                text = f"{kind}-time {norm} normalisation against Eq. 9's min-max" if kind == "test" else \
                    f"trained with {norm} normalisation against Eq. 9's min-max"
                claims[claim_id(cell_id, ref)] = paired_claim("nrm", cells[cell_id], cells[ref], text, records,
                                                              store, seeds)
    return cells, claims, missing


def resummarize(summary: StudySummary, records_root: Path) -> StudySummary:
    """``summary`` recomputed from the records and predictions under ``records_root`` (the cells' run keys and the
    settings taken from ``summary``): what a committed study's claims are checked against, without any dataset
    or training."""
    grid = {e.id: e for e in build_grid()}
    parts = {}
    for preset, part in summary.parts.items():
        records_dir = records_root / preset
        records = {f.stem: load_record(f) for f in sorted((records_dir / "results").glob("*.json"))}
        experiments = [grid[c.id] for c in part.cells.values() if c.table != "nrm-test"]
        cell_keys = {(c.id, s): k for c in part.cells.values() if c.table != "nrm-test"
                     for s, k in zip(summary.seeds, c.keys, strict=True) if k is not None}
        cells, claims, missing = tabulate(experiments, cell_keys, list(summary.seeds), records, records_dir)
        runs = {k: records[k] for k in dict.fromkeys(cell_keys.values())}
        parts[preset] = PartSummary(setting=part.setting, cells=cells, claims=claims, missing=missing, runs=runs)
    return StudySummary(mode=summary.mode, seeds=list(summary.seeds), overrides=list(summary.overrides),
                        date=summary.date, machine=summary.machine, wall_s=summary.wall_s, parts=parts,
                        growth=growth(parts, {p: records_root / p for p in parts}, summary.seeds))


def part_setting(part: StudyPart, setting: AblationSetting, records: dict[str, RunRecord],
                 cells: dict[str, Cell]) -> PartSetting:
    base = part.base
    heldout = next(t for t in part.test_sets if t.name == "heldout")
    recorded = [records[k] for k in dict.fromkeys(part.cells.values()) if k in records]
    clips = next((r.evaluations["heldout"].num_clips for r in recorded if "heldout" in r.evaluations), 0)
    return PartSetting(
        preset=part.preset, base_config=setting.base_config, data_root=base.data.root, fold=setting.fold,
        dataset=dataset_facts(base.data.root), heldout_root=heldout.root, heldout_list=heldout.list_file,
        heldout_command=part.heldout_command, heldout=dataset_facts(heldout.root), heldout_clips=clips,
        model=base.model.name, pretrained=base.model.pretrained, epochs=base.schedule.epochs,
        selection=base.eval.select, selection_note=recorded[0].selection_note if recorded else None,
        distinct_runs=len(set(part.cells.values())), recorded_runs=len(recorded),
        table_cells=sum(1 for c in cells.values() if c.table != "nrm-test") * len(setting.seeds),
        compute_s=sum(r.wall_s for r in recorded),
        heldout_eval_s=float(np.median(evals)) if (evals := [r.evaluations["heldout"].wall_s for r in recorded
                                                              if "heldout" in r.evaluations]) else None,
    )


def summarize_study(parts: Sequence[StudyPart], setting: AblationSetting, records: dict[str, dict[str, RunRecord]],
                    records_root: Path, wall_s: float, machine: str | None = None,
                    date: str | None = None) -> StudySummary:
    """``records[preset]`` maps run keys to records; predictions are read under ``records_root/<preset>``."""
    summaries = {p.preset: summarize_part(p, setting, records[p.preset], records_root / p.preset) for p in parts}
    return StudySummary(
        mode=setting.mode, seeds=list(setting.seeds), overrides=list(setting.extra_overrides),
        date=date if date is not None else datetime.now().strftime("%Y-%m-%d"),
        machine=machine if machine is not None else machine_description(), wall_s=wall_s, parts=summaries,
        growth=growth(summaries, {p.preset: records_root / p.preset for p in parts}, setting.seeds),
    )


def machine_description() -> str:
    import torch

    device = f"GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()}, {os.cpu_count()} CPUs, {device}"


def dataset_facts(root: str | None) -> DatasetFacts | None:
    """What a synthetic dataset's ``meta.json`` says about it; None without one."""
    meta_file = Path(root) / "meta.json" if root else None
    if meta_file is None or not meta_file.is_file():
        return None
    meta = json.loads(meta_file.read_text())
    counts = meta.get("counts", {})
    return DatasetFacts(clips=counts.get("clips"), num_classes=meta.get("num_classes"), seed=meta.get("seed"),
                        preset=meta.get("preset"), frames_per_clip=meta.get("frames_per_clip"),
                        noisy_clips=counts.get("noisy_clips"),
                        clips_with_quarter_noisy=counts.get("clips_with_quarter_noisy"),
                        noisy_frames=counts.get("noisy_frames"), frames=counts.get("frames"))
