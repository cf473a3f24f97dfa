"""Planning and running the study: shared runs by key, resumable, and the files it writes.

**Shared runs.** Cells whose resolved configs are equal share a run (:mod:`dkclip.ablation.keys`): the full model
(table4/+CCR = table5/d = theta/0.15 = snippets/4) trains once per seed, 14 trainings per seed for 17 table
cells. With N=4 the NRM's a* is at least 1/(1+3e) ≈ 0.109 (Eq. 9 min-max scales to [0, 1] before the softmax),
so θ=0 and θ=0.1 erase nothing and train the same model; they stay two runs (their configs differ), which
doubles as a determinism check.

**Resumable.** Under ``--out-dir``: ``runs/<key>/`` is the trainer's run directory, ``results/<key>.json``
(written atomically) the finished record. A rerun skips finished records, resumes a run that has a ``last.pt``
exactly (the trainer's own resume), and restarts one that died before its first checkpoint. Seeds are the outer
loop, so the tables fill in complete seeds first. A resumed run's recorded wall time covers only the part after
the resume.

The train function (``dkclip.engine.trainer.train``) and the model evaluation (the noise-detection measurement)
are parameters, so the orchestration is testable without training.
"""

from __future__ import annotations

import copy
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

from ..engine.config import TrainConfig
from ..errors import ConfigError
from ..fileio import atomic_write_json, atomic_write_text
from .grid import AblationSetting, Experiment, build_grid, experiment_config, select_experiments
from .keys import input_fingerprint, run_key
from .records import HeadScore, NoiseDetection, RunRecord, Summary
from .report import render_report, runs_csv, write_report_block
from .summary import summarize

logger = logging.getLogger(__name__)


class TrainFn(Protocol):
    """``dkclip.engine.trainer.train``'s signature: train (or resume) a run, return its directory."""

    def __call__(self, cfg: TrainConfig, config_name: str = ..., resume: str | Path | None = ...) -> Path: ...


# Scores the NRM of a finished run as a noise detector; None when the data has no noise flags.
EvaluateFn = Callable[[TrainConfig, Path], NoiseDetection | None]


def default_train(cfg: TrainConfig, config_name: str = "custom", resume: str | Path | None = None) -> Path:
    """The engine's trainer, looked up at call time (so a patched ``dkclip.engine.trainer.train`` is used)."""
    from ..engine import trainer

    return trainer.train(cfg, config_name=config_name, resume=resume)


def default_evaluate(cfg: TrainConfig, run_dir: Path) -> NoiseDetection | None:
    from .noise import measure_noise_detection

    return measure_noise_detection(cfg, run_dir)


@dataclass
class PlannedRun:
    key: str
    seed: int
    cfg: TrainConfig
    experiments: list[str] = field(default_factory=list)

    @property
    def uses_nrm(self) -> bool:
        """The NRM is on and can erase (N > 1): its noise detection is measured."""
        opts = self.cfg.model.options
        return bool(opts.get("use_nrm", True)) and int(opts.get("num_snippets", 4)) > 1

    @property
    def label(self) -> str:
        rest = self.experiments[1:]
        return self.experiments[0] + (f" (= {', '.join(rest)})" if rest else "")


def plan_runs(base: TrainConfig, experiments: list[Experiment], seeds: Sequence[int],
              fingerprint: dict[str, str | None]) -> tuple[list[PlannedRun], dict[tuple[str, int], str]]:
    """Unique (config, seed) runs in order (seeds outer), and the (experiment id, seed) → run key map."""
    runs: dict[str, PlannedRun] = {}
    cells: dict[tuple[str, int], str] = {}
    for seed in seeds:
        for exp in experiments:
            cfg = experiment_config(base, exp, seed)
            key = run_key(cfg, fingerprint)  # keys of the current config schema; see keys.py
            runs.setdefault(key, PlannedRun(key, seed, cfg)).experiments.append(exp.id)
            cells[(exp.id, seed)] = key
    return list(runs.values()), cells


def result_file(out_dir: Path, key: str) -> Path:
    return out_dir / "results" / f"{key}.json"


def load_record(path: Path) -> RunRecord:
    return RunRecord.from_dict(json.loads(path.read_text()))


def execute_run(run: PlannedRun, out_dir: Path, train_fn: TrainFn | None = None,
                evaluate_fn: EvaluateFn | None = None) -> RunRecord:
    """Train (or resume) one run, measure the NRM's noise detection, and write ``results/<key>.json``."""
    train_fn = train_fn or default_train
    evaluate_fn = evaluate_fn or default_evaluate
    cfg = copy.deepcopy(run.cfg)
    cfg.run.output_dir = str(out_dir / "runs")
    cfg.run.name = run.key
    run_dir = out_dir / "runs" / run.key
    started = time.perf_counter()
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
    test = json.loads(results.read_text())
    detection = evaluate_fn(cfg, run_dir) if run.uses_nrm else None
    record = RunRecord(
        key=run.key, seed=run.seed, experiments=list(run.experiments), run_dir=str(run_dir),
        model_options=dict(cfg.model.options), use_consistency=cfg.loss.use_consistency, prompts=cfg.model.prompts,
        train_frames=cfg.data.num_frames, eval_frames=cfg.data.eval_num_frames,
        reported_head=test.get("reported_head") or cfg.eval.head, selection_note=test.get("selection_note"),
        num_test_clips=test.get("num_test_clips"),
        heads={h: HeadScore(uar=v["uar"], war=v["war"]) for h, v in test["heads"].items()},
        noise_detection=detection, wall_s=time.perf_counter() - started,
        finished=datetime.now().isoformat(timespec="seconds"),
    )
    atomic_write_json(result_file(out_dir, run.key), record.to_dict())
    return record


def write_outputs(summary: Summary, out_dir: Path, report: str | Path | None) -> str:
    """``report.md``, ``ablation_runs.csv`` and ``ablation.json`` under ``out_dir``; the block into ``report``."""
    block = render_report(summary)
    atomic_write_text(out_dir / "report.md", block + "\n")
    atomic_write_text(out_dir / "ablation_runs.csv", runs_csv(summary))
    atomic_write_json(out_dir / "ablation.json", summary.to_dict())
    if report is not None:
        write_report_block(Path(report), block)
        logger.info("report block written to %s", report)
    return block


def run_ablation(base: TrainConfig, setting: AblationSetting, out_dir: str | Path, report: str | Path | None,
                 experiments: Sequence[str] | None = None, train_fn: TrainFn | None = None,
                 evaluate_fn: EvaluateFn | None = None) -> Summary:
    """Plan, run (skipping finished runs) and report the grid; returns the summary written to ``ablation.json``."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("dkclip ablate runs in a single process; start it without torchrun")
    out_dir = Path(out_dir)
    chosen = select_experiments(build_grid(), experiments)
    if not base.data.test_list:
        raise ConfigError("data.test_list is not set: the ablation reports test-split numbers")
    runs, cells = plan_runs(base, chosen, setting.seeds, input_fingerprint(base))
    logger.info("ablation: %d experiments × %d seeds = %d table cells, %d distinct trainings", len(chosen),
                len(setting.seeds), len(cells), len(runs))
    started = time.perf_counter()
    records: dict[str, RunRecord] = {}
    for i, run in enumerate(runs, 1):
        done = result_file(out_dir, run.key)
        if done.is_file():
            logger.info("run %d/%d: %s seed %d: finished earlier, skipped", i, len(runs), run.label, run.seed)
            records[run.key] = load_record(done)
            continue
        logger.info("run %d/%d: %s seed %d", i, len(runs), run.label, run.seed)
        rec = records[run.key] = execute_run(run, out_dir, train_fn, evaluate_fn)
        logger.info("run %d/%d: %s seed %d: UAR %.2f WAR %.2f (%.0f s)", i, len(runs), run.label, run.seed,
                    100 * rec.reported.uar, 100 * rec.reported.war, rec.wall_s)
    summary = summarize(chosen, setting, cells, records, base, time.perf_counter() - started)
    print(write_outputs(summary, out_dir, report))
    return summary
