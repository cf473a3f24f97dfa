"""The study's summary, ``ablation.json``: per preset the setting, the cells, the claims and the runs they read;
the presets compared. Plain records, written with ``dataclasses.asdict`` and read with
:func:`dkclip.ablation.typed.from_dict`; :mod:`dkclip.ablation.study` computes them and
:mod:`dkclip.ablation.report` renders them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .paired import CellInterval, PairTest, Span
from .records import DatasetFacts, DetectionStats, Knobs, RunRecord, Stats
from .typed import from_dict

# The verdicts of a claim (see dkclip.ablation.study) and of an effect compared between the presets.
REPRODUCES = "reproduces"
CONTRADICTS = "contradicts"
UNRESOLVED = "not resolved"
IDENTICAL = "identical"  # no clip of any seed is right in one cell and wrong in the other: UAR and WAR equal
MISSING = "missing"
VERDICTS: frozenset[str] = frozenset({REPRODUCES, CONTRADICTS, UNRESOLVED, IDENTICAL, MISSING})
GROWS, SHRINKS = "grows", "shrinks"


@dataclass(frozen=True)
class KindStats:
    """One noise kind over seeds (percentage points; ``snippets``: the kind's snippets in one seed's test set)."""

    kind: str
    snippets: int
    erase_rate: Stats
    precision: Stats
    base_rate: Stats
    auc: Stats  # ROC-AUC x 100


@dataclass(frozen=True)
class Cell:
    """One table cell (an experiment, or a test-time variant of one) over the seeds it has: held-out UAR/WAR per
    seed and pooled with intervals, the fold's 28-clip scores, and for NRM runs the noise detection."""

    table: str
    name: str
    prompts: str
    options: Knobs
    train_frames: int | None
    eval_frames: int | None
    keys: list[str | None]  # per seed of the study; None where the run is not recorded yet
    evaluation: str  # the evaluation the cell reads: "heldout" or "heldout@nrm_norm=..."
    uar: Stats  # held-out, points
    war: Stats
    interval: CellInterval | None
    fold_uar: Stats  # the fold's own test split (the first study's 28 clips)
    fold_war: Stats
    detection: DetectionStats | None
    auc: Stats | None  # noise ROC-AUC x 100
    kinds: dict[str, KindStats]
    local_uar: Stats = field(default_factory=lambda: Stats(None, None, 0, []))  # held-out, NRM-fused local head

    @property
    def id(self) -> str:
        return f"{self.table}/{self.name}"

    @property
    def seeds_done(self) -> int:
        return sum(k is not None for k in self.keys)

    @staticmethod
    def upgrade_json(data: dict[str, Any]) -> dict[str, Any]:
        return {"kinds": {}, **data}  # older summaries may lack it


@dataclass(frozen=True)
class Claim:
    id: str
    table: str
    text: str
    better: str
    worse: str
    seeds: list[int]  # the seeds both cells have
    pooled: PairTest | None
    per_seed: list[PairTest]
    verdict: str
    detail: str


@dataclass(frozen=True)
class Growth:
    """An effect (UAR of ``better`` − ``worse``, seeds pooled, points) on both presets and their difference."""

    text: str
    better: str
    worse: str
    aligned: Span | None
    wild: Span | None
    difference: Span | None  # wild − aligned
    verdict: str  # grows / shrinks / not resolved / missing


@dataclass(frozen=True)
class PartSetting:
    """What the report states about one preset's part of the study."""

    preset: str
    base_config: str
    data_root: str | None
    fold: int | None
    dataset: DatasetFacts | None
    heldout_root: str
    heldout_list: str
    heldout_command: str
    heldout: DatasetFacts | None
    heldout_clips: int  # clips the runs were evaluated on (a subset in quick mode)
    model: str
    pretrained: str | None
    epochs: int
    selection: str
    selection_note: str | None
    distinct_runs: int
    recorded_runs: int
    table_cells: int
    compute_s: float
    heldout_eval_s: float | None = None  # median wall time of one run's evaluation on the held-out set


@dataclass(frozen=True)
class PartSummary:
    setting: PartSetting
    cells: dict[str, Cell]  # the grid's cells, then the test-time NRM variants ("nrm-test/<norm>")
    claims: dict[str, Claim]
    missing: list[str]  # "table5/b seed 2"
    runs: dict[str, RunRecord]

    def cells_of(self, table: str) -> list[Cell]:
        return [c for c in self.cells.values() if c.table == table]

    def aliases(self, cell_id: str) -> list[str]:
        """The other grid cells filled by the same runs."""
        keys = self.cells[cell_id].keys
        if not any(keys):
            return []
        return [k for k, c in self.cells.items() if c.keys == keys and k != cell_id and c.table != "nrm-test"]


@dataclass(frozen=True)
class StudySummary:
    """The whole study: ``ablation.json``."""

    mode: str
    seeds: list[int]
    overrides: list[str]
    date: str
    machine: str
    wall_s: float
    parts: dict[str, PartSummary]
    growth: list[Growth]

    @staticmethod
    def upgrade_json(data: dict[str, Any]) -> dict[str, Any]:
        return {"overrides": [], "growth": [], **data}  # older summaries may lack them


def load_summary(path: str | Path) -> StudySummary:
    """A study's ``ablation.json``."""
    return from_dict(StudySummary, json.loads(Path(path).read_text()))
