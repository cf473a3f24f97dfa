"""Typed records: JSON round trips (``dataclasses.asdict`` and the one loader, ``typed.from_dict``), the committed
study's files re-written byte for byte, and the first study's records (the format before the restructure) read."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from ablation_helpers import STUDY

from dkclip.ablation.noise import detection_metrics, kind_detection
from dkclip.ablation.records import HeadScore, Knobs, RunRecord, SetEvaluation, Stats, load_record
from dkclip.ablation.summary import load_summary
from dkclip.ablation.typed import from_dict
from dkclip.fileio import atomic_write_json


def _evaluation(name: str = "heldout") -> SetEvaluation:
    det = detection_metrics(np.array([[1, 0], [0, 0]], bool), np.array([[1, 1], [0, 0]], bool),
                            np.array([True, False]))
    kind = kind_detection("blur", np.array([True, False, True]), np.array([0.1, 0.9, 0.05]),
                          np.array(["blur", "", ""]))
    return SetEvaluation(name=name, test_set="heldout", variant=None, list_file="data/h/set_1_test.txt",
                         digest="0" * 16, num_clips=700, heads={h: HeadScore(0.5, 0.25) for h in ("global", "local")},
                         detection=det, auc=0.75, by_kind={"blur": kind}, predictions="predictions/abc.heldout.csv.gz",
                         wall_s=3.0)


def _record(**changes: object) -> RunRecord:
    data = {"key": "abc", "seed": 1, "experiments": ["table4/+CCR", "table5/d"], "run_dir": "runs/abc",
            "model_options": {"temporal": "hierarchical", "num_snippets": 4}, "use_consistency": True,
            "prompts": "dfew", "train_frames": 4, "eval_frames": 16, "reported_head": "global",
            "selection_note": "last epoch", "num_test_clips": 28,
            "heads": {h: HeadScore(0.5, 0.25) for h in ("global", "local", "fused")}, "noise_detection": None,
            "wall_s": 12.5, "finished": "2026-01-01T00:00:00", "preset": "wild",
            "evaluations": {"heldout": _evaluation()}, "train_wall_s": 10.0, **changes}
    return RunRecord(**data)  # type: ignore[arg-type]


def test_run_records_round_trip_through_json() -> None:
    for record in (_record(), _record(num_test_clips=None, eval_frames=None, evaluations={}, train_wall_s=None)):
        assert from_dict(RunRecord, json.loads(json.dumps(dataclasses.asdict(record)))) == record
    ev = _record().evaluations["heldout"]
    assert ev.detection is not None and ev.detection.precision == 1.0 and ev.detection.recall == 0.5
    assert ev.by_kind["blur"].erase_rate == 1.0 and ev.by_kind["blur"].precision == 0.5


def test_old_run_records_move_the_consistency_switch_out_of_the_model_options() -> None:
    old = json.loads((STUDY / "v1" / "results" / "fa91eba3453a.json").read_text())  # table4/baseline, seed 0
    assert old["model_options"]["use_consistency"] is False and "use_consistency" not in old
    record = from_dict(RunRecord, old)
    assert record.use_consistency is False and "use_consistency" not in record.model_options
    assert record.reported == HeadScore(uar=old["heads"]["global"]["uar"], war=old["heads"]["global"]["war"])
    assert record.preset == "aligned" and record.evaluations == {}
    new = dataclasses.asdict(record)
    assert new["use_consistency"] is False
    added = ("use_consistency", "model_options", "preset", "evaluations", "train_wall_s")
    assert {k: v for k, v in new.items() if k not in added} == {k: v for k, v in old.items() if k != "model_options"}
    assert from_dict(RunRecord, new) == record


def test_knobs_default_to_the_papers_normalisation() -> None:
    old = {"temporal": "hierarchical", "num_snippets": 4, "use_cmam": True, "use_nrm": True, "nrm_theta": 0.15,
           "use_consistency": True}
    knobs = from_dict(Knobs, old)
    assert knobs.nrm_norm == "minmax" and knobs.model_options()["nrm_norm"] == "minmax"
    assert from_dict(Knobs, dataclasses.asdict(knobs)) == knobs


def test_stats_are_mean_and_population_std_over_defined_values() -> None:
    s = Stats.of([10.0, None, 20.0])
    assert (s.mean, s.std, s.n, s.values) == (15.0, 5.0, 2, [10.0, None, 20.0])
    empty = Stats.of([None])
    assert (empty.mean, empty.std, empty.n) == (None, None, 0)
    assert from_dict(Stats, dataclasses.asdict(s)) == s


def _rewritten(obj: object, path: Path) -> bytes:
    """``obj`` written as the study writes its records (``atomic_write_json`` of ``dataclasses.asdict``)."""
    atomic_write_json(path, dataclasses.asdict(obj))  # type: ignore[call-overload]
    return path.read_bytes()


def test_the_committed_records_are_rewritten_byte_for_byte(tmp_path: Path) -> None:
    """Every current-format file of the committed study loads with the one loader and, written again, is the same
    file: the loader and ``asdict`` lose and add nothing."""
    files = sorted(f for preset in ("aligned", "wild") for f in (STUDY / preset / "results").glob("*.json"))
    assert len(files) == 48 + 21
    for f in files:
        assert _rewritten(load_record(f), tmp_path / "r.json") == f.read_bytes(), f
    summary = STUDY / "ablation.json"
    assert _rewritten(load_summary(summary), tmp_path / "s.json") == summary.read_bytes()


def test_the_first_studys_records_upgrade_once_and_then_round_trip(tmp_path: Path) -> None:
    files = sorted((STUDY / "v1" / "results").glob("*.json"))
    assert files
    for f in files:
        upgraded = _rewritten(load_record(f), tmp_path / "v1.json")
        assert _rewritten(load_record(tmp_path / "v1.json"), tmp_path / "again.json") == upgraded, f


def test_the_loader_converts_by_the_field_types() -> None:
    stats = from_dict(Stats, {"mean": 1, "std": None, "n": 2.0, "values": [1, None]})
    assert stats == Stats(1.0, None, 2, [1.0, None]) and isinstance(stats.mean, float)
    assert from_dict(Stats, {"mean": None, "n": 0}) == Stats(None, None, 0, [])  # missing: None / upgrade hook
    with pytest.raises(KeyError, match="'n' is missing"):
        from_dict(Stats, {"mean": None})
    with pytest.raises(TypeError, match=r"HeadScore\.uar: null"):
        from_dict(HeadScore, {"uar": None, "war": 0.5})


@dataclass(frozen=True)
class _Nested:
    span: tuple[float, float]
    steps: tuple[int, ...]
    by_name: dict[str, HeadScore]
    maybe: list[HeadScore | None]
    knobs: Knobs | None = None


def test_the_loader_rebuilds_nested_records_tuples_and_optionals() -> None:
    value = _Nested(span=(1.0, 2.5), steps=(1, 2, 3), by_name={"g": HeadScore(0.5, 0.25)},
                    maybe=[None, HeadScore(1.0, 1.0)], knobs=from_dict(Knobs, {
                        "temporal": "avgpool", "num_snippets": 4, "use_cmam": False, "use_nrm": False,
                        "nrm_theta": 0.15, "use_consistency": False}))
    data = json.loads(json.dumps(dataclasses.asdict(value)))  # tuples come back from JSON as lists
    assert from_dict(_Nested, data) == value
    assert from_dict(_Nested, {**data, "knobs": None}).knobs is None
    with pytest.raises(TypeError, match="3 values"):
        from_dict(_Nested, {**data, "span": [1, 2, 3]})
