"""Typed records: JSON round trips, and the first study's records (the format before the restructure) read."""

from __future__ import annotations

import json

import numpy as np
from ablation_helpers import STUDY

from dkclip.ablation.noise import detection_metrics, kind_detection
from dkclip.ablation.records import HeadScore, Knobs, RunRecord, SetEvaluation, Stats


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
        assert RunRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    ev = _record().evaluations["heldout"]
    assert ev.detection is not None and ev.detection.precision == 1.0 and ev.detection.recall == 0.5
    assert ev.by_kind["blur"].erase_rate == 1.0 and ev.by_kind["blur"].precision == 0.5


def test_old_run_records_move_the_consistency_switch_out_of_the_model_options() -> None:
    old = json.loads((STUDY / "v1" / "results" / "fa91eba3453a.json").read_text())  # table4/baseline, seed 0
    assert old["model_options"]["use_consistency"] is False and "use_consistency" not in old
    record = RunRecord.from_dict(old)
    assert record.use_consistency is False and "use_consistency" not in record.model_options
    assert record.reported == HeadScore(uar=old["heads"]["global"]["uar"], war=old["heads"]["global"]["war"])
    assert record.preset == "aligned" and record.evaluations == {}
    new = record.to_dict()
    assert new["use_consistency"] is False
    added = ("use_consistency", "model_options", "preset", "evaluations", "train_wall_s")
    assert {k: v for k, v in new.items() if k not in added} == {k: v for k, v in old.items() if k != "model_options"}
    assert RunRecord.from_dict(new) == record


def test_knobs_default_to_the_papers_normalisation() -> None:
    old = {"temporal": "hierarchical", "num_snippets": 4, "use_cmam": True, "use_nrm": True, "nrm_theta": 0.15,
           "use_consistency": True}
    knobs = Knobs.from_dict(old)
    assert knobs.nrm_norm == "minmax" and knobs.model_options()["nrm_norm"] == "minmax"
    assert Knobs.from_dict(knobs.to_dict()) == knobs


def test_stats_are_mean_and_population_std_over_defined_values() -> None:
    s = Stats.of([10.0, None, 20.0])
    assert (s.mean, s.std, s.n, s.values) == (15.0, 5.0, 2, [10.0, None, 20.0])
    empty = Stats.of([None])
    assert (empty.mean, empty.std, empty.n) == (None, None, 0)
    assert Stats.from_dict(s.to_dict()) == s
