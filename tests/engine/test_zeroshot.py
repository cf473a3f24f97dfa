"""Zero-shot evaluation with the Table 6 prompt sets, and the shipped-weights switch."""

from __future__ import annotations

import csv
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
    lines = (synth_root / "set_1_test.txt").read_text().splitlines()
    small = tmp_path / "test7.txt"  # one clip per class, 4 frames: four prompt sets stay quick
    small.write_text("".join(f"{next(line for line in lines if line.endswith(f' {k}'))}\n" for k in range(7)))
    code = cli_main(["evaluate", "--zero-shot", "dkclip-tiny", "--clip-weights", str(weights),
                     "--list", str(small), "--set", f"data.root={synth_root}", "--set", "data.num_frames=4",
                     "--set", "data.workers=0", "--out", str(tmp_path / "zs")])
    assert code == 0
    result = json.loads((tmp_path / "zs" / "zero_shot.json").read_text())
    assert list(result["prompt_sets"]) == ["dfew_classnames", "dfew_paper", "dfew", "dfew_and"]
    n = 7
    for entry in result["prompt_sets"].values():
        assert entry["num_samples"] == n and 0.0 <= entry["uar"] <= 1.0
    assert result["prompt_sets"]["dfew_classnames"]["prompts"][0] == "happiness"
    assert capsys.readouterr().out.count("zero-shot, prompts") == 4
    # The same reports as evaluate, per prompt set: predictions.csv, the per-class table, the confusion matrix.
    names = list(result["prompt_sets"]["dfew"]["per_class_recall"])
    for name, entry in result["prompt_sets"].items():
        folder = tmp_path / "zs" / name
        with (folder / "predictions.csv").open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == n
        assert list(rows[0])[:4] == ["path", "label", "label_name", "global_pred"]
        assert not any(key.startswith(("local_", "fused_")) for key in rows[0])  # a CLIP has one head
        confusion = [[0] * len(names) for _ in names]
        for row in rows:
            confusion[int(row["label"])][names.index(row["global_pred"])] += 1
            assert sum(float(row[f"global_p_{c}"]) for c in names) == pytest.approx(1.0, abs=1e-6)
        assert confusion == entry["confusion"]
        with (folder / "per_class.csv").open(newline="") as fh:
            table = list(csv.DictReader(fh))
        assert [r["class"] for r in table] == [*names, "UAR", "WAR"]
        assert float(table[-1]["global_recall"]) == pytest.approx(entry["war"], abs=1e-6)
        assert (folder / "confusion.csv").is_file() and (folder / "confusion.png").is_file()
