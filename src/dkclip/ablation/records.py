"""Typed records of the study, each with a JSON round trip (``to_dict`` / ``from_dict``).

- :class:`RunRecord`: one finished training (``<preset>/results/<key>.json``) with the trainer's test UAR/WAR
  on the fold's test split (fractions) and one :class:`SetEvaluation` per test set (held-out, fold, test-time NRM
  variants): head scores, :class:`NoiseDetection`, :class:`KindDetection` per noise kind, the noise ROC-AUC and
  the file of per-clip predictions.
- :class:`Stats` and :class:`DetectionStats`: mean ± std over seeds (percentage points).
- :class:`DatasetFacts`: what a synthetic dataset's ``meta.json`` says.

The study's summary (cells, claims, the setting) is :mod:`dkclip.ablation.study`.

Format history: records written before the package restructure (the first study, ``docs/ablation/v1``) keep
the consistency switch inside the model options (``model_options.use_consistency``; it is the run-config key
``loss.use_consistency`` now), name the weights only as ``clip_weights`` and have no evaluations (only the
noise detection on the fold's test split). ``from_dict`` reads both formats; ``to_dict`` writes the current one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

# The noise-detection measures, in the order the CSV and the JSON list them.
DETECTION_MEASURES: tuple[str, ...] = ("precision", "recall", "base_rate", "erase_rate_noisy_clips",
                                       "false_alarm_noisy_clips", "erase_rate_clean_clips")
HEADS: tuple[str, ...] = ("global", "local", "fused")


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Knobs:
        return cls(temporal=str(data["temporal"]), num_snippets=int(data["num_snippets"]),
                   use_cmam=bool(data["use_cmam"]), use_nrm=bool(data["use_nrm"]),
                   nrm_theta=float(data["nrm_theta"]), use_consistency=bool(data["use_consistency"]),
                   nrm_norm=str(data.get("nrm_norm", "minmax")))


@dataclass(frozen=True)
class HeadScore:
    uar: float  # fractions in [0, 1]
    war: float

    def to_dict(self) -> dict[str, Any]:
        return {"uar": self.uar, "war": self.war}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HeadScore:
        return cls(uar=float(data["uar"]), war=float(data["war"]))


@dataclass(frozen=True)
class DetectionCounts:
    noisy_clip_views: int
    clean_clip_views: int
    snippets_in_noisy_clips: int
    noisy_snippets: int
    erased_in_noisy_clips: int
    erased_noisy: int
    erased_in_clean_clips: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectionCounts:
        return cls(**{f.name: int(data[f.name]) for f in dataclasses.fields(cls)})


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

    def to_dict(self) -> dict[str, Any]:
        return {**{m: self.measure(m) for m in DETECTION_MEASURES}, "counts": self.counts.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NoiseDetection:
        return cls(**{m: _opt_float(data.get(m)) for m in DETECTION_MEASURES},
                   counts=DetectionCounts.from_dict(data["counts"]))


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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KindDetection:
        return cls(kind=str(data["kind"]), snippets=int(data["snippets"]), erased=int(data["erased"]),
                   erase_rate=_opt_float(data.get("erase_rate")), precision=_opt_float(data.get("precision")),
                   base_rate=_opt_float(data.get("base_rate")), auc=_opt_float(data.get("auc")))


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

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "test_set": self.test_set, "variant": self.variant, "list_file": self.list_file,
                "digest": self.digest, "num_clips": self.num_clips,
                "heads": {h: s.to_dict() for h, s in self.heads.items()},
                "detection": None if self.detection is None else self.detection.to_dict(), "auc": self.auc,
                "by_kind": {k: d.to_dict() for k, d in self.by_kind.items()}, "predictions": self.predictions,
                "wall_s": self.wall_s}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SetEvaluation:
        det = data.get("detection")
        return cls(name=str(data["name"]), test_set=str(data["test_set"]), variant=data.get("variant"),
                   list_file=str(data["list_file"]), digest=str(data["digest"]), num_clips=int(data["num_clips"]),
                   heads={h: HeadScore.from_dict(v) for h, v in data["heads"].items()},
                   detection=None if det is None else NoiseDetection.from_dict(det), auc=_opt_float(data.get("auc")),
                   by_kind={k: KindDetection.from_dict(v) for k, v in data.get("by_kind", {}).items()},
                   predictions=str(data["predictions"]), wall_s=float(data.get("wall_s", 0.0)))


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "seed": self.seed, "experiments": list(self.experiments), "run_dir": self.run_dir,
            "model_options": dict(self.model_options), "use_consistency": self.use_consistency,
            "prompts": self.prompts, "train_frames": self.train_frames, "eval_frames": self.eval_frames,
            "reported_head": self.reported_head, "selection_note": self.selection_note,
            "num_test_clips": self.num_test_clips, "heads": {h: s.to_dict() for h, s in self.heads.items()},
            "noise_detection": None if self.noise_detection is None else self.noise_detection.to_dict(),
            "wall_s": self.wall_s, "finished": self.finished, "preset": self.preset,
            "evaluations": {k: e.to_dict() for k, e in self.evaluations.items()}, "train_wall_s": self.train_wall_s,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        options = dict(data["model_options"])
        # Old format: the consistency switch was a model option. The run-config default is on.
        legacy = options.pop("use_consistency", True)
        detection = data.get("noise_detection")
        return cls(
            key=str(data["key"]), seed=int(data["seed"]), experiments=list(data["experiments"]),
            run_dir=str(data["run_dir"]), model_options=options,
            use_consistency=bool(data.get("use_consistency", legacy)), prompts=str(data["prompts"]),
            train_frames=int(data["train_frames"]), eval_frames=_opt_int(data.get("eval_frames")),
            reported_head=str(data.get("reported_head") or "global"), selection_note=data.get("selection_note"),
            num_test_clips=_opt_int(data.get("num_test_clips")),
            heads={h: HeadScore.from_dict(s) for h, s in data["heads"].items()},
            noise_detection=None if detection is None else NoiseDetection.from_dict(detection),
            wall_s=float(data["wall_s"]), finished=str(data["finished"]), preset=str(data.get("preset", "aligned")),
            evaluations={k: SetEvaluation.from_dict(e) for k, e in data.get("evaluations", {}).items()},
            train_wall_s=_opt_float(data.get("train_wall_s")),
        )


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

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "n": self.n, "values": list(self.values)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stats:
        return cls(mean=_opt_float(data["mean"]), std=_opt_float(data.get("std")), n=int(data["n"]),
                   values=[_opt_float(v) for v in data.get("values", [])])


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

    def to_dict(self) -> dict[str, Any]:
        return {m: getattr(self, m).to_dict() for m in DETECTION_MEASURES}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectionStats:
        return cls(**{m: Stats.from_dict(data[m]) for m in DETECTION_MEASURES})


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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetFacts:
        return cls(**{f.name: data.get(f.name) for f in dataclasses.fields(cls)})
