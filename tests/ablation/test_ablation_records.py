"""Typed records: JSON round trips, and the committed study's records (the format before the restructure) read."""

from __future__ import annotations

import json

import numpy as np
from ablation_helpers import STUDY

from dkclip.ablation import load_summary
from dkclip.ablation.noise import detection_metrics
from dkclip.ablation.records import HeadScore, Knobs, RunRecord, Stats, Summary


def _record(**changes: object) -> RunRecord:
    det = detection_metrics(np.array([[1, 0], [0, 0]], bool), np.array([[1, 1], [0, 0]], bool),
                            np.array([True, False]))
    data = {"key": "abc", "seed": 1, "experiments": ["table4/+CCR", "table5/d"], "run_dir": "runs/abc",
            "model_options": {"temporal": "hierarchical", "num_snippets": 4}, "use_consistency": True,
            "prompts": "dfew", "train_frames": 4, "eval_frames": 16, "reported_head": "global",
            "selection_note": "last epoch", "num_test_clips": 28,
            "heads": {h: HeadScore(0.5, 0.25) for h in ("global", "local", "fused")}, "noise_detection": det,
            "wall_s": 12.5, "finished": "2026-01-01T00:00:00", **changes}
    return RunRecord(**data)  # type: ignore[arg-type]


def test_run_records_round_trip_through_json() -> None:
    for record in (_record(), _record(noise_detection=None, num_test_clips=None, eval_frames=None)):
        assert RunRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    det = _record().noise_detection
    assert det is not None and det.precision == 1.0 and det.recall == 0.5 and det.erase_rate_clean_clips == 0.0


def test_old_run_records_move_the_consistency_switch_out_of_the_model_options() -> None:
    old = json.loads((STUDY / "results" / "fa91eba3453a.json").read_text())  # table4/baseline, seed 0
    assert old["model_options"]["use_consistency"] is False and "use_consistency" not in old
    record = RunRecord.from_dict(old)
    assert record.use_consistency is False and "use_consistency" not in record.model_options
    assert record.reported == HeadScore(uar=old["heads"]["global"]["uar"], war=old["heads"]["global"]["war"])
    new = record.to_dict()
    assert new["use_consistency"] is False
    assert {k: v for k, v in new.items() if k not in ("use_consistency", "model_options")} == \
        {k: v for k, v in old.items() if k != "model_options"}
    assert RunRecord.from_dict(new) == record


def test_the_committed_study_loads_and_round_trips() -> None:
    raw = json.loads((STUDY / "ablation.json").read_text())
    summary = load_summary(STUDY / "ablation.json")
    assert len(summary.rows) == 17 and len(summary.runs) == 42 and summary.setting.seeds == [0, 1, 2]
    assert summary.setting.pretrained is None and summary.setting.clip_weights == "default"
    assert Summary.from_dict(json.loads(json.dumps(summary.to_dict()))) == summary
    # Rows, checks and everything but the runs' consistency switch are written back as they were read.
    again = summary.to_dict()
    assert again["rows"] == raw["rows"] and again["checks"] == raw["checks"]
    assert {k: v for k, v in again["setting"].items() if k != "pretrained"} == raw["setting"]
    # Each run's results/<key>.json is the record the summary holds.
    for key, record in summary.runs.items():
        assert RunRecord.from_dict(json.loads((STUDY / "results" / f"{key}.json").read_text())) == record
    assert summary.rows["table4/+ETP"].options == Knobs("hierarchical", 4, True, False, 0.15, False)


def test_stats_are_mean_and_population_std_over_defined_values() -> None:
    s = Stats.of([10.0, None, 20.0])
    assert (s.mean, s.std, s.n, s.values) == (15.0, 5.0, 2, [10.0, None, 20.0])
    empty = Stats.of([None])
    assert (empty.mean, empty.std, empty.n) == (None, None, 0)
    assert Stats.from_dict(s.to_dict()) == s
