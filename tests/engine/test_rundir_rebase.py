"""Runs saved before their config's paths were made absolute: ``dkclip evaluate RUN`` from another directory
finds their data where the run was started (provenance ``cwd``, else inferred from a relative output_dir)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dkclip.engine.run_config import TrainConfig
from dkclip.engine.rundir import rebase_relative_paths, started_from


def _old_run(project: Path) -> tuple[TrainConfig, Path]:
    (project / "data" / "clips").mkdir(parents=True)
    (project / "lists").mkdir()
    (project / "lists" / "test.txt").write_text("a 10 0\n")
    run_dir = project / "runs" / "old"
    run_dir.mkdir(parents=True)
    cfg = TrainConfig()
    cfg.data.root, cfg.data.test_list, cfg.data.train_list = "data/clips", "lists/test.txt", "lists/missing.txt"
    cfg.run.output_dir = "runs"
    return cfg, run_dir


def test_relative_paths_are_found_from_where_the_run_started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, run_dir = _old_run(tmp_path / "project")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert started_from(cfg, run_dir) == (tmp_path / "project").resolve()  # runs/old under output_dir "runs"
    moved = rebase_relative_paths(cfg, run_dir)
    assert cfg.data.root == str((tmp_path / "project" / "data" / "clips").resolve())
    assert cfg.data.test_list == str((tmp_path / "project" / "lists" / "test.txt").resolve())
    assert cfg.data.train_list == "lists/missing.txt"  # exists nowhere: left for the usual error naming it
    assert len(moved) == 2 and moved[0].startswith("data.root: data/clips -> ")


def test_provenance_cwd_wins_and_existing_paths_stay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, run_dir = _old_run(tmp_path / "project")
    (tmp_path / "other" / "lists").mkdir(parents=True)
    (tmp_path / "other" / "lists" / "test.txt").write_text("b 10 1\n")
    (run_dir / "provenance.json").write_text(json.dumps({"cwd": str(tmp_path / "other")}))
    monkeypatch.chdir(tmp_path)
    rebase_relative_paths(cfg, run_dir)
    assert cfg.data.test_list == str((tmp_path / "other" / "lists" / "test.txt").resolve())
    assert cfg.data.root == "data/clips"  # not under the recorded cwd
    # Run from the project itself: nothing to do.
    cfg2 = TrainConfig()
    cfg2.data.root = "data/clips"
    monkeypatch.chdir(tmp_path / "project")
    assert rebase_relative_paths(cfg2, run_dir) == [] and cfg2.data.root == "data/clips"


def test_no_inference_without_a_matching_output_dir(tmp_path: Path) -> None:
    cfg, run_dir = _old_run(tmp_path / "project")
    cfg.run.output_dir = "experiments"
    assert started_from(cfg, run_dir) is None and rebase_relative_paths(cfg, run_dir) == []
