"""Orchestration with an injected train and evaluate function: shared runs train once, reruns skip finished
records, interrupted runs resume or restart, and the outputs are written."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from ablation_helpers import FakeEvaluate, FakeTrainer

from dkclip.ablation.grid import AblationSetting, build_grid, experiment_config, select_experiments
from dkclip.ablation.keys import input_fingerprint
from dkclip.ablation.records import RunRecord, Summary
from dkclip.ablation.report import BEGIN_MARKER, END_MARKER
from dkclip.ablation.runner import PlannedRun, execute_run, plan_runs, run_ablation
from dkclip.cli import main as cli_main
from dkclip.engine.config import TrainConfig

CELLS = 4 + 4 + 5 + 4  # Table 4, Table 5, θ, N
DISTINCT = 14  # the full model is shared by 4 cells
NRM_RUNS = 10  # distinct runs with the NRM on and N > 1


def test_plan_shares_the_full_model_and_puts_seeds_outside(base: TrainConfig) -> None:
    runs, cells = plan_runs(base, build_grid(), [0, 1], input_fingerprint(base))
    assert len(cells) == 2 * CELLS and len(runs) == 2 * DISTINCT
    assert [r.seed for r in runs] == [0] * DISTINCT + [1] * DISTINCT
    full = {cells[(e, 0)] for e in ("table4/+CCR", "table5/d", "theta/0.15", "snippets/4")}
    assert len(full) == 1
    shared = next(r for r in runs if r.key in full)
    assert shared.experiments == ["table4/+CCR", "table5/d", "theta/0.15", "snippets/4"]
    assert shared.label == "table4/+CCR (= table5/d, theta/0.15, snippets/4)"
    assert cells[("table4/+CCR", 0)] != cells[("table4/+CCR", 1)]
    assert sum(r.uses_nrm for r in runs) == 2 * NRM_RUNS


def test_shared_runs_train_once_and_a_rerun_skips_finished_records(
        base: TrainConfig, setting: AblationSetting, tmp_path: Path, fake_train: FakeTrainer,
        fake_evaluate: FakeEvaluate, capsys: pytest.CaptureFixture[str]) -> None:
    out, report = tmp_path / "out", tmp_path / "results.md"
    report.write_text("# Results\n\nkept.\n")
    summary = run_ablation(base, setting, out, report, train_fn=fake_train, evaluate_fn=fake_evaluate)
    assert len(fake_train.calls) == DISTINCT and len(set(c["name"] for c in fake_train.calls)) == DISTINCT
    assert all(c["resume"] is None and c["config_name"] == "ablate" for c in fake_train.calls)
    assert len(fake_evaluate.calls) == NRM_RUNS  # measured for NRM runs with N > 1 only
    assert len(summary.rows) == CELLS and summary.setting.distinct_runs == DISTINCT
    assert summary.setting.table_cells == CELLS and summary.setting.pretrained == "synthclip"
    assert summary.rows["table4/baseline"].detection is None and summary.rows["snippets/1"].detection is None
    assert summary.rows["theta/0.25"].detection is not None
    # The consistency switch reaches the run config (loss.use_consistency), never the model options.
    by_name = {c["name"]: c["cfg"] for c in fake_train.calls}
    baseline = by_name[summary.rows["table4/baseline"].keys[0]]
    assert baseline.loss.use_consistency is False and "use_consistency" not in baseline.model.options
    assert by_name[summary.rows["table4/+CCR"].keys[0]].loss.use_consistency is True
    # Outputs: the summary round-trips, one CSV row per cell, the block went into the report.
    assert Summary.from_dict(json.loads((out / "ablation.json").read_text())) == summary
    with (out / "ablation_runs.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == CELLS
    text = report.read_text()
    assert text.startswith("# Results\n\nkept.\n") and text.count(BEGIN_MARKER) == 1
    assert (out / "report.md").read_text() in text
    assert BEGIN_MARKER in capsys.readouterr().out

    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "results").iterdir()}
    assert len(stamps) == DISTINCT
    again, evaluate = FakeTrainer(), FakeEvaluate()
    rerun = run_ablation(base, setting, out, report, train_fn=again, evaluate_fn=evaluate)
    assert again.calls == [] and evaluate.calls == []
    assert {p.name: p.stat().st_mtime_ns for p in (out / "results").iterdir()} == stamps
    assert rerun.rows == summary.rows and rerun.runs == summary.runs
    assert report.read_text().count(END_MARKER) == 1


def test_a_second_seed_trains_only_the_new_runs(base: TrainConfig, setting: AblationSetting, tmp_path: Path,
                                               fake_train: FakeTrainer, fake_evaluate: FakeEvaluate) -> None:
    run_ablation(base, setting, tmp_path, None, ["table4"], train_fn=fake_train, evaluate_fn=fake_evaluate)
    assert len(fake_train.calls) == 4
    setting.seeds = [0, 1]
    more = FakeTrainer()
    summary = run_ablation(base, setting, tmp_path, None, ["table4"], train_fn=more, evaluate_fn=fake_evaluate)
    assert len(more.calls) == 4 and {c["cfg"].run.seed for c in more.calls} == {1}
    assert summary.rows["table4/+HVE"].uar.n == 2 and summary.rows["table4/+HVE"].uar.std is not None


def test_interrupted_runs_resume_or_restart(base: TrainConfig, tmp_path: Path) -> None:
    exp = select_experiments(build_grid(), ["table4/baseline"])[0]
    cfg = experiment_config(base, exp, seed=0)
    train, evaluate = FakeTrainer(), FakeEvaluate()
    # Died before its first checkpoint: the leftovers are removed and the run starts afresh.
    stale = tmp_path / "runs" / "k1"
    stale.mkdir(parents=True)
    (stale / "steps.jsonl").write_text("{}\n")
    record = execute_run(PlannedRun("k1", 0, cfg, [exp.id]), tmp_path, train, evaluate)
    assert (train.calls[-1]["resume"], train.calls[-1]["before"]) == (None, None)
    assert record.noise_detection is None and evaluate.calls == []  # no NRM in the baseline
    assert record.use_consistency is False and record.model_options["temporal"] == "avgpool"
    assert RunRecord.from_dict(json.loads((tmp_path / "results" / "k1.json").read_text())) == record
    # Interrupted after a checkpoint: the trainer resumes it.
    partial = tmp_path / "runs" / "k2"
    partial.mkdir(parents=True)
    (partial / "last.pt").write_bytes(b"")
    execute_run(PlannedRun("k2", 0, cfg, [exp.id]), tmp_path, train, evaluate)
    assert (train.calls[-1]["resume"], train.calls[-1]["before"]) == (partial, ["last.pt"])
    # Trained but not yet recorded: no training, only the record.
    n = len(train.calls)
    execute_run(PlannedRun("k2", 0, cfg, [exp.id]), tmp_path, train, evaluate)
    assert len(train.calls) == n


def test_a_run_without_final_results_is_an_error(base: TrainConfig, tmp_path: Path) -> None:
    exp = build_grid()[0]
    cfg = experiment_config(base, exp, seed=0)

    def stops_early(cfg: TrainConfig, config_name: str = "custom", resume: str | Path | None = None) -> Path:
        run_dir = Path(cfg.run.output_dir) / str(cfg.run.name)
        run_dir.mkdir(parents=True)
        return run_dir

    with pytest.raises(RuntimeError, match="stopped before its final test evaluation"):
        execute_run(PlannedRun("k", 0, cfg, [exp.id]), tmp_path, stops_early)


def test_bad_input_is_a_clear_error_before_any_training(data_root: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    common = ["ablate", "--quick", "--data", str(data_root), "--out-dir", str(tmp_path / "o"), "--report", "-"]
    assert cli_main([*common, "--experiments", "table9/x"]) == 2
    assert cli_main([*common, "--set", "schedule.nope=1"]) == 2
    assert cli_main([*common, "--set", "data.eval_num_frames=6"]) == 2  # not a multiple of N = 4, 8
    assert cli_main([*common, "--set", "model.options.use_consistency=false"]) == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'table9/x'" in err and "table4/baseline" in err
    assert "unknown config key 'schedule.nope'" in err
    assert "must be a multiple of N" in err
    assert "set loss.use_consistency instead" in err
    assert not (tmp_path / "o" / "runs").exists()  # nothing trained
