"""Statistics for comparing classifiers on the same clips: UAR/WAR, bootstrap confidence intervals (over clips),
the paired bootstrap of a difference, and McNemar's test. Pure numpy, deterministic for a given seed.

UAR is the mean over the classes present of per-class recall; WAR the accuracy. A bootstrap resample draws clips
with replacement (stratified by class, so every class keeps its count and UAR stays defined); the paired
bootstrap resamples the *same* clips for both classifiers, which is what makes the interval of their
difference narrow when they err on the same clips.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from .errors import UsageError


def uar_war(labels: np.ndarray, preds: np.ndarray) -> tuple[float, float]:
    labels, preds = np.asarray(labels), np.asarray(preds)
    if labels.size == 0:
        raise ValueError("no clips")
    correct = labels == preds
    classes = np.unique(labels)
    recalls = [correct[labels == c].mean() for c in classes]
    return float(np.mean(recalls)), float(correct.mean())


def stratified_indices(labels: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n) clip indices: per class (in sorted order), its clips drawn with replacement, so every class
    keeps its count. Columns ``[start, start + k)`` of every row hold the k clips of one class."""
    if resamples < 1:  # 0 gave an IndexError deep in the percentile code, a negative number a numpy error
        raise UsageError(f"the bootstrap needs at least 1 resample (--resamples), got {resamples}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = np.empty((resamples, labels.size), dtype=np.int64)
    start = 0
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        out[:, start:start + members.size] = members[rng.integers(0, members.size, size=(resamples, members.size))]
        start += members.size
    return out


@functools.lru_cache(maxsize=2)
def _draw_counts(labels_key: bytes, dtype: str, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n) float64: how often each resample of :func:`stratified_indices` drew each clip. Cached: a
    study summarises every cell and claim on the same held-out labels with the same seed, i.e. the same draws."""
    labels = np.frombuffer(labels_key, dtype=dtype)
    n = labels.size
    idx = stratified_indices(labels, resamples, seed)
    counts = np.bincount((idx + n * np.arange(resamples)[:, None]).ravel(), minlength=resamples * n)
    drawn = counts.reshape(resamples, n).astype(np.float64)
    drawn.flags.writeable = False
    return drawn


def resampled_uar_war(labels: np.ndarray, correct: np.ndarray, resamples: int,
                      seed: int) -> tuple[np.ndarray, np.ndarray]:
    """UAR and WAR of every stratified resample (:func:`stratified_indices`): ``correct`` (n,) or (S, n) bool ->
    (R,) or (S, R) each.

    A resample is summarised by how often it drew each clip (an (R, n) count matrix), so per-class hits and
    class sizes are two matrix products instead of a mask per class and row. Every sum is of small integers,
    exact in float64 in any order, so the result is the same to the bit as summing the drawn clips one by one."""
    labels = np.ascontiguousarray(labels)
    n = labels.size
    drawn = _draw_counts(labels.tobytes(), labels.dtype.str, resamples, seed)
    classes, class_of = np.unique(labels, return_inverse=True)
    one_hot = np.eye(classes.size)[class_of]  # (n, C)
    cor = np.asarray(correct, dtype=np.float64).reshape(-1, n)  # (S, n)
    hits = drawn @ (cor[:, :, None] * one_hot[None])  # (S, R, C)
    uar = (hits / (drawn @ one_hot)).mean(axis=2)
    war = (cor @ drawn.T) / n  # (S, R)
    return (uar[0], war[0]) if np.ndim(correct) == 1 else (uar, war)


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
    u, w = resampled_uar_war(labels, labels == preds, resamples, seed)
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
    rua, rwa = resampled_uar_war(labels, labels == np.asarray(preds_a), resamples, seed)
    rub, rwb = resampled_uar_war(labels, labels == np.asarray(preds_b), resamples, seed)
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
