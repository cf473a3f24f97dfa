"""Running the study: :func:`run_ablation` (all that ``dkclip ablate`` calls: the parts planned by
:mod:`dkclip.ablation.plan`, then :func:`run_study`), shared runs by key, resumable, and the files it writes.

**Shared runs.** Cells whose resolved configs are equal share a run (:mod:`dkclip.ablation.keys`): the full model
(table4/+CCR = table5/d = theta/0.15 = snippets/4) trains once per seed, 14 trainings per seed for 17 table
cells. With N=4 the NRM's a* is at least 1/(1+3e) ≈ 0.109 (Eq. 9 min-max scales to [0, 1] before the softmax),
so θ=0 and θ=0.1 erase nothing and train the same model; they stay two runs (their configs differ), which
doubles as a determinism check.

**Files.** Under ``--out-dir`` (not committed): ``<preset>/runs/<key>/``, the trainer's run directory, whose
``best/`` keeps the selected model's weights (``last.pt`` is deleted once the run is recorded). Under
``--records-dir`` (by default the same folder; the committed study uses ``docs/ablation``):
``<preset>/results/<key>.json`` (written atomically), the run's record, and ``<preset>/predictions/<key>.<test
set>.csv.gz``, its per-clip predictions on every test set (:mod:`dkclip.ablation.predictions`); at the top
``ablation.json``, ``ablation_runs.csv`` and ``report.md``.

**Resumable.** A rerun skips recorded runs whose evaluations are complete, evaluates recorded runs that lack one
(a new held-out set, say) from their kept weights, resumes a run that has a ``last.pt`` exactly (the trainer's
own resume), and restarts one that died before its first checkpoint. A resumed run's recorded wall time covers
only the part after the resume.

The train function (``dkclip.engine.trainer.train``) and the evaluation
(:func:`dkclip.ablation.evaluation.evaluate_run`) are parameters, so the orchestration is testable without
training.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from ..engine.run_config import TrainConfig
from ..engine.rundir import with_absolute_paths
from ..errors import ConfigError
from ..fileio import atomic_write_json, atomic_write_text
from .au_study import study_au_evidence
from .evaluation import EvalRequest, evaluate_run, predictions_path, request_name, set_digest
from .grid import FULL_MODEL_CELLS, AblationSetting, Experiment, experiment_config
from .heldout import TestSet
from .keys import input_fingerprint, run_key
from .plan import AblateOptions, StudyPart, plan_parts
from .records import HeadScore, RunRecord, SetEvaluation, load_record
from .report import render_report, runs_csv, write_report_block
from .study import summarize_study
from .summary import StudySummary

logger = logging.getLogger(__name__)

# Test-time NRM normalisations measured on the full model's runs (trained with Eq. 9's min-max).
TEST_TIME_NORMS: tuple[str, ...] = ("zscore", "none")


class TrainFn(Protocol):
    """``dkclip.engine.trainer.train``'s signature: train (or resume) a run, return its directory."""

    def __call__(self, cfg: TrainConfig, config_name: str = ..., resume: str | Path | None = ...) -> Path: ...


# Evaluates a finished run (its kept weights) on the requests; writes the predictions under the records folder.
EvaluateFn = Callable[[TrainConfig, Path, Sequence[EvalRequest], Path], dict[str, SetEvaluation]]


def default_train(cfg: TrainConfig, config_name: str = "custom", resume: str | Path | None = None) -> Path:
    """The engine's trainer, looked up at call time (so a patched ``dkclip.engine.trainer.train`` is used)."""
    from ..engine import trainer

    return trainer.train(cfg, config_name=config_name, resume=resume)


def default_evaluate(cfg: TrainConfig, run_dir: Path, requests: Sequence[EvalRequest],
                     records_dir: Path) -> dict[str, SetEvaluation]:
    return evaluate_run(cfg, run_dir, requests, records_dir)


@dataclass
class PlannedRun:
    key: str
    seed: int
    cfg: TrainConfig
    experiments: list[str] = field(default_factory=list)
    preset: str = "aligned"

    @property
    def uses_nrm(self) -> bool:
        """The NRM is on and can erase (N > 1): its noise detection is measured."""
        opts = self.cfg.model.options
        return bool(opts.get("use_nrm", True)) and int(opts.get("num_snippets", 4)) > 1

    @property
    def is_full_model(self) -> bool:
        return any(e in FULL_MODEL_CELLS for e in self.experiments)

    @property
    def label(self) -> str:
        rest = self.experiments[1:]
        return self.experiments[0] + (f" (= {', '.join(rest)})" if rest else "")

    def requests(self, test_sets: Sequence[TestSet]) -> list[EvalRequest]:
        """Every test set as trained; on the held-out set, the full model also with the other normalisations."""
        out = [EvalRequest(request_name(ts.name, None), ts, None, predictions_path(self.key, ts.name, None))
               for ts in test_sets]
        if self.is_full_model and self.uses_nrm:
            out += [EvalRequest(request_name(ts.name, norm), ts, norm, predictions_path(self.key, ts.name, norm))
                    for ts in test_sets if ts.name == "heldout" for norm in TEST_TIME_NORMS]
        return out


def plan_runs(base: TrainConfig, experiments: list[Experiment], seeds: Sequence[int],
              fingerprint: dict[str, str | None],
              preset: str = "aligned") -> tuple[list[PlannedRun], dict[tuple[str, int], str]]:
    """Unique (config, seed) runs in order (seeds outer), and the (experiment id, seed) → run key map."""
    runs: dict[str, PlannedRun] = {}
    cells: dict[tuple[str, int], str] = {}
    for seed in seeds:
        for exp in experiments:
            cfg = experiment_config(base, exp, seed)
            key = run_key(cfg, fingerprint)  # keys of the current config schema; see keys.py
            runs.setdefault(key, PlannedRun(key, seed, cfg, preset=preset)).experiments.append(exp.id)
            cells[(exp.id, seed)] = key
    return list(runs.values()), cells


def result_file(records_dir: Path, key: str) -> Path:
    return records_dir / "results" / f"{key}.json"


def missing_requests(record: RunRecord | None, requests: Sequence[EvalRequest]) -> list[EvalRequest]:
    """The requests a record has no evaluation for, or one of another version of the test set."""
    if record is None:
        return list(requests)
    digests = {r.name: set_digest(r.test_set) for r in requests}
    return [r for r in requests if r.name not in record.evaluations
            or record.evaluations[r.name].digest != digests[r.name]]


def _train(run: PlannedRun, cfg: TrainConfig, run_dir: Path, train_fn: TrainFn) -> dict:
    if not (run_dir / "results.json").is_file():
        if (run_dir / "last.pt").is_file():
            logger.info("resuming %s from its last checkpoint", run_dir)
            train_fn(cfg, config_name="ablate", resume=run_dir)
        else:
            if run_dir.exists():  # died before its first checkpoint: nothing worth keeping
                shutil.rmtree(run_dir)
            train_fn(cfg, config_name="ablate")
    results = run_dir / "results.json"
    if not results.is_file():
        raise RuntimeError(f"{run_dir} stopped before its final test evaluation (run.max_steps set?); "
                           "the ablation needs complete runs")
    test: dict = json.loads(results.read_text())
    return test


def execute_run(run: PlannedRun, out_dir: Path, records_dir: Path, test_sets: Sequence[TestSet],
                train_fn: TrainFn | None = None, evaluate_fn: EvaluateFn | None = None) -> RunRecord:
    """Train (or resume) one run unless it is recorded, evaluate it on what its record lacks, and write
    ``results/<key>.json`` under ``records_dir``. ``out_dir`` holds the run directories (``runs/<key>``)."""
    train_fn = train_fn or default_train
    evaluate_fn = evaluate_fn or default_evaluate
    cfg = copy.deepcopy(run.cfg)
    cfg.run.output_dir = str(out_dir / "runs")
    cfg.run.name = run.key
    # The trainer records the config with its paths made absolute; a resume must request the same ones (the run
    # key was computed before, from the paths as given).
    cfg = with_absolute_paths(cfg)
    run_dir = out_dir / "runs" / run.key
    path = result_file(records_dir, run.key)
    previous = load_record(path) if path.is_file() else None
    requests = run.requests(test_sets)
    todo = missing_requests(previous, requests)
    started = time.perf_counter()
    train_wall: float | None = None
    if previous is None:
        test = _train(run, cfg, run_dir, train_fn)
        train_wall = time.perf_counter() - started
    elif todo and not (run_dir / "best").is_dir() and not (run_dir / "last.pt").is_file():
        raise RuntimeError(f"run {run.key} ({run.label}, seed {run.seed}) needs new evaluations "
                           f"({', '.join(r.name for r in todo)}) but its weights are gone from {run_dir}; delete "
                           f"{path} to retrain it")
    evaluations = dict(previous.evaluations) if previous is not None else {}
    if todo:
        evaluations.update(evaluate_fn(cfg, run_dir, todo, records_dir))
    ordered = {r.name: evaluations[r.name] for r in requests}
    ordered.update({k: v for k, v in evaluations.items() if k not in ordered})
    if previous is not None:
        record = dataclasses.replace(previous, evaluations=ordered, experiments=list(run.experiments),
                                     wall_s=previous.wall_s + time.perf_counter() - started)
    else:
        record = RunRecord(
            key=run.key, seed=run.seed, experiments=list(run.experiments), run_dir=str(run_dir),
            model_options=dict(cfg.model.options), use_consistency=cfg.loss.use_consistency,
            prompts=cfg.model.prompts, train_frames=cfg.data.num_frames, eval_frames=cfg.data.eval_num_frames,
            reported_head=test.get("reported_head") or cfg.eval.head, selection_note=test.get("selection_note"),
            num_test_clips=test.get("num_test_clips"),
            heads={h: HeadScore(uar=v["uar"], war=v["war"]) for h, v in test["heads"].items()},
            noise_detection=None, wall_s=time.perf_counter() - started,
            finished=datetime.now().isoformat(timespec="seconds"), preset=run.preset, evaluations=ordered,
            train_wall_s=train_wall,
        )
    atomic_write_json(path, dataclasses.asdict(record))
    if (run_dir / "best").is_dir() and (run_dir / "last.pt").is_file():
        (run_dir / "last.pt").unlink()  # the optimiser state is not needed once the run is recorded
    return record


def write_outputs(summary: StudySummary, records_dir: Path, report: str | Path | None) -> str:
    """``report.md``, ``ablation_runs.csv`` and ``ablation.json`` under ``records_dir``; the block into
    ``report``."""
    block = render_report(summary)
    atomic_write_text(records_dir / "report.md", block + "\n")
    atomic_write_text(records_dir / "ablation_runs.csv", runs_csv(summary))
    atomic_write_json(records_dir / "ablation.json", dataclasses.asdict(summary))
    if report is not None:
        write_report_block(Path(report), block)
        logger.info("report block written to %s", report)
    return block


def run_study(parts: Sequence[StudyPart], setting: AblationSetting, out_dir: str | Path,
              records_dir: str | Path | None, report: str | Path | None, train_fn: TrainFn | None = None,
              evaluate_fn: EvaluateFn | None = None, report_only: bool = False) -> StudySummary:
    """Run every part (preset) phase by phase, skipping what is recorded, and report. ``report_only``: run
    nothing, summarise what is recorded (missing cells are listed)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("dkclip ablate runs in a single process; start it without torchrun")
    out_dir = Path(out_dir)
    records_root = Path(records_dir) if records_dir is not None else out_dir
    plans: list[tuple[StudyPart, list[PlannedRun]]] = []
    for part in parts:
        if not part.base.data.test_list:
            raise ConfigError("data.test_list is not set: the ablation reports test-split numbers")
        fingerprint = input_fingerprint(part.base)
        for exps in part.phases:
            runs, cells = plan_runs(part.base, exps, setting.seeds, fingerprint, part.preset)
            part.cells.update(cells)
            plans.append((part, runs))
    total = sum(len(runs) for _, runs in plans)
    logger.info("ablation: %d table cells, %d distinct trainings in %d phases", sum(len(p.cells) for p in parts),
                sum(len(set(p.cells.values())) for p in parts), len(plans))
    started = time.perf_counter()
    records: dict[str, dict[str, RunRecord]] = {p.preset: {} for p in parts}
    i = 0
    for part, runs in plans:
        rec_dir, run_root = records_root / part.preset, out_dir / part.preset
        for run in runs:
            i += 1
            done = result_file(rec_dir, run.key)
            record = load_record(done) if done.is_file() else None
            if report_only or (record is not None and not missing_requests(record, run.requests(part.test_sets))):
                if record is not None:
                    records[part.preset][run.key] = record
                    if not report_only:
                        logger.info("run %d/%d: %s %s seed %d: recorded earlier, skipped", i, total, part.preset,
                                    run.label, run.seed)
                continue
            logger.info("run %d/%d: %s %s seed %d", i, total, part.preset, run.label, run.seed)
            rec = execute_run(run, run_root, rec_dir, part.test_sets, train_fn, evaluate_fn)
            records[part.preset][run.key] = rec
            held = rec.evaluations.get("heldout")
            logger.info("run %d/%d: %s %s seed %d: held-out UAR %s, fold UAR %.2f (%.0f s)", i, total, part.preset,
                        run.label, run.seed, "-" if held is None else f"{100 * held.heads['global'].uar:.2f}",
                        100 * rec.reported.uar, rec.wall_s)
    summary = summarize_study(parts, setting, records, records_root, time.perf_counter() - started)
    write_outputs(summary, records_root, report)
    return summary


def run_ablation(options: AblateOptions) -> str:
    """``dkclip ablate``: plan the study from ``options`` and run it (or, with ``au_evidence``, only measure the
    action-unit evidence); returns the Markdown block written into the report."""
    parts = plan_parts(options)
    if options.au_evidence:
        return study_au_evidence(parts, options)
    summary = run_study(list(parts.values()), options.setting(), options.out_dir, options.records_dir,
                        options.report, report_only=options.report_only)
    return render_report(summary)
