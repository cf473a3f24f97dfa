"""Typed records of the study, each with a JSON round trip (``to_dict`` / ``from_dict``).

- :class:`RunRecord`: one finished training (``results/<key>.json``), with every head's test UAR/WAR (fractions)
  and its :class:`NoiseDetection` (fractions, None where undefined).
- :class:`Row`: one table cell (an experiment) over seeds: :class:`Stats` of UAR/WAR (percentage points) and,
  for NRM runs, :class:`DetectionStats`.
- :class:`Check`: one direction check (claim, verdict, detail).
- :class:`Setting` (with :class:`DatasetFacts`): what the report's setting paragraph states.
- :class:`Summary`: all of the above, written as ``ablation.json``.

Format history: records written before the package restructure (the committed study in ``docs/ablation``) keep
the consistency switch inside the model options (``model_options.use_consistency``; it is the run-config key
``loss.use_consistency`` now) and name the weights only as ``clip_weights``. ``from_dict`` reads both formats;
``to_dict`` writes the current one.
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

    def model_options(self) -> dict[str, Any]:
        """The ``model.options`` these knobs set (everything but the consistency switch)."""
        return {"temporal": self.temporal, "num_snippets": self.num_snippets, "use_cmam": self.use_cmam,
                "use_nrm": self.use_nrm, "nrm_theta": self.nrm_theta}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Knobs:
        return cls(temporal=str(data["temporal"]), num_snippets=int(data["num_snippets"]),
                   use_cmam=bool(data["use_cmam"]), use_nrm=bool(data["use_nrm"]),
                   nrm_theta=float(data["nrm_theta"]), use_consistency=bool(data["use_consistency"]))


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
    noise_detection: NoiseDetection | None
    wall_s: float
    finished: str  # ISO time

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
            "wall_s": self.wall_s, "finished": self.finished,
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
            wall_s=float(data["wall_s"]), finished=str(data["finished"]),
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
class Row:
    """One table cell: an experiment over the seeds (``keys[i]`` is seed i's run)."""

    table: str
    name: str
    prompts: str
    options: Knobs
    train_frames: int
    eval_frames: int | None
    keys: list[str]
    uar: Stats
    war: Stats
    detection: DetectionStats | None

    @property
    def id(self) -> str:
        return f"{self.table}/{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "name": self.name, "prompts": self.prompts, "options": self.options.to_dict(),
                "train_frames": self.train_frames, "eval_frames": self.eval_frames, "keys": list(self.keys),
                "uar": self.uar.to_dict(), "war": self.war.to_dict(),
                "detection": None if self.detection is None else self.detection.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Row:
        detection = data.get("detection")
        return cls(table=str(data["table"]), name=str(data["name"]), prompts=str(data["prompts"]),
                   options=Knobs.from_dict(data["options"]), train_frames=int(data["train_frames"]),
                   eval_frames=_opt_int(data.get("eval_frames")), keys=[str(k) for k in data["keys"]],
                   uar=Stats.from_dict(data["uar"]), war=Stats.from_dict(data["war"]),
                   detection=None if detection is None else DetectionStats.from_dict(detection))


@dataclass(frozen=True)
class Check:
    claim: str
    verdict: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"claim": self.claim, "verdict": self.verdict, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Check:
        return cls(claim=str(data["claim"]), verdict=str(data["verdict"]), detail=str(data["detail"]))


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


@dataclass(frozen=True)
class Setting:
    """What the report's setting paragraph states."""

    mode: str  # quick or full
    base_config: str
    data_root: str | None
    fold: int | None
    seeds: list[int]
    overrides: list[str]
    model: str
    pretrained: str | None  # model.pretrained (a registered weights tag); None in records before the restructure
    clip_weights: str | None  # model.clip_weights
    epochs: int
    selection: str
    reported_head: str
    selection_note: str | None
    num_test_clips: int
    dataset: DatasetFacts | None
    distinct_runs: int
    table_cells: int
    compute_s: float
    wall_s: float
    machine: str
    date: str
    tolerance_points: float  # one test clip's worth of UAR

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["dataset"] = None if self.dataset is None else self.dataset.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Setting:
        dataset = data.get("dataset")
        return cls(
            mode=str(data["mode"]), base_config=str(data["base_config"]), data_root=data.get("data_root"),
            fold=_opt_int(data.get("fold")), seeds=[int(s) for s in data["seeds"]],
            overrides=[str(o) for o in data.get("overrides", [])], model=str(data["model"]),
            pretrained=data.get("pretrained"), clip_weights=data.get("clip_weights"), epochs=int(data["epochs"]),
            selection=str(data["selection"]), reported_head=str(data.get("reported_head") or "global"),
            selection_note=data.get("selection_note"), num_test_clips=int(data.get("num_test_clips") or 0),
            dataset=None if dataset is None else DatasetFacts.from_dict(dataset),
            distinct_runs=int(data["distinct_runs"]), table_cells=int(data["table_cells"]),
            compute_s=float(data["compute_s"]), wall_s=float(data["wall_s"]), machine=str(data["machine"]),
            date=str(data["date"]), tolerance_points=float(data["tolerance_points"]),
        )


@dataclass(frozen=True)
class Summary:
    """The whole study: ``ablation.json``. ``rows`` and ``runs`` keep the grid's and the run order."""

    setting: Setting
    rows: dict[str, Row]
    checks: dict[str, Check]
    runs: dict[str, RunRecord]

    def rows_of(self, table: str) -> list[Row]:
        return [r for r in self.rows.values() if r.table == table]

    def aliases(self, exp_id: str) -> list[str]:
        """The other cells filled by the same runs as ``exp_id``."""
        keys = self.rows[exp_id].keys
        return [k for k, r in self.rows.items() if r.keys == keys and k != exp_id]

    def to_dict(self) -> dict[str, Any]:
        return {"setting": self.setting.to_dict(), "rows": {k: r.to_dict() for k, r in self.rows.items()},
                "checks": {k: c.to_dict() for k, c in self.checks.items()},
                "runs": {k: r.to_dict() for k, r in self.runs.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Summary:
        return cls(setting=Setting.from_dict(data["setting"]),
                   rows={k: Row.from_dict(r) for k, r in data["rows"].items()},
                   checks={k: Check.from_dict(c) for k, c in data["checks"].items()},
                   runs={k: RunRecord.from_dict(r) for k, r in data["runs"].items()})
