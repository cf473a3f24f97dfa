"""Fake train / collect functions for the ablation tests: they write what the trainer and the evaluation would,
without training, and small synthetic test sets for the statistics."""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dkclip.ablation.evaluation import EvalRequest, measure, set_digest
from dkclip.ablation.grid import build_grid, phase_plan, select_experiments
from dkclip.ablation.heldout import TestSet
from dkclip.ablation.plan import StudyPart
from dkclip.ablation.predictions import ClipPredictions, write_predictions
from dkclip.ablation.records import SetEvaluation
from dkclip.engine.run_config import TrainConfig

# The committed study: its records and the document with its rendered block.
DOCS = Path(__file__).resolve().parents[2] / "docs"
STUDY = DOCS / "ablation"
RESULTS_DOC = DOCS / "results-synthetic.md"
KINDS = ("expression", "occlusion", "blur", "dark")


def skill(cfg: TrainConfig) -> float:
    """How good a fake run is: depends on the knobs (so the tables are not flat) and a little on the seed."""
    o = cfg.model.options
    return min(0.95, 0.3 + 0.15 * (o["temporal"] == "hierarchical") + 0.25 * o["use_cmam"]
               + 0.1 * cfg.loss.use_consistency + 0.05 * (o["num_snippets"] == 4) + 0.02 * cfg.run.seed)


class FakeTrainer:
    """Writes ``results.json`` and ``best/`` as the trainer does."""

    def __init__(self, num_test_clips: int = 28) -> None:
        self.calls: list[dict[str, Any]] = []
        self.num_test_clips = num_test_clips

    def __call__(self, cfg: TrainConfig, config_name: str = "custom", resume: str | Path | None = None) -> Path:
        run_dir = Path(cfg.run.output_dir) / str(cfg.run.name)
        before = sorted(p.name for p in run_dir.iterdir()) if run_dir.exists() else None
        self.calls.append({"name": cfg.run.name, "resume": resume, "before": before, "config_name": config_name,
                           "cfg": cfg})
        (run_dir / "best").mkdir(parents=True, exist_ok=True)
        (run_dir / "last.pt").write_bytes(b"state")
        uar = round(skill(cfg) * self.num_test_clips) / self.num_test_clips
        heads = {h: {"uar": uar, "war": uar} for h in ("global", "local", "fused")}
        (run_dir / "results.json").write_text(json.dumps({
            "heads": heads, "reported_head": "global", "num_test_clips": self.num_test_clips,
            "selection_note": "last epoch"}))
        return run_dir


def fake_predictions(labels: Sequence[int], p_correct: float, salt: str, num_snippets: int = 4,
                     erase_noisy: float = 0.7, num_classes: int = 7) -> ClipPredictions:
    """Predictions right with probability ``p_correct`` (deterministic in ``salt``); every other clip noisy, with
    one noisy snippet (kinds in turn) that the NRM erases with probability ``erase_noisy``."""
    labels = np.asarray(labels, dtype=np.int64)
    n = labels.size
    rng = np.random.default_rng(zlib.crc32(salt.encode()))
    right = rng.random(n) < p_correct
    wrong = (labels + 1 + rng.integers(0, num_classes - 1, n)) % num_classes
    pred = np.where(right, labels, wrong)
    probs = np.full((n, num_classes), 0.02)
    probs[np.arange(n), pred] = 1 - 0.02 * (num_classes - 1)
    clip_noisy = np.arange(n) % 2 == 0
    noise = [[""] * num_snippets for _ in range(n)]
    scores = np.full((n, num_snippets), 1.0 / num_snippets)
    kept = np.ones((n, num_snippets), dtype=bool)
    for i in np.flatnonzero(clip_noisy):
        j = int(rng.integers(num_snippets))
        noise[i][j] = KINDS[i // 2 % len(KINDS)]
        scores[i, j] = 0.05 if rng.random() < erase_noisy else 0.3
    if num_snippets > 1:
        clean_erased = rng.random(n) < 0.2  # false alarms: one clean snippet scores low
        for i in np.flatnonzero(clean_erased):
            j = next(k for k in range(num_snippets) if noise[i][k] == "")
            scores[i, j] = min(scores[i, j], 0.1)
        scores = scores / scores.sum(axis=1, keepdims=True)
        kept = scores >= 0.15
        kept[np.arange(n), scores.argmax(axis=1)] = True
    return ClipPredictions(clips=[f"frames/{i:05d}" for i in range(n)], labels=labels, global_probs=probs,
                           local_probs=probs.copy(), clip_noisy=clip_noisy, scores=scores, kept=kept,
                           cos=1 - (1 / num_snippets - scores), noise=noise, num_snippets=num_snippets)


def list_labels(list_file: str) -> list[int]:
    return [int(line.split()[-1]) for line in Path(list_file).read_text().splitlines() if line.strip()]


class FakeEvaluate:
    """Writes fake per-clip predictions whose accuracy follows :func:`skill`, and measures them for real."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def __call__(self, cfg: TrainConfig, run_dir: Path, requests: Sequence[EvalRequest],
                 records_dir: Path) -> dict[str, SetEvaluation]:
        self.calls.append((run_dir.name, [r.name for r in requests]))
        o = cfg.model.options
        out = {}
        for req in requests:
            labels = list_labels(req.test_set.list_file)
            bonus = 0.05 if req.nrm_norm == "none" else 0.0
            preds = fake_predictions(labels, skill(cfg) + bonus, f"{run_dir.name}/{req.name}",
                                     num_snippets=int(o["num_snippets"]))
            write_predictions(records_dir / req.predictions, preds)
            active = bool(o["use_nrm"]) and int(o["num_snippets"]) > 1
            out[req.name] = measure(req, preds, set_digest(req.test_set), active, 0.1)
        return out


def write_list(path: Path, per_class: int, num_classes: int = 7) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"frames/{c * per_class + i:05d} 16 {c}" for c in range(num_classes) for i in range(per_class)]
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def make_part(base: TrainConfig, test_sets: list[TestSet], experiments: list[str] | None = None,
              preset: str = "aligned", quick: bool = False) -> StudyPart:
    chosen = select_experiments(build_grid(), experiments)
    phases = [exps for p, exps in phase_plan([preset], chosen, quick) if p == preset]
    return StudyPart(preset, base, phases, list(test_sets), "dkclip synth --out held")
