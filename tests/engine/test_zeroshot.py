"""Zero-shot evaluation with the Table 6 prompt sets, and the shipped-weights switch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import dkclip
from dkclip.cli import main as cli_main
from dkclip.clip_loading import build_clip


def test_zero_shot_reports_every_table6_prompt_set(synth_root: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    weights = tmp_path / "clip.pt"
    torch.save(build_clip(dkclip.get_model_config("dkclip-tiny").clip).state_dict(), weights)
    code = cli_main(["evaluate", "--zero-shot", "dkclip-tiny", "--clip-weights", str(weights),
                     "--list", str(synth_root / "set_1_test.txt"), "--set", f"data.root={synth_root}",
                     "--set", "data.workers=0", "--out", str(tmp_path / "zs")])
    assert code == 0
    result = json.loads((tmp_path / "zs" / "zero_shot.json").read_text())
    assert list(result["prompt_sets"]) == ["dfew_classnames", "dfew_paper", "dfew", "dfew_and"]
    n = sum(1 for _ in (synth_root / "set_1_test.txt").open())
    for entry in result["prompt_sets"].values():
        assert entry["num_samples"] == n and 0.0 <= entry["uar"] <= 1.0
    assert result["prompt_sets"]["dfew_classnames"]["prompts"][0] == "happiness"
    assert capsys.readouterr().out.count("zero-shot, prompts") == 4
