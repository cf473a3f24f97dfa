"""From recorded runs and their stored per-clip predictions to the study's summary (``ablation.json``): per cell
the held-out UAR/WAR with intervals and the spread over seeds, per claim the paired tests and a verdict, the NRM
as a noise detector (per noise kind, and per normalisation), the comparison of the presets, and the cells still
missing. Everything here is recomputed from ``<preset>/results/*.json`` and ``<preset>/predictions/*.csv.gz``;
nothing is retrained.

**Claims** (the paper's orderings, each a paired comparison on the same held-out clips):

- Table 4: each step adds UAR (+HVE > baseline, +ETP > +HVE, +CCR > +ETP);
- Table 5: the hierarchical encoder d beats a, b and c;
- Fig. 3: θ = 0.15 beats every other θ, N = 4 every other N.

**Verdict** of a claim, from the seeds-pooled 95% interval of UAR(better) − UAR(worse)
(:mod:`dkclip.ablation.paired`): *reproduces* when it lies above 0, *contradicts* when below, *not resolved* when
it contains 0, *identical* when no clip of any seed is right in one cell and wrong in the other (a change that
does not reach the reported head's decisions), *missing* while a cell has no recorded run. The intervals are
not corrected for the number of claims (16 per preset): at 95%, about one in twenty claims without a true
difference still comes out resolved. They are over clips, given the three trained seeds: the pooled interval
does not resample training seeds, so a verdict carried by one seed (see the per-seed column) is weaker than one
all seeds agree on.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.run_config import TrainConfig
from ..synth import NOISE_KINDS
from .grid import FULL_MODEL_CELLS, THETAS, AblationSetting, Experiment
from .heldout import TestSet
from .paired import (
    CellInterval,
    PairTest,
    Span,
    cell_interval,
    difference_of_differences,
    pair_test_pooled,
    pair_test_seed,
    pooled_diff_draws,
)
from .predictions import ClipPredictions, read_predictions
from .records import DatasetFacts, DetectionStats, Knobs, RunRecord, SetEvaluation, Stats

REPRODUCES = "reproduces"
CONTRADICTS = "contradicts"
UNRESOLVED = "not resolved"
IDENTICAL = "identical"  # no clip of any seed is right in one cell and wrong in the other: UAR and WAR equal
MISSING = "missing"
VERDICTS: frozenset[str] = frozenset({REPRODUCES, CONTRADICTS, UNRESOLVED, IDENTICAL, MISSING})
GROWS, SHRINKS = "grows", "shrinks"

HEAD = "global"  # the head the paper reports

# (table, better, worse, claim): the paper's orderings as paired comparisons.
CLAIMS: tuple[tuple[str, str, str, str], ...] = (
    ("table4", "table4/+HVE", "table4/baseline", "+HVE (hierarchical encoder) adds UAR over the baseline"),
    ("table4", "table4/+ETP", "table4/+HVE", "+ETP (AU prompts + CMAM) adds UAR over +HVE"),
    ("table4", "table4/+CCR", "table4/+ETP", "+CCR (NRM + consistency losses) adds UAR over +ETP"),
    ("table5", "table5/d", "table5/a", "d (hierarchical) beats a (average pooling)"),
    ("table5", "table5/d", "table5/b", "d (hierarchical) beats b (frame transformer)"),
    ("table5", "table5/d", "table5/c", "d (hierarchical) beats c (cross-frame)"),
    *[("theta", "theta/0.15", f"theta/{t:g}", f"θ = 0.15 beats θ = {t:g}") for t in THETAS if t != 0.15],
    *[("snippets", "snippets/4", f"snippets/{n}", f"N = 4 beats N = {n}") for n in (1, 2, 8)],
)
# Effects whose size is compared between the presets: does it grow in the wild?
GROWTH: tuple[tuple[str, str, str], ...] = (
    ("table4/+HVE", "table4/baseline", "temporal: +HVE over the baseline"),
    ("table5/d", "table5/a", "temporal: d (hierarchical) over a (average pooling)"),
    ("table4/+CCR", "table4/+ETP", "noise: +CCR (NRM + consistency) over +ETP"),
)


def claim_id(better: str, worse: str) -> str:
    return f"{better}>{worse}"


# ------------------------------------------------------------------------------------------------- records
@dataclass
class StudyPart:
    """One preset of the study: its base recipe, the experiments of each of its phases, its test sets, and (filled
    while planning) the (experiment id, seed) → run key map."""

    preset: str
    base: TrainConfig
    phases: list[list[Experiment]]
    test_sets: list[TestSet]
    heldout_command: str
    cells: dict[tuple[str, int], str] = field(default_factory=dict)

    @property
    def experiments(self) -> list[Experiment]:
        return [e for exps in self.phases for e in exps]


@dataclass(frozen=True)
class KindStats:
    """One noise kind over seeds (percentage points; ``snippets``: the kind's snippets in one seed's test set)."""

    kind: str
    snippets: int
    erase_rate: Stats
    precision: Stats
    base_rate: Stats
    auc: Stats  # ROC-AUC x 100

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "snippets": self.snippets, "erase_rate": self.erase_rate.to_dict(),
                "precision": self.precision.to_dict(), "base_rate": self.base_rate.to_dict(),
                "auc": self.auc.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KindStats:
        return cls(kind=str(data["kind"]), snippets=int(data["snippets"]),
                   erase_rate=Stats.from_dict(data["erase_rate"]), precision=Stats.from_dict(data["precision"]),
                   base_rate=Stats.from_dict(data["base_rate"]), auc=Stats.from_dict(data["auc"]))


@dataclass(frozen=True)
class Cell:
    """One table cell (an experiment, or a test-time variant of one) over the seeds it has: held-out UAR/WAR per
    seed and pooled with intervals, the fold's 28-clip scores, and for NRM runs the noise detection."""

    table: str
    name: str
    prompts: str
    options: Knobs
    train_frames: int | None
    eval_frames: int | None
    keys: list[str | None]  # per seed of the study; None where the run is not recorded yet
    evaluation: str  # the evaluation the cell reads: "heldout" or "heldout@nrm_norm=..."
    uar: Stats  # held-out, points
    war: Stats
    interval: CellInterval | None
    fold_uar: Stats  # the fold's own test split (the first study's 28 clips)
    fold_war: Stats
    detection: DetectionStats | None
    auc: Stats | None  # noise ROC-AUC x 100
    kinds: dict[str, KindStats]
    local_uar: Stats = field(default_factory=lambda: Stats(None, None, 0, []))  # held-out, NRM-fused local head

    @property
    def id(self) -> str:
        return f"{self.table}/{self.name}"

    @property
    def seeds_done(self) -> int:
        return sum(k is not None for k in self.keys)

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "name": self.name, "prompts": self.prompts, "options": self.options.to_dict(),
                "train_frames": self.train_frames, "eval_frames": self.eval_frames, "keys": list(self.keys),
                "evaluation": self.evaluation, "uar": self.uar.to_dict(), "war": self.war.to_dict(),
                "interval": None if self.interval is None else self.interval.to_dict(),
                "fold_uar": self.fold_uar.to_dict(), "fold_war": self.fold_war.to_dict(),
                "detection": None if self.detection is None else self.detection.to_dict(),
                "auc": None if self.auc is None else self.auc.to_dict(),
                "kinds": {k: v.to_dict() for k, v in self.kinds.items()}, "local_uar": self.local_uar.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cell:
        interval, det, auc = data.get("interval"), data.get("detection"), data.get("auc")
        return cls(table=str(data["table"]), name=str(data["name"]), prompts=str(data["prompts"]),
                   options=Knobs.from_dict(data["options"]), train_frames=data.get("train_frames"),
                   eval_frames=data.get("eval_frames"), keys=list(data["keys"]), evaluation=str(data["evaluation"]),
                   uar=Stats.from_dict(data["uar"]), war=Stats.from_dict(data["war"]),
                   interval=None if interval is None else CellInterval.from_dict(interval),
                   fold_uar=Stats.from_dict(data["fold_uar"]), fold_war=Stats.from_dict(data["fold_war"]),
                   detection=None if det is None else DetectionStats.from_dict(det),
                   auc=None if auc is None else Stats.from_dict(auc),
                   kinds={k: KindStats.from_dict(v) for k, v in data.get("kinds", {}).items()},
                   local_uar=Stats.from_dict(data["local_uar"]) if "local_uar" in data else Stats(None, None, 0, []))


@dataclass(frozen=True)
class Claim:
    id: str
    table: str
    text: str
    better: str
    worse: str
    seeds: list[int]  # the seeds both cells have
    pooled: PairTest | None
    per_seed: list[PairTest]
    verdict: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "table": self.table, "text": self.text, "better": self.better, "worse": self.worse,
                "seeds": list(self.seeds), "pooled": None if self.pooled is None else self.pooled.to_dict(),
                "per_seed": [t.to_dict() for t in self.per_seed], "verdict": self.verdict, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Claim:
        pooled = data.get("pooled")
        return cls(id=str(data["id"]), table=str(data["table"]), text=str(data["text"]), better=str(data["better"]),
                   worse=str(data["worse"]), seeds=[int(s) for s in data["seeds"]],
                   pooled=None if pooled is None else PairTest.from_dict(pooled),
                   per_seed=[PairTest.from_dict(t) for t in data["per_seed"]], verdict=str(data["verdict"]),
                   detail=str(data["detail"]))


@dataclass(frozen=True)
class Growth:
    """An effect (UAR of ``better`` − ``worse``, seeds pooled, points) on both presets and their difference."""

    text: str
    better: str
    worse: str
    aligned: Span | None
    wild: Span | None
    difference: Span | None  # wild − aligned
    verdict: str  # grows / shrinks / not resolved / missing

    def to_dict(self) -> dict[str, Any]:
        def d(s: Span | None) -> dict[str, float] | None:
            return None if s is None else s.to_dict()

        return {"text": self.text, "better": self.better, "worse": self.worse, "aligned": d(self.aligned),
                "wild": d(self.wild), "difference": d(self.difference), "verdict": self.verdict}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Growth:
        def s(v: Any) -> Span | None:
            return None if v is None else Span.from_dict(v)

        return cls(text=str(data["text"]), better=str(data["better"]), worse=str(data["worse"]),
                   aligned=s(data.get("aligned")), wild=s(data.get("wild")), difference=s(data.get("difference")),
                   verdict=str(data["verdict"]))


@dataclass(frozen=True)
class PartSetting:
    """What the report states about one preset's part of the study."""

    preset: str
    base_config: str
    data_root: str | None
    fold: int | None
    dataset: DatasetFacts | None
    heldout_root: str
    heldout_list: str
    heldout_command: str
    heldout: DatasetFacts | None
    heldout_clips: int  # clips the runs were evaluated on (a subset in quick mode)
    model: str
    pretrained: str | None
    epochs: int
    selection: str
    selection_note: str | None
    distinct_runs: int
    recorded_runs: int
    table_cells: int
    compute_s: float
    heldout_eval_s: float | None = None  # median wall time of one run's evaluation on the held-out set

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["dataset"] = None if self.dataset is None else self.dataset.to_dict()
        data["heldout"] = None if self.heldout is None else self.heldout.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartSetting:
        data = dict(data)
        for k in ("dataset", "heldout"):
            data[k] = None if data.get(k) is None else DatasetFacts.from_dict(data[k])
        return cls(**data)


@dataclass(frozen=True)
class PartSummary:
    setting: PartSetting
    cells: dict[str, Cell]  # the grid's cells, then the test-time NRM variants ("nrm-test/<norm>")
    claims: dict[str, Claim]
    missing: list[str]  # "table5/b seed 2"
    runs: dict[str, RunRecord]

    def cells_of(self, table: str) -> list[Cell]:
        return [c for c in self.cells.values() if c.table == table]

    def aliases(self, cell_id: str) -> list[str]:
        """The other grid cells filled by the same runs."""
        keys = self.cells[cell_id].keys
        if not any(keys):
            return []
        return [k for k, c in self.cells.items() if c.keys == keys and k != cell_id and c.table != "nrm-test"]

    def to_dict(self) -> dict[str, Any]:
        return {"setting": self.setting.to_dict(), "cells": {k: c.to_dict() for k, c in self.cells.items()},
                "claims": {k: c.to_dict() for k, c in self.claims.items()}, "missing": list(self.missing),
                "runs": {k: r.to_dict() for k, r in self.runs.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartSummary:
        return cls(setting=PartSetting.from_dict(data["setting"]),
                   cells={k: Cell.from_dict(c) for k, c in data["cells"].items()},
                   claims={k: Claim.from_dict(c) for k, c in data["claims"].items()},
                   missing=[str(m) for m in data["missing"]],
                   runs={k: RunRecord.from_dict(r) for k, r in data["runs"].items()})


@dataclass(frozen=True)
class StudySummary:
    """The whole study: ``ablation.json``."""

    mode: str
    seeds: list[int]
    overrides: list[str]
    date: str
    machine: str
    wall_s: float
    parts: dict[str, PartSummary]
    growth: list[Growth]

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "seeds": list(self.seeds), "overrides": list(self.overrides), "date": self.date,
                "machine": self.machine, "wall_s": self.wall_s,
                "parts": {k: p.to_dict() for k, p in self.parts.items()}, "growth": [g.to_dict() for g in self.growth]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudySummary:
        return cls(mode=str(data["mode"]), seeds=[int(s) for s in data["seeds"]],
                   overrides=[str(o) for o in data.get("overrides", [])], date=str(data["date"]),
                   machine=str(data["machine"]), wall_s=float(data["wall_s"]),
                   parts={k: PartSummary.from_dict(p) for k, p in data["parts"].items()},
                   growth=[Growth.from_dict(g) for g in data.get("growth", [])])


# ------------------------------------------------------------------------------------------------- building
class PredictionStore:
    """Reads (and caches) the stored predictions of a preset's runs."""

    def __init__(self, records_dir: Path) -> None:
        self.records_dir = records_dir
        self._cache: dict[str, ClipPredictions] = {}

    def get(self, record: RunRecord, evaluation: str) -> ClipPredictions | None:
        ev = record.evaluations.get(evaluation)
        if ev is None:
            return None
        path = self.records_dir / ev.predictions
        if str(path) not in self._cache:
            if not path.is_file():
                return None
            self._cache[str(path)] = read_predictions(path, int(record.model_options.get("num_snippets", 4)))
        return self._cache[str(path)]


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


def _seed_preds(cell: Cell, records: dict[str, RunRecord], store: PredictionStore,
                seeds: Sequence[int]) -> dict[int, ClipPredictions]:
    out = {}
    for s, k in zip(seeds, cell.keys, strict=True):
        if k is None:
            continue
        p = store.get(records[k], cell.evaluation)
        if p is not None:
            out[s] = p
    return out


def paired_claim(table: str, better: Cell, worse: Cell, text: str, records: dict[str, RunRecord],
                 store: PredictionStore, seeds: Sequence[int]) -> Claim:
    pb, pw = _seed_preds(better, records, store, seeds), _seed_preds(worse, records, store, seeds)
    common = [s for s in seeds if s in pb and s in pw]
    cid = claim_id(better.id, worse.id)
    if not common:
        return Claim(cid, table, text, better.id, worse.id, [], None, [], MISSING, "no seed has both cells yet")
    for s in common:
        if pb[s].clips != pw[s].clips:
            raise ValueError(f"{cid}: seed {s} evaluated the two cells on different clips")
    labels = pb[common[0]].labels
    per_seed = [pair_test_seed(labels, pw[s].preds(HEAD), pb[s].preds(HEAD), s) for s in common]
    pooled = pair_test_pooled(labels, [pw[s].preds(HEAD) for s in common], [pb[s].preds(HEAD) for s in common])
    d = pooled.uar_diff
    verdict = REPRODUCES if d.low > 0 else CONTRADICTS if d.high < 0 else UNRESOLVED
    if pooled.only_a == pooled.only_b == 0:  # not one discordant clip: the change never reaches a decision
        verdict = IDENTICAL
    positive = sum(t.uar_diff.estimate > 0 for t in per_seed)
    detail = (f"ΔUAR {d.estimate:+.2f} [{d.low:+.2f}, {d.high:+.2f}] over {len(common)} seed"
              f"{'s' if len(common) > 1 else ''}; {positive} of {len(common)} seeds positive; McNemar "
              f"{pooled.only_b} vs {pooled.only_a} discordant, p = {_p(pooled.mcnemar_p)}")
    if len(common) < len(seeds):
        detail += f" (seeds {', '.join(map(str, common))} only)"
    return Claim(cid, table, text, better.id, worse.id, common, pooled, per_seed, verdict, detail)


def _p(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-4 else "< 1e-4"


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
    from .grid import build_grid

    grid = {e.id: e for e in build_grid()}
    parts = {}
    for preset, part in summary.parts.items():
        records_dir = records_root / preset
        records = {k: RunRecord.from_dict(json.loads(f.read_text()))
                   for f in sorted((records_dir / "results").glob("*.json")) for k in [f.stem]}
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


def growth(parts: dict[str, PartSummary], records_dirs: dict[str, Path], seeds: Sequence[int]) -> list[Growth]:
    if "aligned" not in parts or "wild" not in parts:
        return []
    out = []
    for better, worse, text in GROWTH:
        spans: dict[str, Span | None] = {}
        draws: dict[str, np.ndarray] = {}
        for i, preset in enumerate(("aligned", "wild")):
            part = parts[preset]
            claim = part.claims.get(claim_id(better, worse))
            if claim is None or claim.pooled is None:
                spans[preset] = None
                continue
            spans[preset] = claim.pooled.uar_diff
            store = PredictionStore(records_dirs[preset])
            pb = _seed_preds(part.cells[better], part.runs, store, seeds)
            pw = _seed_preds(part.cells[worse], part.runs, store, seeds)
            labels = pb[claim.seeds[0]].labels
            draws[preset] = pooled_diff_draws(labels, [pw[s].preds(HEAD) for s in claim.seeds],
                                              [pb[s].preds(HEAD) for s in claim.seeds], seed=i)
        a, w = spans["aligned"], spans["wild"]
        if a is None or w is None:
            out.append(Growth(text, better, worse, a, w, None, MISSING))
            continue
        diff = difference_of_differences(draws["aligned"], draws["wild"], (w.estimate - a.estimate) / 100)
        verdict = GROWS if diff.low > 0 else SHRINKS if diff.high < 0 else UNRESOLVED
        out.append(Growth(text, better, worse, a, w, diff, verdict))
    return out


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
