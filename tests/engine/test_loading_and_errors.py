"""One loader for everything the project writes, and one error boundary in the command line: an expected
mistake is one line naming the file, line or key, with exit code 2 (usage/config) or 1 (the rest)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import yaml
from engine_helpers import tiny_config, write_config

import dkclip
from dkclip.cli import main as cli_main
from dkclip.clip_loading import build_clip
from dkclip.engine.run_config import config_from_dict
from dkclip.engine.trainer import train
from dkclip.errors import CheckpointError, ConfigError
from dkclip.pretrain.trainer import PretrainConfig, pretrain


@pytest.fixture(scope="module")
def run_dir(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    return train(config_from_dict(tiny_config(synth_root, out, run={"name": "r"}, schedule={"epochs": 1})))


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_load_model_reads_every_kind_the_project_writes(run_dir: Path, tmp_path: Path) -> None:
    from_run = dkclip.load_model(run_dir)
    assert not from_run.training
    for other in (run_dir / "best", run_dir / "last.pt", run_dir / "best" / "model.safetensors"):
        assert _same_weights(from_run, dkclip.load_model(other)), other
    export = dkclip.save_model(from_run, tmp_path / "export")
    assert _same_weights(from_run, dkclip.load_model(export))
    half = dkclip.save_model(from_run, tmp_path / "fp16", dtype=torch.float16)
    assert (half / "model.safetensors").stat().st_size < 0.6 * (export / "model.safetensors").stat().st_size
    assert dkclip.load_model(half).visual.conv1.weight.dtype == torch.float32


def test_each_loader_names_what_it_got(run_dir: Path, tmp_path: Path) -> None:
    pt = pretrain(PretrainConfig(out_dir=str(tmp_path / "pt"), steps=1, clips_per_batch=2, frames_per_clip=4,
                                 warmup_steps=0, log_every=1, save_every=1, eval_every=100, workers=0))
    state = pt.parent / "state.pt"
    with pytest.raises(CheckpointError, match=r"CLIP-pretraining checkpoint .* not a dkclip training checkpoint"):
        dkclip.load_model(state)
    with pytest.raises(CheckpointError, match="CLIP-pretraining folder"):
        dkclip.load_model(pt.parent)
    with pytest.raises(CheckpointError, match=r"is a dkclip training checkpoint .*, not CLIP weights"):
        dkclip.create_model("dkclip-tiny", clip_weights=run_dir / "last.pt")
    # pretrain handed a training checkpoint as its state: refused, naming it
    shutil.copy(run_dir / "last.pt", state)
    with pytest.raises(CheckpointError, match=r"is a dkclip training checkpoint .*, not a dkclip CLIP-pretraining"):
        pretrain(PretrainConfig(out_dir=str(pt.parent), steps=1, clips_per_batch=2, frames_per_clip=4, workers=0))


def test_damaged_model_files_are_one_line_errors(run_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(run_dir / "best", broken)
    (broken / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"model\.safetensors: empty file"):
        dkclip.load_model(broken)
    (broken / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        dkclip.load_model(broken)
    (broken / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"config\.json: not a valid JSON model config"):
        dkclip.load_model(broken)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty\.pt: empty file"):
        dkclip.create_model("dkclip-tiny", clip_weights=tmp_path / "empty.pt")
    with pytest.raises(CheckpointError, match="holds no model"):
        dkclip.load_model(tmp_path)


def _run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli_main(args)
    captured = capsys.readouterr()
    return code, captured.err


def _train_args(synth_root: Path, tmp_path: Path, name: str, **sections: dict) -> list[str]:
    cfg = tiny_config(synth_root, tmp_path / "runs", run={"name": name}, **sections)
    return ["train", str(write_config(tmp_path / f"{name}.yaml", cfg))]


def test_cli_turns_expected_mistakes_into_one_line(synth_root: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # A CLIP file of another architecture under `train`.
    other = dict(dkclip.get_model_config("dkclip-tiny").clip)
    other["vision_cfg"] = dict(other["vision_cfg"], patch_size=8)
    wrong = tmp_path / "wrong_arch.pt"
    torch.save(build_clip(other).state_dict(), wrong)
    code, err = _run_cli(_train_args(synth_root, tmp_path, "a", model={"clip_weights": str(wrong)}), capsys)
    assert code == 1 and "Traceback" not in err
    assert err.startswith("dkclip train: error: CLIP weights") and "wrong_arch.pt" in err and "patch 8" in err

    # A missing list names its key; an empty list, a malformed one and a non-list file name the file.
    code, err = _run_cli(_train_args(synth_root, tmp_path, "b", data={"train_list": str(tmp_path / "no.txt")}),
                         capsys)
    assert code == 2 and "data.train_list: list file not found" in err and "no.txt" in err
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing here\n")
    code, err = _run_cli(_train_args(synth_root, tmp_path, "c", data={"train_list": str(empty)}), capsys)
    assert code == 1 and "empty.txt: the list has no usable clips" in err
    bad = tmp_path / "bad.txt"
    bad.write_text("clip_a 12 0\nclip_b twelve 1\n")
    code, err = _run_cli(_train_args(synth_root, tmp_path, "d", data={"train_list": str(bad)}), capsys)
    assert code == 1 and "bad.txt:2: num_frames 'twelve' is not an integer" in err
    video = next(synth_root.rglob("*.jpg"))
    code, err = _run_cli(["evaluate", "dkclip-tiny", "--zero-shot", "--list", str(video)], capsys)
    assert code == 1 and "not a text list file" in err and video.name in err
    assert all(len(e.strip().splitlines()) <= 2 for e in [err])  # the message (and at most a hint)

    # Config mistakes exit 2; --debug adds the traceback.
    code, err = _run_cli(["train", "synthetic_tiny", "--set", "optim.lrr=1"], capsys)
    assert code == 2 and "unknown config key 'optim.lrr'" in err and "Traceback" not in err
    code, err = _run_cli(["--debug", "train", "synthetic_tiny", "--set", "optim.lrr=1"], capsys)
    assert code == 2 and "Traceback" in err
    code, err = _run_cli(["evaluate", str(tmp_path / "nothing")], capsys)
    assert code == 1 and "model not found" in err


def test_bad_samples_are_only_media_failures(synth_root: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """With on_error=skip a missing clip is skipped (and counted), but an exception of our own code, here a
    broken transform, stops the run instead of silently dropping every sample."""
    from dkclip.data import build_dataset
    from dkclip.data.transforms import EvalTransform

    lst = tmp_path / "list.txt"
    lines = (synth_root / "set_1_test.txt").read_text().splitlines()[:3]
    lst.write_text("\n".join([*lines, "missing_clip 10 0"]) + "\n")
    ds = build_dataset(lst, "test", num_frames=4, image_size=112, root=synth_root, on_error="skip", num_classes=7)
    samples = [ds[i] for i in range(len(ds))]
    assert [s["video"] is None for s in samples] == [False, False, False, True]
    assert len(ds.skipped) == 1 and "missing" in ds.skipped[0].reason

    def broken(self: EvalTransform, video: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        raise ValueError("a bug in a transform")

    monkeypatch.setattr(EvalTransform, "__call__", broken)
    with pytest.raises(ValueError, match="a bug in a transform"):
        ds[0]


def test_one_resume_policy(synth_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _train_args(synth_root, tmp_path, "res", schedule={"epochs": 2})
    assert cli_main([*args, "--set", "run.max_steps=1"]) == 0
    run = tmp_path / "runs" / "res"
    code, err = _run_cli(["train", "--resume", str(run), "--set", "optim.lr=0.5", "--set", "run.seed=3"], capsys)
    assert code == 2 and "optim.lr: saved 0.0001, requested 0.5" in err and "run.seed: saved 7, requested 3" in err
    code, err = _run_cli([*args, "--resume", str(run)], capsys)
    assert code == 2 and "drop CONFIG" in err
    # Run-control settings apply: a new max_steps lets the run go on, the worker count may change.
    assert cli_main(["train", "--resume", str(run), "--set", "run.max_steps=2", "--set", "data.workers=0"]) == 0
    assert yaml.safe_load((run / "config.yaml").read_text())["run"]["max_steps"] == 1  # the saved config stays
    from dkclip.engine.checkpoint import load_training_state

    assert load_training_state(run / "last.pt")["step"] == 2
    with pytest.raises(ConfigError, match="resuming cannot change"):
        from dkclip.engine.run_config import load_config

        cfg = load_config(run / "config.yaml", ["loss.lam=0.5"])
        train(cfg, resume=run)
