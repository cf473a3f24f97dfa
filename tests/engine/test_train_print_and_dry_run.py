"""`dkclip train --print-config` and `--dry-run`, run as a user would: the resolved config with every key's
meaning, and a dry run that builds model and data, times the steps, reports memory and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from engine_helpers import tiny_config, write_config

from dkclip.cli import main
from dkclip.engine.run_config import load_config


def test_print_config_shows_the_resolved_config_with_descriptions(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["train", "dfew_vitb16", "--print-config", "--set", "augment.crop_scales=1,0.875",
               "--set", "data.root=data/DFEW", "--set", f"run.output_dir={tmp_path / 'runs'}"])
    text = capsys.readouterr().out
    assert rc == 0 and not (tmp_path / "runs").exists()
    assert text.startswith("# dkclip train dfew_vitb16: the resolved config")
    printed = yaml.safe_load(text)
    assert printed["augment"]["crop_scales"] == [1.0, 0.875]
    assert printed["data"]["root"] == str(Path("data/DFEW").resolve())
    assert printed["optim"]["lr"] == load_config("dfew_vitb16").optim.lr
    body = [ln for ln in text.splitlines() if ln.startswith("  ")]
    assert len(body) == sum(len(v) for v in printed.values()) and all("  # " in ln for ln in body)
    assert "# mixed precision: auto (bf16, else fp16 on GPU" in text


def test_dry_run_reports_time_and_memory_and_leaves_nothing(synth_root: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    cfg = tiny_config(synth_root, runs, data={"test_list": str(synth_root / "set_1_test.txt")},
                      eval={"select": "val"})
    path = write_config(tmp_path / "tiny.yaml", cfg)
    rc = main(["train", str(path), "--dry-run", "--set", "run.grad_checkpointing=true"])
    text = capsys.readouterr().out
    assert rc == 0 and not runs.exists()
    assert text.startswith("dry run: dkclip-tiny on cpu (amp fp32, world size 1, gradient checkpointing on)")
    assert "training iteration (4 clip(s) per process, forward + backward + optimiser step):" in text
    assert "evaluation batch (" in text and "peak memory: process RSS" in text
    assert "one optimiser step = 2 iteration(s)" in text and "2 epochs ≈" in text
    assert "validation" in text and "test" in text
