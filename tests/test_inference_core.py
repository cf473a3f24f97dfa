"""One inference core: the same clip through ``dkclip evaluate``, the ablation evaluator and the video predictor
gives the same probabilities for every head, and a zero-shot CLIP is built (and normalised) the same way by
``dkclip evaluate --zero-shot`` and ``dkclip predict --zero-shot``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import dkclip
from dkclip.ablation.evaluation import collect
from dkclip.cli import main
from dkclip.constants import CLIP_MEAN, IMAGENET_MEAN
from dkclip.engine.builders import split_dataset
from dkclip.engine.run_config import config_from_dict
from dkclip.model.heads import HEADS, head_probabilities
from dkclip.predict import Predictor
from dkclip.predict.models import ModelChoice
from dkclip.pretrained import get_pretrained_cfg, verified_path
from dkclip.synth import SynthConfig, generate_dataset
from dkclip.zero_shot import create_zero_shot_model

FPS = 8  # 16 frames at 8 fps: exactly one 2 s window of the predictor, exactly T test frames of evaluate


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seven 16-frame synthetic face clips (frame folders), 128 px: the predictor's whole-frame crop size for a
    112 px model, so that both paths feed the model the very same pixels."""
    root = tmp_path_factory.mktemp("clips")
    generate_dataset(root, num_classes=7, clips_per_class=1, seed=5, frames=(16, 16), folds=1,
                     config=SynthConfig(size=128), overwrite=True)
    return root


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random dkclip-tiny with NRM, CMAM and a θ that erases snippets, so that the local head differs from the
    global one and the erasures matter."""
    torch.manual_seed(3)
    model = dkclip.create_model("dkclip-tiny", nrm_theta=0.26)
    out = tmp_path_factory.mktemp("export") / "model"
    dkclip.save_model(model, out)
    return out


def _first_clip(root: Path) -> tuple[str, int]:
    line = (root / "set_1_test.txt").read_text().splitlines()[0]
    path, _, label = line.split()
    return path, int(label)


def _evaluate_cli(export: Path, root: Path, list_file: Path, out: Path) -> dict[str, np.ndarray]:
    code = main(["evaluate", str(export), "--list", str(list_file), "--set", f"data.root={root}",
                 "--set", "data.workers=0", "--out", str(out)])
    assert code == 0
    with (out / "predictions.csv").open(newline="") as fh:
        row = next(csv.DictReader(fh))
    names = dkclip.load_model(export).config.class_labels
    return {h: np.array([float(row[f"{h}_p_{c}"]) for c in names]) for h in HEADS}


def test_every_path_gives_the_same_head_probabilities(clips: Path, export: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    clip, label = _first_clip(clips)
    one = tmp_path / "one.txt"
    one.write_text(f"{clip} 16 {label}\n")
    model = dkclip.load_model(export).eval()
    assert model.config.test_num_frames == 16

    evaluated = _evaluate_cli(export, clips, one, tmp_path / "eval")

    cfg = config_from_dict({"model": {"name": "dkclip-tiny"},
                            "data": {"root": str(clips), "test_list": str(one), "workers": 0}})
    dataset = split_dataset(cfg, str(one), "test", model.config, "--list")
    ablation = collect(model, dataset, cfg)

    predicted = {}
    for head in HEADS:
        result = Predictor(model, detector="none", fps=FPS, head=head, aus=False).predict(clips / clip)
        assert len(result.windows) == 1  # one 2 s window: all 16 frames
        predicted[head] = result.windows[list(model.config.class_labels)].to_numpy()[0]

    video = dataset[0]["video"][None]
    with torch.no_grad():
        direct = {h: p[0].numpy() for h, p in head_probabilities(model(video)).items()}
    for head in HEADS:
        np.testing.assert_allclose(evaluated[head], direct[head], atol=2e-6, err_msg=f"evaluate, {head}")
        np.testing.assert_allclose(ablation.probs(head)[0], direct[head], atol=2e-6, err_msg=f"ablation, {head}")
        # predictor tables hold 6 significant digits
        np.testing.assert_allclose(predicted[head], direct[head], atol=5e-6, err_msg=f"predict, {head}")
        assert direct[head].sum() == pytest.approx(1.0, abs=1e-5)
    # The heads are really different here (erasures happen), so the comparison above has teeth.
    assert not np.allclose(direct["global"], direct["local"], atol=1e-3)
    np.testing.assert_allclose(direct["fused"], (direct["global"] + direct["local"]) / 2, atol=1e-7)


def test_multi_view_heads_are_view_means(export: Path) -> None:
    model = dkclip.load_model(export).eval()
    torch.manual_seed(0)
    video = torch.randn(2, 8, 3, 112, 112)
    with torch.no_grad():
        both = head_probabilities(model(video), views=2)
        single = [head_probabilities(model(video[i:i + 1])) for i in range(2)]
    for head in HEADS:
        expected = (single[0][head] + single[1][head]) / 2
        torch.testing.assert_close(both[head], expected, atol=1e-6, rtol=0)


def test_zero_shot_is_built_once(clips: Path, tmp_path: Path) -> None:
    """The shipped synthclip file passed by path is normalised with the statistics it was trained with (ImageNet's)
    by both commands; an unknown CLIP file gets CLIP's."""
    shipped = verified_path(get_pretrained_cfg("dkclip-tiny", "synthclip"))
    by_predict = ModelChoice(zero_shot=True, clip_weights=str(shipped)).build()
    by_tag = create_zero_shot_model(None, "dfew", "dkclip-tiny", pretrained="synthclip")
    assert tuple(by_predict.config.image_mean) == tuple(by_tag.config.image_mean) == IMAGENET_MEAN
    torch.manual_seed(0)
    other = tmp_path / "clip.safetensors"
    from safetensors.torch import save_file

    from dkclip.clip_loading import build_clip

    save_file(build_clip(dkclip.get_model_config("dkclip-tiny").clip).state_dict(), str(other))
    assert tuple(ModelChoice(zero_shot=True, clip_weights=str(other)).build().config.image_mean) == CLIP_MEAN

    # The same frames scored by `dkclip evaluate --zero-shot` and `dkclip predict --zero-shot`.
    clip, label = _first_clip(clips)
    one = tmp_path / "one.txt"
    one.write_text(f"{clip} 16 {label}\n")
    assert main(["evaluate", "--zero-shot", "dkclip-tiny", "--clip-weights", str(shipped), "--prompt-sets", "dfew",
                 "--list", str(one), "--set", f"data.root={clips}", "--set", "data.workers=0",
                 "--set", "data.num_frames=16", "--out", str(tmp_path / "zs")]) == 0
    with (tmp_path / "zs" / "dfew" / "predictions.csv").open(newline="") as fh:
        row = next(csv.DictReader(fh))
    names = by_predict.config.class_labels
    evaluated = np.array([float(row[f"global_p_{c}"]) for c in names])
    assert main(["predict", str(clips / clip), "--zero-shot", "--clip-weights", str(shipped), "--detector", "none",
                 "--fps", str(FPS), "--no-aus", "--no-plot", "--quiet", "--out", str(tmp_path / "pred")]) == 0
    windows = json.loads((tmp_path / "pred" / "windows.json").read_text())
    predicted = np.array([windows["windows"][0]["probabilities"][c] for c in names])
    np.testing.assert_allclose(predicted, evaluated, atol=2e-6)
