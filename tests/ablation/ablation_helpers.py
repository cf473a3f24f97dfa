"""Fake train / evaluate functions for the ablation tests: they write what the trainer and the noise measurement
would, without training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dkclip.ablation.records import DetectionCounts, NoiseDetection
from dkclip.engine.config import TrainConfig

# The finished full study as committed: its records and the document with its rendered block.
DOCS = Path(__file__).resolve().parents[2] / "docs"
STUDY = DOCS / "ablation"
RESULTS_DOC = DOCS / "results-synthetic.md"


class FakeTrainer:
    """Writes ``results.json`` as the trainer does; UAR depends on the config, so the tables are not flat."""

    def __init__(self, num_test_clips: int = 28) -> None:
        self.calls: list[dict[str, Any]] = []
        self.num_test_clips = num_test_clips

    def __call__(self, cfg: TrainConfig, config_name: str = "custom", resume: str | Path | None = None) -> Path:
        run_dir = Path(cfg.run.output_dir) / str(cfg.run.name)
        before = sorted(p.name for p in run_dir.iterdir()) if run_dir.exists() else None
        self.calls.append({"name": cfg.run.name, "resume": resume, "before": before, "config_name": config_name,
                           "cfg": cfg})
        run_dir.mkdir(parents=True, exist_ok=True)
        o = cfg.model.options
        uar = (10 + 2 * (o["temporal"] == "hierarchical") + o["use_cmam"] + cfg.loss.use_consistency
               + (o["num_snippets"] == 4) + cfg.run.seed) / self.num_test_clips
        heads = {h: {"uar": uar, "war": uar} for h in ("global", "local", "fused")}
        (run_dir / "results.json").write_text(json.dumps({
            "heads": heads, "reported_head": "global", "num_test_clips": self.num_test_clips,
            "selection_note": "last epoch"}))
        return run_dir


class FakeEvaluate:
    """A noise-detection measurement that erases more snippets the higher θ is."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, cfg: TrainConfig, run_dir: Path) -> NoiseDetection | None:
        self.calls.append(run_dir.name)
        theta = float(cfg.model.options["nrm_theta"])
        erase = min(1.0, theta * 2)
        return NoiseDetection(precision=0.75 if erase else None, recall=erase, base_rate=0.25,
                              erase_rate_noisy_clips=erase, false_alarm_noisy_clips=erase / 3,
                              erase_rate_clean_clips=erase / 2,
                              counts=DetectionCounts(2, 2, 8, 2, int(8 * erase), int(2 * erase), int(4 * erase)))
