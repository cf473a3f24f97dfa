"""Direction checks: reproduces / near / does not reproduce / flat, and the two NRM claims."""

from __future__ import annotations

import dataclasses

from dkclip.ablation.checks import FLAT_VERDICT, NEAR, direction_checks, failures, label_of, verdict
from dkclip.ablation.grid import FULL_MODEL
from dkclip.ablation.records import DetectionStats, Row, Stats


def _stats(mean: float | None) -> Stats:
    return Stats(mean, 0.0, 1, [mean])


def _rows(values: dict[str, float]) -> dict[str, Row]:
    return {k: Row(table=k.split("/")[0], name=k.split("/")[1], prompts="dfew", options=FULL_MODEL, train_frames=4,
                   eval_frames=16, keys=[k], uar=_stats(v), war=_stats(v), detection=None)
            for k, v in values.items()}


def _set(rows: dict[str, Row], exp_id: str, uar: float) -> None:
    rows[exp_id] = dataclasses.replace(rows[exp_id], uar=_stats(uar))


def _detection(**means: float | None) -> DetectionStats:
    measures = {"precision": 50.0, "recall": 50.0, "base_rate": 25.0, "erase_rate_noisy_clips": 30.0,
                "false_alarm_noisy_clips": 10.0, "erase_rate_clean_clips": 10.0, **means}
    return DetectionStats(**{m: _stats(v) for m, v in measures.items()})


def test_orderings_reproduce_nearly_or_not() -> None:
    rows = _rows({"table4/baseline": 30.0, "table4/+HVE": 35.0, "table4/+ETP": 33.0, "table4/+CCR": 40.0,
                  "table5/a": 30.0, "table5/b": 31.0, "table5/c": 32.0, "table5/d": 40.0,
                  "theta/0": 40.0, "theta/0.15": 38.0, "theta/0.25": 30.0, "snippets/1": 50.0, "snippets/4": 40.0})
    checks = direction_checks(rows, tol=3.0)
    assert checks["table4"].verdict == NEAR
    assert checks["table4"].detail == "+ETP 33.00 < +HVE 35.00"
    assert checks["table5"].verdict == "reproduces"
    assert checks["table5"].detail == "d 40.00 is the best"
    assert checks["theta"].verdict == NEAR
    assert checks["theta"].detail == "best is θ=0 40.00; θ=0.15 38.00"
    assert checks["snippets"].verdict == "does not reproduce"
    assert "nrm" not in checks and "nrm_clean" not in checks  # no run measured the noise detection
    assert [c.claim for c in failures(checks)] == [checks[k].claim for k in ("table4", "theta", "snippets")]

    _set(rows, "table4/+CCR", 20.0)
    t4 = direction_checks(rows, tol=3.0)["table4"]
    assert t4.verdict == "does not reproduce"
    assert t4.detail == "+ETP 33.00 < +HVE 35.00; +CCR 20.00 < +ETP 33.00"


def test_exactly_one_clip_short_is_near_and_ties_count_as_the_best() -> None:
    tol = 100 / 28
    rows = _rows({"theta/0": 75.0 + tol, "theta/0.15": 75.0, "theta/0.25": 70.0})
    assert direction_checks(rows, tol)["theta"].verdict == NEAR
    _set(rows, "theta/0", 75.0)
    tie = direction_checks(rows, tol)["theta"]
    assert (tie.verdict, tie.detail) == ("reproduces", "θ=0.15 75.00 is the best, tied with θ=0 75.00")
    _set(rows, "theta/0.25", 75.0)  # a flat curve shows no peak, whatever the paper's best
    flat = direction_checks(rows, tol)["theta"]
    assert (flat.verdict, flat.detail) == (FLAT_VERDICT, "every setting scores 75.00: θ=0, θ=0.15, θ=0.25")
    assert failures({"theta": flat}) == [flat]


def test_missing_cells_are_not_checked() -> None:
    rows = _rows({"table4/baseline": 30.0, "table4/+HVE": 35.0, "table5/d": 40.0, "theta/0": 30.0})
    assert direction_checks(rows, 3.0) == {}  # Table 4 incomplete, Table 5 one cell, θ without 0.15


def test_nrm_checks_compare_precision_with_the_base_rate_and_clean_with_noisy_clips() -> None:
    rows = _rows({"table4/+CCR": 40.0, "table5/d": 40.0})
    rows["table5/d"] = dataclasses.replace(rows["table5/d"], detection=_detection(precision=20.0))
    checks = direction_checks(rows, 3.0)
    assert checks["nrm"].verdict == "does not reproduce"
    assert checks["nrm"].detail == "full model: precision 20.0% vs base rate 25.0%, recall 50.0%"
    assert checks["nrm_clean"].verdict == "reproduces"
    assert checks["nrm_clean"].detail == "full model: erased 30.0% of snippets in noisy clips vs 10.0% in clean clips"
    rows["table4/+CCR"] = dataclasses.replace(rows["table4/+CCR"],
                                              detection=_detection(precision=None, erase_rate_clean_clips=40.0))
    checks = direction_checks(rows, 3.0)  # table4/+CCR is looked at first
    assert (checks["nrm"].verdict, checks["nrm"].detail) == \
        ("does not reproduce", "the full model erased no snippet of a noisy test clip")
    assert checks["nrm_clean"].verdict == "does not reproduce"
    rows["table4/+CCR"] = dataclasses.replace(rows["table4/+CCR"], detection=_detection(base_rate=None))
    checks = direction_checks(rows, 3.0)
    assert checks["nrm"].verdict == "not checked" and failures(checks) == []


def test_labels_and_verdicts() -> None:
    assert [label_of(i) for i in ("table4/+HVE", "table5/d", "theta/0.15", "snippets/4")] == \
        ["+HVE", "d", "θ=0.15", "N=4"]
    assert (verdict(True), verdict(False), verdict(False, near=True)) == ("reproduces", "does not reproduce", NEAR)
