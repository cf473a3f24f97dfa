"""Statistics for comparing classifiers on the same clips: UAR/WAR, bootstrap confidence intervals (over clips),
the paired bootstrap of a difference, and McNemar's test. Pure numpy, deterministic for a given seed.

UAR is the mean over the classes present of per-class recall; WAR the accuracy. A bootstrap resample draws clips
with replacement (stratified by class, so every class keeps its count and UAR stays defined); the paired
bootstrap resamples the *same* clips for both classifiers, which is what makes the interval of their
difference narrow when they err on the same clips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def uar_war(labels: np.ndarray, preds: np.ndarray) -> tuple[float, float]:
    labels, preds = np.asarray(labels), np.asarray(preds)
    if labels.size == 0:
        raise ValueError("no clips")
    correct = labels == preds
    classes = np.unique(labels)
    recalls = [correct[labels == c].mean() for c in classes]
    return float(np.mean(recalls)), float(correct.mean())


def _stratified_indices(labels: np.ndarray, rng: np.random.Generator, resamples: int) -> np.ndarray:
    """(resamples, n) clip indices: per class, its clips drawn with replacement."""
    n = labels.size
    out = np.empty((resamples, n), dtype=np.int64)
    start = 0
    order = np.argsort(labels, kind="stable")
    for c in np.unique(labels):
        members = order[labels[order] == c]
        k = members.size
        out[:, start:start + k] = members[rng.integers(0, k, size=(resamples, k))]
        start += k
    return out


def _uar_war_rows(labels: np.ndarray, correct: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UAR and WAR of each bootstrap row (vectorised over rows)."""
    lab, cor = labels[idx], correct[idx].astype(np.float64)
    war = cor.mean(axis=1)
    classes = np.unique(labels)
    per_class = np.stack([(cor * (lab == c)).sum(axis=1) / (lab == c).sum(axis=1) for c in classes], axis=1)
    return per_class.mean(axis=1), war


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}


def bootstrap_ci(labels: np.ndarray, preds: np.ndarray, resamples: int = 2000, level: float = 0.95,
                 seed: int = 0) -> dict[str, Interval]:
    """Percentile bootstrap intervals of UAR and WAR over clips."""
    labels, preds = np.asarray(labels), np.asarray(preds)
    uar, war = uar_war(labels, preds)
    idx = _stratified_indices(labels, np.random.default_rng(seed), resamples)
    u, w = _uar_war_rows(labels, labels == preds, idx)
    a = (1 - level) / 2
    return {"uar": Interval(uar, float(np.quantile(u, a)), float(np.quantile(u, 1 - a))),
            "war": Interval(war, float(np.quantile(w, a)), float(np.quantile(w, 1 - a)))}


def paired_bootstrap(labels: np.ndarray, preds_a: np.ndarray, preds_b: np.ndarray, resamples: int = 2000,
                     level: float = 0.95, seed: int = 0) -> dict[str, Interval | float]:
    """Intervals of UAR(B) − UAR(A) and WAR(B) − WAR(A) over the same resampled clips, and the share of
    resamples in which B is not better (a one-sided bootstrap p-value for "B > A")."""
    labels = np.asarray(labels)
    ua, wa = uar_war(labels, preds_a)
    ub, wb = uar_war(labels, preds_b)
    idx = _stratified_indices(labels, np.random.default_rng(seed), resamples)
    rua, rwa = _uar_war_rows(labels, labels == np.asarray(preds_a), idx)
    rub, rwb = _uar_war_rows(labels, labels == np.asarray(preds_b), idx)
    du, dw = rub - rua, rwb - rwa
    a = (1 - level) / 2
    return {"uar_diff": Interval(ub - ua, float(np.quantile(du, a)), float(np.quantile(du, 1 - a))),
            "war_diff": Interval(wb - wa, float(np.quantile(dw, a)), float(np.quantile(dw, 1 - a))),
            "p_uar_not_better": float((du <= 0).mean())}


@dataclass(frozen=True)
class McNemar:
    only_a: int  # clips A gets right and B wrong
    only_b: int  # clips B gets right and A wrong
    p_value: float
    method: str

    def as_dict(self) -> dict[str, float | int | str]:
        return {"only_a_correct": self.only_a, "only_b_correct": self.only_b, "p_value": self.p_value,
                "method": self.method}


def mcnemar(labels: np.ndarray, preds_a: np.ndarray, preds_b: np.ndarray) -> McNemar:
    """McNemar's test on the discordant clips: exact two-sided binomial when they are few (< 25), else the
    chi-square statistic with continuity correction (1 degree of freedom)."""
    labels = np.asarray(labels)
    ca, cb = labels == np.asarray(preds_a), labels == np.asarray(preds_b)
    b, c = int((ca & ~cb).sum()), int((~ca & cb).sum())
    n = b + c
    if n == 0:
        return McNemar(b, c, 1.0, "no discordant clips")
    if n < 25:
        k = min(b, c)
        tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
        return McNemar(b, c, min(1.0, 2 * tail), "exact binomial")
    stat = (abs(b - c) - 1) ** 2 / n
    return McNemar(b, c, math.erfc(math.sqrt(stat / 2)), "chi-square, continuity-corrected")
