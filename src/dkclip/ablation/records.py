"""Typed records of the study. They are written with ``dataclasses.asdict`` and read back with the one generic
loader, :func:`dkclip.ablation.typed.from_dict` (``from_dict(RunRecord, data)``).

- :class:`RunRecord`: one finished training (``<preset>/results/<key>.json``) with the trainer's test UAR/WAR
  on the fold's test split (fractions) and one :class:`SetEvaluation` per test set (held-out, fold, test-time NRM
  variants): head scores, :class:`NoiseDetection`, :class:`KindDetection` per noise kind, the noise ROC-AUC and
  the file of per-clip predictions.
- :class:`Stats` and :class:`DetectionStats`: mean ± std over seeds (percentage points).
- :class:`DatasetFacts`: what a synthetic dataset's ``meta.json`` says.

The study's summary (cells, claims, the setting) is :mod:`dkclip.ablation.summary`.

Format history: records written before the package restructure (the first study, ``docs/ablation/v1``) keep
the consistency switch inside the model options (``model_options.use_consistency``; it is the run-config key
``loss.use_consistency`` now), name the weights only as ``clip_weights`` and have no evaluations (only the
noise detection on the fold's test split). The ``upgrade_json`` hooks below read both formats; ``asdict`` writes
the current one.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .typed import from_dict

# The noise-detection measures, in the order the CSV and the JSON list them.
DETECTION_MEASURES: tuple[str, ...] = ("precision", "recall", "base_rate", "erase_rate_noisy_clips",
                                       "false_alarm_noisy_clips", "erase_rate_clean_clips")


@dataclass(frozen=True)
class Knobs:
    """What the ablation varies: the model's temporal/snippet/CMAM/NRM options and the consistency losses."""

    temporal: str
    num_snippets: int
    use_cmam: bool
    use_nrm: bool
    nrm_theta: float
    use_consistency: bool  # a training switch (loss.use_consistency), not a model option
    nrm_norm: str = "minmax"  # the NRM's per-clip normalisation (Eq. 9: min-max)

    def model_options(self) -> dict[str, Any]:
        """The ``model.options`` these knobs set (everything but the consistency switch)."""
        return {"temporal": self.temporal, "num_snippets": self.num_snippets, "use_cmam": self.use_cmam,
                "use_nrm": self.use_nrm, "nrm_theta": self.nrm_theta, "nrm_norm": self.nrm_norm}


@dataclass(frozen=True)
class HeadScore:
    uar: float  # fractions in [0, 1]
    war: float


@dataclass(frozen=True)
class DetectionCounts:
    noisy_clip_views: int
    clean_clip_views: int
    snippets_in_noisy_clips: int
    noisy_snippets: int
    erased_in_noisy_clips: int
    erased_noisy: int
    erased_in_clean_clips: int


@dataclass(frozen=True)
class NoiseDetection:
    """The NRM as a noise detector on one run's test split (fractions; None where the ratio is undefined)."""

    precision: float | None
    recall: float | None
    base_rate: float | None  # noisy snippets / snippets of noisy clips: the precision of erasing at random
    erase_rate_noisy_clips: float | None
    false_alarm_noisy_clips: float | None
    erase_rate_clean_clips: float | None
    counts: DetectionCounts

    def measure(self, name: str) -> float | None:
        if name not in DETECTION_MEASURES:
            raise KeyError(name)
        value: float | None = getattr(self, name)
        return value


@dataclass(frozen=True)
class KindDetection:
    """One noise kind against the clean snippets (see :func:`dkclip.ablation.noise.kind_detection`)."""

    kind: str
    snippets: int  # noisy snippets of this kind
    erased: int  # of them erased
    erase_rate: float | None  # erased / snippets (the kind's recall)
    precision: float | None  # erased of this kind / (erased of this kind + erased clean snippets)
    base_rate: float | None  # snippets of this kind / (those + clean snippets)
    auc: float | None  # ROC-AUC of 1 - a*, this kind vs clean


@dataclass(frozen=True)
class SetEvaluation:
    """A run's selected model on one test set (optionally with a test-time NRM normalisation): the head scores,
    the NRM as a noise detector, and the file with the per-clip predictions (relative to the records folder)."""

    name: str  # "heldout", "fold", or "heldout@nrm_norm=none" (a test-time variant)
    test_set: str  # "heldout" or "fold"
    variant: str | None  # test-time nrm_norm, None for the model as trained
    list_file: str
    digest: str  # of the list file and the dataset's meta.json: a new test set is evaluated anew
    num_clips: int
    heads: dict[str, HeadScore]
    detection: NoiseDetection | None  # None when the model has no NRM or N = 1, or the data no noise flags
    auc: float | None  # ROC-AUC of 1 - a*, noisy vs clean snippets (None for N = 1 or without flags)
    by_kind: dict[str, KindDetection]
    predictions: str  # e.g. predictions/<key>.heldout.csv.gz
    wall_s: float

    @staticmethod
    def upgrade_json(data: dict[str, Any]) -> dict[str, Any]:
        """Evaluations written before the per-kind detection and the timing have neither."""
        return {"by_kind": {}, "wall_s": 0.0, **data}


@dataclass(frozen=True)
class RunRecord:
    """One finished training and its measurements (``results/<key>.json``)."""

    key: str
    seed: int
    experiments: list[str]  # the table cells this run fills
    run_dir: str
    model_options: dict[str, Any]  # the run's resolved model.options
    use_consistency: bool  # loss.use_consistency
    prompts: str
    train_frames: int
    eval_frames: int | None
    reported_head: str
    selection_note: str | None
    num_test_clips: int | None
    heads: dict[str, HeadScore]
    noise_detection: NoiseDetection | None  # the first study's measure on the fold's test split (older records)
    wall_s: float
    finished: str  # ISO time
    preset: str = "aligned"
    evaluations: dict[str, SetEvaluation] = dataclasses.field(default_factory=dict)
    train_wall_s: float | None = None  # training alone (None: trained in an earlier invocation or unknown)

    @property
    def reported(self) -> HeadScore:
        return self.heads[self.reported_head or "global"]

    @staticmethod
    def upgrade_json(data: dict[str, Any]) -> dict[str, Any]:
        """The first study's format (module docstring): the consistency switch moves out of the model options
        (where absent, the run-config default, on), and a missing reported head is the global one."""
        options = dict(data["model_options"])
        legacy = options.pop("use_consistency", True)
        return {**data, "model_options": options, "use_consistency": data.get("use_consistency", legacy),
                "reported_head": data.get("reported_head") or "global"}


@dataclass(frozen=True)
class Stats:
    """Mean ± population std over seeds (as ``dkclip cv``); ``values`` per seed, None where undefined."""

    mean: float | None
    std: float | None
    n: int
    values: list[float | None]

    @classmethod
    def of(cls, values: list[float | None]) -> Stats:
        vals = [v for v in values if v is not None]
        if not vals:
            return cls(None, None, 0, list(values))
        arr = np.array(vals, dtype=float)
        return cls(float(arr.mean()), float(arr.std()), len(vals), list(values))

    @staticmethod
    def upgrade_json(data: dict[str, Any]) -> dict[str, Any]:
        return {"values": [], **data}  # older summaries may lack the per-seed values


@dataclass(frozen=True)
class DetectionStats:
    """Per detection measure, :class:`Stats` over seeds in percentage points."""

    precision: Stats
    recall: Stats
    base_rate: Stats
    erase_rate_noisy_clips: Stats
    false_alarm_noisy_clips: Stats
    erase_rate_clean_clips: Stats

    @classmethod
    def of(cls, runs: list[NoiseDetection]) -> DetectionStats:
        def stats(m: str) -> Stats:
            return Stats.of([None if (v := d.measure(m)) is None else 100 * v for d in runs])

        return cls(**{m: stats(m) for m in DETECTION_MEASURES})


@dataclass(frozen=True)
class DatasetFacts:
    """From the synthetic dataset's ``meta.json`` (each None when the file does not say)."""

    clips: int | None = None
    num_classes: int | None = None
    seed: int | None = None
    preset: str | None = None
    frames_per_clip: Any = None  # [min, max] as the generator writes it
    noisy_clips: int | None = None
    clips_with_quarter_noisy: int | None = None
    noisy_frames: int | None = None
    frames: int | None = None


def load_record(path: Path) -> RunRecord:
    """A run's ``results/<key>.json`` (either format)."""
    return from_dict(RunRecord, json.loads(path.read_text()))
