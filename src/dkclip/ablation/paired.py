"""Statistics over the stored per-clip predictions: the confidence interval of a cell and the paired test of a
claim, per seed and with the seeds pooled.

**Per seed** the functions of :mod:`dkclip.stats` are used as they are: :func:`~dkclip.stats.bootstrap_ci`
(percentile bootstrap over clips, stratified by class) for a cell, :func:`~dkclip.stats.paired_bootstrap` (the
same resampled clips for both runs) and :func:`~dkclip.stats.mcnemar` for a claim.

**Seeds pooled.** Every run of a cell is evaluated on the same held-out clips, so a cell with S seeds has S
predictions per clip. The pooled estimate is the mean over seeds of UAR (WAR), and its interval comes from a
*cluster* bootstrap: clips are resampled (stratified by class, as in :mod:`dkclip.stats`) and each drawn clip
brings all S of its predictions, so the interval accounts for the clips being the same in every seed (a clip that
is hard for one seed's model is usually hard for the others). Resampling the S·n seed-concatenated predictions as
if they were independent would count each clip S times and give too narrow an interval. For a claim the two
cells are paired by seed (only seeds both have) and by clip; the pooled difference is the mean over seeds of
UAR(B) − UAR(A), its interval from the same cluster bootstrap, and the one-sided p-value the share of resamples
in which B is not better. McNemar's test is reported per seed and on the seed-concatenated clips (counting
discordant clip-seed pairs; treat that p-value as approximate, since pairs of one clip are not independent).

The interval says how much the result could move with other test clips of the same kind, for *these* trainings;
the spread over seeds (shown beside it) is the training noise. With 3 seeds neither is a precise estimate of the
other; a claim is decided on the pooled interval, and the per-seed differences say whether every seed agrees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..stats import bootstrap_ci, mcnemar, paired_bootstrap, resampled_uar_war, uar_war

RESAMPLES = 2000
LEVEL = 0.95
SEED = 0


@dataclass(frozen=True)
class Span:
    """An estimate and its interval, in percentage points."""

    estimate: float
    low: float
    high: float


def _span(estimate: float, draws: np.ndarray, level: float = LEVEL) -> Span:
    a = (1 - level) / 2
    return Span(100 * estimate, 100 * float(np.quantile(draws, a)), 100 * float(np.quantile(draws, 1 - a)))


@dataclass(frozen=True)
class CellInterval:
    """A cell's pooled UAR/WAR (mean over its seeds) with cluster-bootstrap intervals, and per-seed intervals."""

    seeds: list[int]
    uar: Span
    war: Span
    per_seed_uar: list[Span]
    per_seed_war: list[Span]


def cell_interval(labels: np.ndarray, preds: Sequence[np.ndarray], seeds: Sequence[int],
                  resamples: int = RESAMPLES, seed: int = SEED) -> CellInterval:
    """``preds``: one (n,) prediction array per seed, all on the clips of ``labels``."""
    labels = np.asarray(labels)
    correct = np.stack([np.asarray(p) == labels for p in preds])
    scores = [uar_war(labels, p) for p in preds]
    u, w = resampled_uar_war(labels, correct, resamples, seed)
    per_seed = [bootstrap_ci(labels, p, resamples=resamples, level=LEVEL, seed=seed) for p in preds]
    return CellInterval(
        seeds=list(seeds),
        uar=_span(float(np.mean([s[0] for s in scores])), u.mean(axis=0)),
        war=_span(float(np.mean([s[1] for s in scores])), w.mean(axis=0)),
        per_seed_uar=[Span(100 * c["uar"].estimate, 100 * c["uar"].low, 100 * c["uar"].high) for c in per_seed],
        per_seed_war=[Span(100 * c["war"].estimate, 100 * c["war"].low, 100 * c["war"].high) for c in per_seed],
    )


@dataclass(frozen=True)
class PairTest:
    """B against A on the same clips: UAR(B) − UAR(A) and WAR(B) − WAR(A) (points) with 95% intervals, the
    one-sided bootstrap p-value of "B is better", and McNemar's test. ``seed`` None: seeds pooled."""

    seed: int | None
    uar_diff: Span
    war_diff: Span
    p_not_better: float
    only_a: int  # clips (clip-seed pairs when pooled) A gets right and B wrong
    only_b: int
    mcnemar_p: float
    method: str


def pair_test_seed(labels: np.ndarray, preds_a: np.ndarray, preds_b: np.ndarray, seed: int,
                   resamples: int = RESAMPLES) -> PairTest:
    """One seed: :func:`dkclip.stats.paired_bootstrap` and :func:`dkclip.stats.mcnemar`."""
    pb = paired_bootstrap(labels, preds_a, preds_b, resamples=resamples, level=LEVEL, seed=SEED)
    mc = mcnemar(labels, preds_a, preds_b)
    ud, wd = pb["uar_diff"], pb["war_diff"]
    assert not isinstance(ud, float) and not isinstance(wd, float)
    p = pb["p_uar_not_better"]
    assert isinstance(p, float)
    return PairTest(seed, Span(100 * ud.estimate, 100 * ud.low, 100 * ud.high),
                    Span(100 * wd.estimate, 100 * wd.low, 100 * wd.high), p, mc.only_a, mc.only_b, mc.p_value,
                    mc.method)


def pair_test_pooled(labels: np.ndarray, preds_a: Sequence[np.ndarray], preds_b: Sequence[np.ndarray],
                     resamples: int = RESAMPLES, seed: int = SEED) -> PairTest:
    """Seeds pooled (``preds_a[i]`` and ``preds_b[i]`` from the same seed): the cluster bootstrap of the
    seed-mean difference; McNemar on the seed-concatenated clips."""
    labels = np.asarray(labels)
    ca = np.stack([np.asarray(p) == labels for p in preds_a])
    cb = np.stack([np.asarray(p) == labels for p in preds_b])
    ua, wa = resampled_uar_war(labels, ca, resamples, seed)
    ub, wb = resampled_uar_war(labels, cb, resamples, seed)
    du, dw = (ub - ua).mean(axis=0), (wb - wa).mean(axis=0)
    est_u = float(np.mean([uar_war(labels, b)[0] - uar_war(labels, a)[0] for a, b in zip(preds_a, preds_b,
                                                                                         strict=True)]))
    est_w = float(np.mean([uar_war(labels, b)[1] - uar_war(labels, a)[1] for a, b in zip(preds_a, preds_b,
                                                                                         strict=True)]))
    s = len(preds_a)
    mc = mcnemar(np.tile(labels, s), np.concatenate(list(preds_a)), np.concatenate(list(preds_b)))
    return PairTest(None, _span(est_u, du), _span(est_w, dw), float((du <= 0).mean()), mc.only_a, mc.only_b,
                    mc.p_value, mc.method)


def pooled_diff_draws(labels: np.ndarray, preds_a: Sequence[np.ndarray], preds_b: Sequence[np.ndarray],
                      resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """(resamples,) cluster-bootstrap draws of the seed-mean UAR difference B − A (fractions)."""
    labels = np.asarray(labels)
    ca = np.stack([np.asarray(p) == labels for p in preds_a])
    cb = np.stack([np.asarray(p) == labels for p in preds_b])
    ua, _ = resampled_uar_war(labels, ca, resamples, seed)
    ub, _ = resampled_uar_war(labels, cb, resamples, seed)
    draws: np.ndarray = (ub - ua).mean(axis=0)
    return draws


def difference_of_differences(draws_1: np.ndarray, draws_2: np.ndarray, estimate: float) -> Span:
    """Interval of Δ₂ − Δ₁ from independent bootstrap draws of each (two presets: different clips)."""
    return _span(estimate, np.asarray(draws_2) - np.asarray(draws_1))
