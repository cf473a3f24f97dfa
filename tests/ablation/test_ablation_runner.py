"""Orchestration with an injected train and evaluate function: shared runs train once, every run is evaluated on
every test set with its predictions stored, reruns skip what is recorded, a new test set is evaluated without
retraining, interrupted runs resume or restart, and the outputs are written."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest
from ablation_helpers import FakeEvaluate, FakeTrainer, make_part, write_list

from dkclip.ablation import load_summary
from dkclip.ablation.grid import AblationSetting, build_grid, experiment_config, select_experiments
from dkclip.ablation.heldout import TestSet
from dkclip.ablation.keys import input_fingerprint
from dkclip.ablation.plan import AblateOptions, plan_parts
from dkclip.ablation.predictions import read_predictions
from dkclip.ablation.records import load_record
from dkclip.ablation.report import BEGIN_MARKER, END_MARKER
from dkclip.ablation.runner import PlannedRun, execute_run, plan_runs, run_study
from dkclip.ablation.summary import StudySummary
from dkclip.ablation.typed import from_dict
from dkclip.cli import main as cli_main
from dkclip.engine.run_config import TrainConfig

CELLS = 4 + 4 + 5 + 4 + 2  # Table 4, Table 5, θ, N, NRM normalisations
DISTINCT = 16  # the full model is shared by 4 cells
NRM_RUNS = 12  # distinct runs with the NRM on and N > 1


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


def test_requests_add_test_time_normalisations_to_the_full_model_only(base: TrainConfig,
                                                                      test_sets: list[TestSet]) -> None:
    runs, _ = plan_runs(base, build_grid(), [0], input_fingerprint(base))
    by_exp = {r.experiments[0]: r for r in runs}
    full = [r.name for r in by_exp["table4/+CCR"].requests(test_sets)]
    assert full == ["heldout", "fold", "heldout@nrm_norm=zscore", "heldout@nrm_norm=none"]
    assert [r.name for r in by_exp["theta/0.2"].requests(test_sets)] == ["heldout", "fold"]
    assert by_exp["table4/+CCR"].requests(test_sets)[3].predictions.endswith(".heldout.nrm-none.csv.gz")


def test_shared_runs_train_once_and_a_rerun_skips_recorded_runs(
        base: TrainConfig, setting: AblationSetting, test_sets: list[TestSet], tmp_path: Path,
        fake_train: FakeTrainer, fake_evaluate: FakeEvaluate) -> None:
    out, records, report = tmp_path / "runs", tmp_path / "records", tmp_path / "results.md"
    report.write_text("# Results\n\nkept.\n")
    summary = run_study([make_part(base, test_sets)], setting, out, records, report, fake_train, fake_evaluate)
    assert len(fake_train.calls) == DISTINCT and len({c["name"] for c in fake_train.calls}) == DISTINCT
    assert all(c["resume"] is None and c["config_name"] == "ablate" for c in fake_train.calls)
    assert len(fake_evaluate.calls) == DISTINCT  # one call per run, all its requests at once
    part = summary.parts["aligned"]
    assert len([c for c in part.cells.values() if c.table != "nrm-test"]) == CELLS
    assert part.setting.distinct_runs == DISTINCT == part.setting.recorded_runs and part.missing == []
    assert part.cells["table4/baseline"].detection is None and part.cells["snippets/1"].detection is None
    assert part.cells["theta/0.25"].detection is not None and part.cells["nrm-test/none"].detection is not None
    assert part.cells["table4/+CCR"].interval is not None and part.cells["table4/+CCR"].uar.n == 1
    # The consistency switch reaches the run config (loss.use_consistency), never the model options.
    by_name = {c["name"]: c["cfg"] for c in fake_train.calls}
    baseline = by_name[part.cells["table4/baseline"].keys[0]]
    assert baseline.loss.use_consistency is False and "use_consistency" not in baseline.model.options
    # Files: records and predictions under the records folder, weights under the runs folder, last.pt gone.
    key = part.cells["table4/+CCR"].keys[0]
    assert key is not None
    record = load_record(records / "aligned" / "results" / f"{key}.json")
    assert list(record.evaluations) == ["heldout", "fold", "heldout@nrm_norm=zscore", "heldout@nrm_norm=none"]
    held = read_predictions(records / "aligned" / record.evaluations["heldout"].predictions, 4)
    assert held.num_clips == 140 and record.evaluations["heldout"].num_clips == 140
    assert (out / "aligned" / "runs" / key / "best").is_dir()
    assert not (out / "aligned" / "runs" / key / "last.pt").exists()
    # The summary round-trips, one CSV row per (cell, seed), the block went into the report.
    assert load_summary(records / "ablation.json") == summary
    assert from_dict(StudySummary, json.loads(json.dumps(dataclasses.asdict(summary)))) == summary
    with (records / "ablation_runs.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == CELLS + 3  # and the three test-time cells
    text = report.read_text()
    assert text.startswith("# Results\n\nkept.\n") and text.count(BEGIN_MARKER) == 1
    assert (records / "report.md").read_text() in text

    stamps = {p.name: p.stat().st_mtime_ns for p in (records / "aligned" / "results").iterdir()}
    assert len(stamps) == DISTINCT
    again, evaluate = FakeTrainer(), FakeEvaluate()
    rerun = run_study([make_part(base, test_sets)], setting, out, records, report, again, evaluate)
    assert again.calls == [] and evaluate.calls == []
    assert {p.name: p.stat().st_mtime_ns for p in (records / "aligned" / "results").iterdir()} == stamps
    assert rerun.parts["aligned"].cells == part.cells and rerun.parts["aligned"].claims == part.claims
    assert report.read_text().count(END_MARKER) == 1


def test_a_new_test_set_is_evaluated_from_the_kept_weights_without_training(
        base: TrainConfig, setting: AblationSetting, test_sets: list[TestSet], tmp_path: Path,
        fake_train: FakeTrainer, fake_evaluate: FakeEvaluate) -> None:
    part = make_part(base, test_sets, ["table4"])
    run_study([part], setting, tmp_path / "runs", tmp_path / "rec", None, fake_train, fake_evaluate)
    assert len(fake_train.calls) == 4
    write_list(Path(test_sets[0].list_file), 10)  # the held-out list changes: a new version of the test set
    train, evaluate = FakeTrainer(), FakeEvaluate()
    summary = run_study([make_part(base, test_sets, ["table4"])], setting, tmp_path / "runs", tmp_path / "rec", None,
                        train, evaluate)
    assert train.calls == []
    assert sorted(names for _, names in evaluate.calls) == [["heldout"]] * 3 + [
        ["heldout", "heldout@nrm_norm=zscore", "heldout@nrm_norm=none"]]
    assert summary.parts["aligned"].cells["table4/+HVE"].interval is not None
    record = next(iter(summary.parts["aligned"].runs.values()))
    assert record.evaluations["heldout"].num_clips == 70 and record.evaluations["fold"].num_clips == 28
    # Without the weights a new evaluation is impossible, and the error says how to retrain.
    for run_dir in (tmp_path / "runs" / "aligned" / "runs").iterdir():
        (run_dir / "best").rmdir()
    write_list(Path(test_sets[0].list_file), 11)
    with pytest.raises(RuntimeError, match=r"weights are gone.*delete .* to retrain it"):
        run_study([make_part(base, test_sets, ["table4"])], setting, tmp_path / "runs", tmp_path / "rec", None,
                  FakeTrainer(), FakeEvaluate())


def test_a_second_seed_trains_only_the_new_runs_and_report_only_lists_missing_cells(
        base: TrainConfig, setting: AblationSetting, test_sets: list[TestSet], tmp_path: Path,
        fake_train: FakeTrainer, fake_evaluate: FakeEvaluate) -> None:
    args = (tmp_path / "runs", tmp_path / "rec", None)
    run_study([make_part(base, test_sets, ["table4"])], setting, *args, fake_train, fake_evaluate)
    setting.seeds = [0, 1]
    partial = run_study([make_part(base, test_sets, ["table4"])], setting, *args, report_only=True)
    part = partial.parts["aligned"]
    assert part.missing == [f"table4/{s} seed 1" for s in ("baseline", "+HVE", "+ETP", "+CCR")]
    assert part.cells["table4/+HVE"].keys[1] is None and part.cells["table4/+HVE"].uar.n == 1
    assert part.setting.recorded_runs == 4 and part.setting.distinct_runs == 8
    more = FakeTrainer()
    summary = run_study([make_part(base, test_sets, ["table4"])], setting, *args, more, FakeEvaluate())
    assert len(more.calls) == 4 and {c["cfg"].run.seed for c in more.calls} == {1}
    cell = summary.parts["aligned"].cells["table4/+HVE"]
    assert cell.uar.n == 2 and cell.uar.std is not None and cell.interval is not None
    assert cell.interval.seeds == [0, 1] and summary.parts["aligned"].missing == []


def test_interrupted_runs_resume_or_restart(base: TrainConfig, test_sets: list[TestSet], tmp_path: Path) -> None:
    exp = select_experiments(build_grid(), ["table4/baseline"])[0]
    cfg = experiment_config(base, exp, seed=0)
    train, evaluate = FakeTrainer(), FakeEvaluate()
    records = tmp_path / "rec"
    # Died before its first checkpoint: the leftovers are removed and the run starts afresh.
    stale = tmp_path / "runs" / "k1"
    stale.mkdir(parents=True)
    (stale / "steps.jsonl").write_text("{}\n")
    record = execute_run(PlannedRun("k1", 0, cfg, [exp.id]), tmp_path, records, test_sets, train, evaluate)
    assert (train.calls[-1]["resume"], train.calls[-1]["before"]) == (None, None)
    assert record.evaluations["heldout"].detection is None  # no NRM in the baseline
    assert record.use_consistency is False and record.model_options["temporal"] == "avgpool"
    assert load_record(records / "results" / "k1.json") == record
    # Interrupted after a checkpoint: the trainer resumes it.
    partial = tmp_path / "runs" / "k2"
    partial.mkdir(parents=True)
    (partial / "last.pt").write_bytes(b"")
    execute_run(PlannedRun("k2", 0, cfg, [exp.id]), tmp_path, records, test_sets, train, evaluate)
    assert (train.calls[-1]["resume"], train.calls[-1]["before"]) == (partial, ["last.pt"])
    # Trained but not yet recorded: no training, only the evaluation and the record.
    (records / "results" / "k2.json").unlink()
    n, m = len(train.calls), len(evaluate.calls)
    execute_run(PlannedRun("k2", 0, cfg, [exp.id]), tmp_path, records, test_sets, train, evaluate)
    assert len(train.calls) == n and len(evaluate.calls) == m + 1


def test_a_run_without_final_results_is_an_error(base: TrainConfig, test_sets: list[TestSet],
                                                 tmp_path: Path) -> None:
    exp = build_grid()[0]
    cfg = experiment_config(base, exp, seed=0)

    def stops_early(cfg: TrainConfig, config_name: str = "custom", resume: str | Path | None = None) -> Path:
        run_dir = Path(cfg.run.output_dir) / str(cfg.run.name)
        run_dir.mkdir(parents=True)
        return run_dir

    with pytest.raises(RuntimeError, match="stopped before its final test evaluation"):
        execute_run(PlannedRun("k", 0, cfg, [exp.id]), tmp_path, tmp_path, test_sets, stops_early)


def test_bad_input_is_a_clear_error_before_any_training(data_root: Path, heldout_root: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    common = ["ablate", "--quick", "--data", str(data_root), "--heldout", str(heldout_root), "--out-dir",
              str(tmp_path / "o"), "--report", "-"]
    assert cli_main([*common, "--experiments", "table9/x"]) == 2
    assert cli_main([*common, "--set", "schedule.nope=1"]) == 2
    assert cli_main([*common, "--set", "data.eval_num_frames=6"]) == 2  # not a multiple of N = 4, 8
    assert cli_main([*common, "--set", "model.options.use_consistency=false"]) == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'table9/x'" in err and "table4/baseline" in err
    assert "unknown config key 'schedule.nope'" in err
    assert "must be a multiple of" in err and "6" in err
    assert "set loss.use_consistency instead" in err
    assert not (tmp_path / "o" / "aligned" / "runs").exists()  # nothing trained


def test_the_command_prints_the_block_it_writes(data_root: Path, heldout_root: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """``dkclip ablate`` is argument parsing and one call (run_ablation): the block it returns is printed."""
    report = tmp_path / "results.md"
    args = ["ablate", "--quick", "--report-only", "--data", str(data_root), "--heldout", str(heldout_root),
            "--out-dir", str(tmp_path / "o"), "--report", str(report)]
    assert cli_main(args) == 0
    block = (tmp_path / "o" / "report.md").read_text().rstrip("\n")
    assert block.startswith(BEGIN_MARKER) and block in capsys.readouterr().out and block in report.read_text()
    assert not (tmp_path / "o" / "aligned" / "runs").exists()  # --report-only trains nothing


def test_plan_parts_follows_the_options(data_root: Path, heldout_root: Path, tmp_path: Path) -> None:
    options = AblateOptions(quick=True, data=str(data_root), heldout=str(heldout_root), out_dir=str(tmp_path),
                            experiments=["table4", "theta/0.2"])
    parts = plan_parts(options)
    assert list(parts) == ["aligned"] and options.seed_list == [0] and options.records_root == tmp_path
    part = parts["aligned"]
    assert [[e.id for e in phase] for phase in part.phases] == [
        ["table4/baseline", "table4/+HVE", "table4/+ETP", "table4/+CCR"], ["theta/0.2"]]
    held = part.test_sets[0]
    assert held.name == "heldout" and held.list_file == str(tmp_path / "aligned" / "heldout-20.txt")
    assert part.heldout_command == f"a custom dataset in {heldout_root}"  # the fixture is not the standard set
    assert options.setting().mode == "quick" and AblateOptions().seed_list == [0, 1, 2]
