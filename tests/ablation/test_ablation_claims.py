"""Intervals and paired tests on stored predictions: the cluster bootstrap reduces to dkclip.stats with one seed,
is wider than resampling seed-concatenated clips as if independent, and a claim's verdict follows its interval."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ablation_helpers import fake_predictions

from dkclip.ablation.claims import PredictionStore, paired_claim
from dkclip.ablation.grid import FULL_MODEL, Experiment
from dkclip.ablation.paired import cell_interval, pair_test_pooled, pair_test_seed
from dkclip.ablation.predictions import ClipPredictions, write_predictions
from dkclip.ablation.records import HeadScore, RunRecord, SetEvaluation
from dkclip.ablation.study import build_cell
from dkclip.ablation.summary import CONTRADICTS, IDENTICAL, MISSING, REPRODUCES, UNRESOLVED, Claim
from dkclip.stats import bootstrap_ci, paired_bootstrap, stratified_indices

LABELS = np.repeat(np.arange(7), 30)


def _preds(p: float, salt: str) -> np.ndarray:
    return fake_predictions(LABELS, p, salt).preds("global")


def test_stratified_draws_keep_every_class_count() -> None:
    idx = stratified_indices(LABELS, 50, 0)
    assert idx.shape == (50, LABELS.size)
    for row in idx:
        assert np.bincount(LABELS[row]).tolist() == [30] * 7


def test_one_seed_reduces_to_dkclip_stats() -> None:
    a, b = _preds(0.6, "a"), _preds(0.7, "b")
    cell = cell_interval(LABELS, [b], [0])
    ref = bootstrap_ci(LABELS, b)
    assert (cell.uar.low, cell.uar.high) == pytest.approx((100 * ref["uar"].low, 100 * ref["uar"].high))
    assert cell.per_seed_uar[0].low == pytest.approx(100 * ref["uar"].low)
    pooled = pair_test_pooled(LABELS, [a], [b])
    seed = pair_test_seed(LABELS, a, b, 0)
    pb = paired_bootstrap(LABELS, a, b)
    ud = pb["uar_diff"]
    assert not isinstance(ud, float)
    assert (pooled.uar_diff.low, pooled.uar_diff.high) == pytest.approx((100 * ud.low, 100 * ud.high))
    assert (seed.uar_diff.low, seed.uar_diff.high) == pytest.approx((100 * ud.low, 100 * ud.high))
    assert pooled.p_not_better == pytest.approx(pb["p_uar_not_better"])
    assert (pooled.only_a, pooled.only_b, pooled.mcnemar_p) == (seed.only_a, seed.only_b, seed.mcnemar_p)


def test_the_cluster_bootstrap_counts_a_clip_once_across_seeds() -> None:
    b = _preds(0.7, "b")
    same = cell_interval(LABELS, [b, b, b], [0, 1, 2])  # three seeds that agree on every clip
    one = cell_interval(LABELS, [b], [0])
    assert (same.uar.low, same.uar.high) == pytest.approx((one.uar.low, one.uar.high))
    # Resampling the 3n concatenated predictions as independent clips would claim a ~sqrt(3) narrower interval.
    naive = bootstrap_ci(np.tile(LABELS, 3), np.tile(b, 3))
    assert 100 * (naive["uar"].high - naive["uar"].low) < 0.7 * (same.uar.high - same.uar.low)


def _record(key: str, seed: int, predictions: str) -> RunRecord:
    score = {h: HeadScore(0.5, 0.5) for h in ("global", "local", "fused")}
    ev = SetEvaluation("heldout", "heldout", None, "l.txt", "0" * 16, LABELS.size, score, None, None, {},
                       predictions, 0.0)
    return RunRecord(key=key, seed=seed, experiments=[], run_dir="", model_options={"num_snippets": 4},
                     use_consistency=True, prompts="dfew", train_frames=4, eval_frames=16, reported_head="global",
                     selection_note=None, num_test_clips=28, heads=score, noise_detection=None, wall_s=0.0,
                     finished="", evaluations={"heldout": ev})


def _claim(tmp_path: Path, p_better: float, p_worse: float, seeds_better: tuple[int, ...] = (0, 1, 2)) -> Claim:
    records: dict[str, RunRecord] = {}
    keys: dict[str, list[str | None]] = {}
    for name, p, seeds in (("better", p_better, seeds_better), ("worse", p_worse, (0, 1, 2))):
        keys[name] = []
        for s in (0, 1, 2):
            if s not in seeds:
                keys[name].append(None)
                continue
            key = f"{name}{s}"
            preds: ClipPredictions = fake_predictions(LABELS, p, key)
            write_predictions(tmp_path / f"predictions/{key}.csv.gz", preds)
            records[key] = _record(key, s, f"predictions/{key}.csv.gz")
            keys[name].append(key)
    store = PredictionStore(tmp_path)
    exp = Experiment("t", "x", "dfew", FULL_MODEL)
    cells = {n: build_cell("t", n, exp, keys[n], "heldout", records, store, [0, 1, 2]) for n in keys}
    return paired_claim("t", cells["better"], cells["worse"], "better beats worse", records, store, [0, 1, 2])


def test_verdicts_follow_the_pooled_interval(tmp_path: Path) -> None:
    clear = _claim(tmp_path / "a", 0.8, 0.4)
    assert clear.verdict == REPRODUCES and clear.pooled is not None and clear.pooled.uar_diff.low > 0
    assert "3 of 3 seeds positive" in clear.detail
    reverse = _claim(tmp_path / "b", 0.4, 0.8)
    assert reverse.verdict == CONTRADICTS
    close = _claim(tmp_path / "c", 0.6, 0.6)
    assert close.verdict == UNRESOLVED
    assert close.pooled is not None
    d = close.pooled.uar_diff
    assert d.low < 0 < d.high
    partial = _claim(tmp_path / "d", 0.8, 0.4, seeds_better=(0,))
    assert partial.seeds == [0] and "(seeds 0 only)" in partial.detail
    none = _claim(tmp_path / "e", 0.8, 0.4, seeds_better=())
    assert none.verdict == MISSING and none.pooled is None


def test_cells_right_on_the_same_clips_are_identical_not_unresolved(tmp_path: Path) -> None:
    """A change that does not reach the reported head's decisions (e.g. the NRM's normalisation at test time for
    the global head) leaves every clip right or wrong as it was: the verdict says so instead of 'not resolved'."""
    records: dict[str, RunRecord] = {}
    keys: dict[str, list[str | None]] = {"better": [], "worse": []}
    for s in (0, 1, 2):
        preds: ClipPredictions = fake_predictions(LABELS, 0.7, f"run{s}")
        write_predictions(tmp_path / f"predictions/run{s}.csv.gz", preds)
        for name in keys:  # two records of the same predictions
            records[f"{name}{s}"] = _record(f"{name}{s}", s, f"predictions/run{s}.csv.gz")
            keys[name].append(f"{name}{s}")
    store = PredictionStore(tmp_path)
    exp = Experiment("t", "x", "dfew", FULL_MODEL)
    cells = {n: build_cell("t", n, exp, keys[n], "heldout", records, store, [0, 1, 2]) for n in keys}
    claim = paired_claim("t", cells["better"], cells["worse"], "better beats worse", records, store, [0, 1, 2])
    assert claim.verdict == IDENTICAL and claim.pooled is not None
    assert claim.pooled.only_a == claim.pooled.only_b == 0 and claim.pooled.uar_diff.estimate == 0
