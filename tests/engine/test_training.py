"""Training end to end on synthetic data: exact resume, DDP equivalence, failure behaviour, evaluation."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from engine_helpers import tiny_config, write_config

from dkclip.cli import main as cli_main
from dkclip.engine.checkpoint import load_training_state
from dkclip.engine.run_config import ConfigError, config_from_dict
from dkclip.engine.trainer import TrainingDiverged, build_model, train
from dkclip.errors import CheckpointError


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_training_state(run_dir / "last.pt")["model"]


def _assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float = 0.0) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=atol, msg=key)


def test_resume_continues_exactly(synth_root: Path, tmp_path: Path) -> None:
    full = config_from_dict(tiny_config(synth_root, tmp_path, run={"name": "full", "max_steps": 4}))
    train(full)
    # Stop after 1 optimiser step (mid-epoch: 2 steps per epoch), then resume to the same 4 steps, with a
    # data worker this time: per-sample seeding makes the clips independent of the worker layout.
    part = config_from_dict(tiny_config(synth_root, tmp_path, run={"name": "part", "max_steps": 1}))
    train(part)
    state = load_training_state(tmp_path / "part" / "last.pt")
    assert (state["epoch"], state["chunk"], state["step"]) == (0, 2, 1)
    resumed = config_from_dict(tiny_config(synth_root, tmp_path, run={"name": "part", "max_steps": 4},
                                           data={"workers": 1}))
    train(resumed, resume=tmp_path / "part")
    _assert_same_weights(_weights(tmp_path / "full"), _weights(tmp_path / "part"))
    assert load_training_state(tmp_path / "part" / "last.pt")["step"] == 4
    moved = [k for k, v in _weights(tmp_path / "full").items() if k.startswith("cmam.")]
    assert moved, "the comparison must cover trained modules"


@pytest.mark.slow
def test_two_process_ddp_matches_single_process(synth_root: Path, tmp_path: Path) -> None:
    # A large Adam epsilon makes the update proportional to the gradient; with the default, Adam turns the
    # float noise of gradients that are zero in exact arithmetic (e.g. attention key biases) into full steps.
    common = {"run": {"max_steps": 2}, "schedule": {"batch_size": 4, "effective_batch": 8},
              "optim": {"lr": 1e-2, "eps": 1.0}}
    single = tiny_config(synth_root, tmp_path, **common)
    single["run"]["name"] = "single"
    train(config_from_dict(single))  # 1 process: 2 accumulation steps of 4 clips
    ddp = tiny_config(synth_root, tmp_path, **common)
    ddp["run"]["name"] = "ddp"
    path = write_config(tmp_path / "ddp.yaml", ddp)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}",
           "--master_addr=127.0.0.1", "-m", "dkclip.cli", "train", str(path)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # 2 processes x 4 clips, no accumulation: the same clips per optimiser step, gradients averaged by DDP.
    single_w, ddp_w = _weights(tmp_path / "single"), _weights(tmp_path / "ddp")
    _assert_same_weights(single_w, ddp_w, atol=1e-6)
    assert load_training_state(tmp_path / "ddp" / "last.pt")["step"] == 2
    torch.manual_seed(7)  # the run's seed: the initial weights of both runs
    initial = build_model(config_from_dict(single)).state_dict()
    moved = max((single_w[k] - initial[k]).abs().max().item() for k in single_w if k.startswith("cmam."))
    assert moved > 1e-4, "training must have changed the weights for the comparison to mean anything"


def test_nan_loss_stops_and_keeps_the_last_checkpoint(synth_root: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config_from_dict(tiny_config(synth_root, tmp_path, run={"name": "nan"}))
    train(config_from_dict(tiny_config(synth_root, tmp_path, run={"name": "nan", "max_steps": 2})))
    good = (tmp_path / "nan" / "last.pt").read_bytes()
    import dkclip.losses as losses

    original = losses.soft_cross_entropy
    monkeypatch.setattr(losses, "soft_cross_entropy", lambda logits, target: original(logits, target) * float("nan"))
    with pytest.raises(TrainingDiverged, match=r"non-finite loss .* at epoch 1, iteration 0, after optimiser step 2"):
        train(cfg, resume=tmp_path / "nan")
    assert (tmp_path / "nan" / "last.pt").read_bytes() == good


def test_failures_before_training(synth_root: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cfg = config_from_dict(tiny_config(synth_root, blocker / "runs", run={"name": "x"}))
    with pytest.raises(OSError, match="cannot write to the run directory"):
        train(cfg)
    missing = config_from_dict(tiny_config(synth_root, tmp_path, model={"clip_weights": str(tmp_path / "no.pt")},
                                           run={"name": "y"}))
    with pytest.raises(CheckpointError, match=r"CLIP weights file not found: .*no\.pt"):
        train(missing)
    assert not (tmp_path / "y" / "last.pt").exists()
    odd = config_from_dict(tiny_config(synth_root, tmp_path, schedule={"batch_size": 3, "effective_batch": 8},
                                       run={"name": "z"}))
    with pytest.raises(ConfigError, match=r"effective_batch \(8\) must be a multiple"):
        train(odd)


@pytest.mark.slow
def test_training_lowers_the_loss_and_writes_a_complete_run(synth_root: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tiny_config(synth_root, tmp_path, run={"name": "e2e"}, schedule={"epochs": 6},
                      data={"test_list": str(synth_root / "set_1_test.txt")}, eval={"select": "val"},
                      optim={"lr": 3e-4, "new_module_lr_mult": 1.0}, augment={"mix_prob": 0.0})
    cfg["data"]["val_fraction"] = 0.2
    run_dir = train(config_from_dict(cfg))
    out = capsys.readouterr().out
    assert "| happiness | sadness | neutral | anger | surprise | disgust | fear | UAR | WAR |" in out
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(history) == 6
    assert history[-1]["train_global_ce"] < history[0]["train_global_ce"]
    for name in ("config.yaml", "last.pt", "best/model.safetensors", "best/config.json", "best/metrics.json",
                 "results.json", "test_confusion.csv", "test_confusion.png", "metrics.csv", "steps.jsonl"):
        assert (run_dir / name).is_file(), name
    result = json.loads((run_dir / "results.json").read_text())
    assert result["selection"] == "val" and "validation split carved from the training list" in \
        result["selection_note"]
    assert result["num_test_clips"] == sum(1 for _ in (synth_root / "set_1_test.txt").open())
    # evaluate and export from the command line
    assert cli_main(["evaluate", str(run_dir), "--out", str(tmp_path / "ev")]) == 0
    again = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert again["heads"]["global"]["confusion"] == result["heads"]["global"]["confusion"]
    assert cli_main(["export", str(run_dir / "last.pt"), "--out", str(tmp_path / "export")]) == 0
    assert (tmp_path / "export" / "model.safetensors").is_file()


def test_ctrl_c_saves_a_resumable_checkpoint(synth_root: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import dkclip.engine.trainer as trainer_module

    calls = {"n": 0}
    original = trainer_module.Trainer._optimizer_step

    def interrupt_on_third(self: trainer_module.Trainer) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        original(self)

    monkeypatch.setattr(trainer_module.Trainer, "_optimizer_step", interrupt_on_third)
    cfg = config_from_dict(tiny_config(synth_root, tmp_path, run={"name": "ctrlc"}))
    with pytest.raises(KeyboardInterrupt):
        train(cfg)
    state = load_training_state(tmp_path / "ctrlc" / "last.pt")
    assert state["step"] == 2 and (state["epoch"], state["chunk"]) == (1, 0)


def test_test_max_selection_is_labelled(synth_root: Path, tmp_path: Path) -> None:
    cfg = tiny_config(synth_root, tmp_path, run={"name": "tmax"}, eval={"select": "test-max", "metric": "war"},
                      data={"test_list": str(synth_root / "set_1_test.txt")}, schedule={"epochs": 2})
    run_dir = train(config_from_dict(cfg))
    result = json.loads((run_dir / "results.json").read_text())
    assert result["selection"] == "test-max" and "TEST split" in result["selection_note"]
    best = json.loads((run_dir / "best" / "metrics.json").read_text())
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert best["war"] == max(h["test_global_war"] for h in history)


def test_amp_resolution() -> None:
    from dkclip.engine.trainer import resolve_amp

    cpu = torch.device("cpu")
    assert resolve_amp("auto", cpu) == (None, False)
    assert resolve_amp("fp32", cpu) == (None, False)
    assert resolve_amp("bf16", cpu) == (torch.bfloat16, False)
    assert resolve_amp("fp16", torch.device("cuda", 0)) == (torch.float16, True)
