"""The grid, the run config of one experiment, and run keys."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dkclip.ablation.grid import (
    FULL_MODEL,
    Experiment,
    build_base_config,
    build_grid,
    experiment_config,
    phase_plan,
    select_experiments,
)
from dkclip.ablation.keys import input_fingerprint, key_config, run_key, weights_file
from dkclip.engine.run_config import TrainConfig, apply_overrides
from dkclip.errors import ConfigError
from dkclip.pretrained import file_sha256, get_pretrained_cfg


def _exp(exp_id: str) -> Experiment:
    return select_experiments(build_grid(), [exp_id])[0]


def test_the_grid_and_its_selection() -> None:
    grid = build_grid()
    assert [e.id for e in grid][:4] == ["table4/baseline", "table4/+HVE", "table4/+ETP", "table4/+CCR"]
    assert len(grid) == 19 and sum(e.knobs == FULL_MODEL for e in grid) == 4
    assert [e.id for e in grid][-2:] == ["nrm/zscore", "nrm/none"] and grid[-1].knobs.nrm_norm == "none"
    assert [e.id for e in select_experiments(grid, ["table5/*", "theta/0.15"])] == \
        ["table5/a", "table5/b", "table5/c", "table5/d", "theta/0.15"]
    assert [e.id for e in select_experiments(grid, ["snippets"])] == [f"snippets/{n}" for n in (1, 2, 4, 8)]
    with pytest.raises(ConfigError, match=r"unknown experiment 'table9/x'.*table4/baseline"):
        select_experiments(grid, ["table9/x"])


def test_phases_put_the_important_results_first() -> None:
    grid = build_grid()
    plan = [(preset, [e.id for e in exps]) for preset, exps in phase_plan(["aligned", "wild"], grid, quick=False)]
    assert [p for p, _ in plan] == ["aligned", "aligned", "wild"]
    assert plan[0][1] == [e.id for e in grid if e.table in ("table4", "table5")] == plan[2][1]
    assert plan[1][1][0] == "theta/0" and plan[1][1][-1] == "nrm/none"
    quick = phase_plan(["aligned"], grid, quick=True)
    assert len(quick) == 2 and not any(e.table == "nrm" for _, exps in quick for e in exps)
    assert phase_plan(["wild"], select_experiments(grid, ["theta"]), quick=False) == []


def test_experiment_config_sets_model_options_the_consistency_switch_and_frames(base: TrainConfig) -> None:
    cfg = experiment_config(base, _exp("table4/baseline"), seed=3)
    assert cfg.model.prompts == "dfew_classnames" and cfg.run.seed == 3
    assert cfg.model.options["temporal"] == "avgpool" and cfg.model.options["logit_scale"] is None  # recipe kept
    assert cfg.model.options["nrm_norm"] == "minmax"
    assert experiment_config(base, _exp("nrm/zscore"), 0).model.options["nrm_norm"] == "zscore"
    assert "use_consistency" not in cfg.model.options and cfg.loss.use_consistency is False
    assert experiment_config(base, _exp("table4/+CCR"), 0).loss.use_consistency is True
    frames = {e: experiment_config(base, _exp(e), 0).data for e in ("table5/b", "snippets/8", "snippets/1")}
    assert [(d.num_frames, d.eval_num_frames) for d in frames.values()] == [(16, 16), (8, 16), (4, 16)]
    assert base.model.options.get("temporal") is None  # the base is not modified


def test_experiment_config_refuses_what_cannot_run(base: TrainConfig) -> None:
    apply_overrides(base, ["data.eval_num_frames=6"])
    with pytest.raises(ConfigError, match=r"table4/\+CCR: evaluation frames \(6\) must be a multiple of N = 4"):
        experiment_config(base, _exp("table4/+CCR"), 0)
    apply_overrides(base, ["data.eval_num_frames=16", "model.options.use_consistency=false"])
    with pytest.raises(ConfigError, match=r"set loss\.use_consistency instead"):
        experiment_config(base, _exp("table4/+CCR"), 0)


def test_base_config_paths_and_quick_mode(tmp_path: Path) -> None:
    cfg = build_base_config(tmp_path, 2, quick=True, overrides=["schedule.epochs=3"])
    assert cfg.data.train_list == str(tmp_path / "set_2_train.txt")
    assert cfg.data.test_list == str(tmp_path / "set_2_test.txt")
    assert (cfg.schedule.epochs, cfg.eval.select, cfg.run.progress) == (3, "last", False)
    assert build_base_config(None, 1, quick=False, overrides=[]).eval.select == "val"


def test_run_keys_follow_the_numbers_not_the_logging(base: TrainConfig, data_root: Path) -> None:
    prints = input_fingerprint(base)
    weights = get_pretrained_cfg("dkclip-tiny", "synthclip").path
    assert weights_file(base) == weights and prints["weights"] == file_sha256(weights)[:16]
    assert prints["meta"] == file_sha256(data_root / "meta.json")[:16]
    assert prints["train_list"] is None  # not there (yet)
    key = run_key(base, prints)
    quiet = dataclasses.replace(base, run=dataclasses.replace(base.run, log_every=1, output_dir="x", name="y"))
    assert run_key(quiet, prints) == key
    assert run_key(dataclasses.replace(base, run=dataclasses.replace(base.run, seed=9)), prints) != key
    assert run_key(base, {**prints, "meta": "0" * 16}) != key
    # Only values that differ from the defaults are hashed, so a key the schema gains later with its default
    # changes no key (a long study stays resumable).
    assert "num_crops" not in key_config(base)["eval"] and key_config(base)["eval"]["select"] == "last"
    assert all("output_dir" not in v for v in key_config(base).values())
    crops = dataclasses.replace(base, eval=dataclasses.replace(base.eval, num_crops=3))
    assert key_config(crops)["eval"]["num_crops"] == 3 and run_key(crops, prints) != key
    (data_root / "set_1_train.txt").write_text("frames/a 8 0\n")
    assert input_fingerprint(base)["train_list"] is not None


def test_weights_file_for_the_deprecated_alias_a_path_or_none(base: TrainConfig, tmp_path: Path) -> None:
    shipped = weights_file(base)
    base.model.pretrained, base.model.clip_weights = None, "default"
    assert weights_file(base) == shipped
    base.model.clip_weights = str(tmp_path / "clip.pt")
    assert weights_file(base) == tmp_path / "clip.pt" and input_fingerprint(base)["weights"] is None
    base.model.clip_weights = None
    assert weights_file(base) is None
