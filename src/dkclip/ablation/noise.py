"""The NRM as a noise detector, scored against the synthetic generator's per-frame noise flags.

Every run is evaluated once more after training (:mod:`dkclip.ablation.evaluation`); its per-snippet a*, keep
flags and noise truth are stored (:mod:`dkclip.ablation.predictions`) and scored here. A snippet is *noisy* when
more than half of the frames sampled for it carry a noise flag in the generator's ``annotations/<clip>.json``
(its kind: the commonest kind among those frames); a clip is noisy when any of its frames is flagged.

- :func:`detection_metrics` (the measures of the first study): over the snippets of noisy clips, precision =
  erased∧noisy / erased, recall = erased∧noisy / noisy, and the noisy-snippet base rate (the precision of
  erasing at random); over clean clips, the erase rate (false alarms). Multi-view testing counts every view.
- :func:`kind_detection`, per noise kind k, one kind against the clean snippets of every clip: the share of
  kind-k snippets erased (its recall), precision = erased kind-k / (erased kind-k + erased clean), the base rate
  kind-k / (kind-k + clean), and the ROC-AUC of 1 − a* (kind-k positive, clean negative).
- :func:`roc_auc`: the threshold-free ranking measure, the Mann-Whitney statistic with ties counted half, i.e.
  the probability that a random noisy snippet has a lower a* than a random clean one. Over all snippets of all
  clips it is exactly what sweeping one global θ over a* trades off (ignoring the rule that a clip's best snippet
  is always kept).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .records import DetectionCounts, KindDetection, NoiseDetection

logger = logging.getLogger(__name__)


def frame_noise_flags(annotation: dict[str, Any]) -> np.ndarray:
    """Per-frame noise flags (n,) bool from a generator sidecar (``frames[t].noise`` is a kind or None)."""
    return np.array([f.get("noise") is not None for f in annotation["frames"]], dtype=bool)


def snippet_noise(flags: np.ndarray, indices: np.ndarray, num_snippets: int) -> np.ndarray:
    """(N,) bool: a snippet is noisy when more than half of the frames sampled for it are flagged noisy.

    ``indices`` (T,) are the sampled frame indices; snippet n holds the T/N consecutive ones from n·T/N.
    """
    indices = np.clip(np.asarray(indices, dtype=np.int64), 0, len(flags) - 1)
    per_snippet = flags[indices].reshape(num_snippets, -1)
    return np.asarray(per_snippet.mean(axis=1) > 0.5)


def detection_metrics(erased: np.ndarray, noisy: np.ndarray, clip_noisy: np.ndarray) -> NoiseDetection:
    """Erased-vs-noisy snippets: ``erased``, ``noisy`` (C, N) bool, one row per clip view; ``clip_noisy`` (C,).

    Precision and recall over the snippets of noisy clips, with the noisy-snippet base rate (the precision of
    erasing at random); the erase rate on clean clips is the false-alarm rate. Undefined ratios are None.
    """
    erased, noisy, clip_noisy = (np.asarray(a, dtype=bool) for a in (erased, noisy, clip_noisy))
    e, y = erased[clip_noisy], noisy[clip_noisy]
    clean = erased[~clip_noisy]
    tp = int((e & y).sum())

    def ratio(num: int, den: int) -> float | None:
        return num / den if den else None

    return NoiseDetection(
        precision=ratio(tp, int(e.sum())),
        recall=ratio(tp, int(y.sum())),
        base_rate=ratio(int(y.sum()), int(y.size)),
        erase_rate_noisy_clips=ratio(int(e.sum()), int(e.size)),
        false_alarm_noisy_clips=ratio(int((e & ~y).sum()), int((~y).sum())),
        erase_rate_clean_clips=ratio(int(clean.sum()), int(clean.size)),
        counts=DetectionCounts(noisy_clip_views=int(clip_noisy.sum()), clean_clip_views=int((~clip_noisy).sum()),
                               snippets_in_noisy_clips=int(e.size), noisy_snippets=int(y.sum()),
                               erased_in_noisy_clips=int(e.sum()), erased_noisy=tp,
                               erased_in_clean_clips=int(clean.sum())),
    )


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """ROC-AUC of ``scores`` for ``positive`` (bool) against the rest; None without both classes. Ties count half
    (average ranks), as sklearn's ``roc_auc_score``."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    positive = np.asarray(positive, dtype=bool).ravel()
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(scores.size, dtype=np.float64)
    # Average ranks (1-based) over runs of equal scores.
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [scores.size]])
    for a, b in zip(starts, ends, strict=True):
        ranks[order[a:b]] = (a + b + 1) / 2.0
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def kind_detection(kind: str, erased: np.ndarray, scores: np.ndarray, kinds: np.ndarray) -> KindDetection:
    """Kind ``kind`` against the clean snippets: ``erased`` (bool), ``scores`` (a*), ``kinds`` (str, "" clean),
    all of one shape (every snippet slot of every clip view)."""
    erased = np.asarray(erased, dtype=bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    kinds = np.asarray(kinds).ravel()
    pos, neg = kinds == kind, kinds == ""
    tp, fp = int((erased & pos).sum()), int((erased & neg).sum())
    n_pos, n_neg = int(pos.sum()), int(neg.sum())
    both = pos | neg
    return KindDetection(
        kind=kind, snippets=n_pos, erased=tp, erase_rate=tp / n_pos if n_pos else None,
        precision=tp / (tp + fp) if tp + fp else None,
        base_rate=n_pos / (n_pos + n_neg) if n_pos + n_neg else None,
        auc=roc_auc(1.0 - scores[both], pos[both]))
