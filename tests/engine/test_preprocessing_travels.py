"""The model carries its preprocessing: an export evaluated anywhere, without its run's config, gives the
run's own test probabilities; a user's own decoding plus the model's eval transform gives them too."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from engine_helpers import tiny_config
from PIL import Image

import dkclip
from dkclip.cli import main as cli_main
from dkclip.constants import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN
from dkclip.data.media import list_frame_files
from dkclip.engine.run_config import config_from_dict
from dkclip.engine.trainer import train


def _probs(path: Path, head: str = "global") -> dict[str, np.ndarray]:
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    cols = [c for c in rows[0] if c.startswith(f"{head}_p_")]
    return {r["path"]: np.array([float(r[c]) for c in cols]) for r in rows}


@pytest.fixture(scope="module")
def clip_normalised_run(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    cfg = tiny_config(synth_root, out, run={"name": "clipnorm"},
                      data={"normalize": "clip", "test_list": str(synth_root / "set_1_test.txt")})
    return train(config_from_dict(cfg))


def test_export_evaluated_elsewhere_without_run_config_matches_the_runs_final_test(
        clip_normalised_run: Path, synth_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = clip_normalised_run
    export = tmp_path / "export"
    assert cli_main(["export", str(run_dir), "--out", str(export)]) == 0
    config = json.loads((export / "config.json").read_text())
    assert tuple(config["image_mean"]) == CLIP_MEAN and tuple(config["image_std"]) == CLIP_STD
    assert config["eval_num_frames"] == 8 and config["num_frames"] == 4  # the run's train and test T
    for key in ("grad_checkpointing", "freeze_patch_embed", "use_consistency"):  # training switches stay out
        assert key not in config

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # no run directory, no config.yaml anywhere near
    list_file = synth_root / "set_1_test.txt"
    assert cli_main(["evaluate", str(export), "--list", str(list_file), "--set", f"data.root={synth_root}",
                     "--set", "data.workers=0", "--out", "ev"]) == 0
    ours, runs = _probs(elsewhere / "ev" / "predictions.csv"), _probs(run_dir / "predictions.csv")
    assert set(ours) == set(runs) and len(ours) == sum(1 for _ in list_file.open())
    for path, p in ours.items():
        np.testing.assert_allclose(p, runs[path], atol=1e-6)

    # The check can fail: the same weights normalised with other statistics predict differently.
    config["image_mean"] = list(IMAGENET_MEAN)
    (export / "config.json").write_text(json.dumps(config))
    assert cli_main(["evaluate", str(export), "--list", str(list_file), "--set", f"data.root={synth_root}",
                     "--set", "data.workers=0", "--out", "ev-wrong"]) == 0
    wrong = _probs(elsewhere / "ev-wrong" / "predictions.csv")
    assert max(np.abs(wrong[p] - runs[p]).max() for p in runs) > 1e-3


def test_own_decoding_plus_the_eval_transform_matches_evaluate(clip_normalised_run: Path) -> None:
    model, _, eval_tf = dkclip.create_model_and_transforms(clip_normalised_run / "best")
    assert eval_tf.num_frames == model.config.test_num_frames == 8
    runs = _probs(clip_normalised_run / "predictions.csv")
    for path in sorted(runs)[:3]:
        # A user's own decoder: PIL, frames in natural order, channels last.
        frames = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in list_frame_files(path)])
        with torch.no_grad():
            probs = model(eval_tf(frames)[None]).logits.softmax(-1)[0].numpy()
        np.testing.assert_allclose(probs, runs[path], atol=1e-6)


def test_train_transform_draws_from_the_generator_and_keeps_the_models_shape(clip_normalised_run: Path) -> None:
    model, train_tf, _ = dkclip.create_model_and_transforms(clip_normalised_run / "best")
    frames = np.random.default_rng(0).integers(0, 256, (30, 90, 120, 3), dtype=np.uint8)
    a = train_tf(frames, torch.Generator().manual_seed(1))
    b = train_tf(frames, torch.Generator().manual_seed(1))
    c = train_tf(frames, torch.Generator().manual_seed(2))
    assert a.shape == (model.config.num_frames, 3, 112, 112) and torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match="uint8"):
        train_tf(frames.astype(np.float32))
