"""The claims: the paper's orderings, each a paired comparison of two cells on the same held-out clips, decided
from the stored per-clip predictions; and the effects whose size is compared between the presets.

**Claims** (the paper's orderings, each a paired comparison on the same held-out clips):

- Table 4: each step adds UAR (+HVE > baseline, +ETP > +HVE, +CCR > +ETP);
- Table 5: the hierarchical encoder d beats a, b and c;
- Fig. 3: θ = 0.15 beats every other θ, N = 4 every other N.

**Verdict** of a claim, from the seeds-pooled 95% interval of UAR(better) − UAR(worse)
(:mod:`dkclip.ablation.paired`): *reproduces* when it lies above 0, *contradicts* when below, *not resolved* when
it contains 0, *identical* when no clip of any seed is right in one cell and wrong in the other (a change that
does not reach the reported head's decisions), *missing* while a cell has no recorded run. The intervals are
not corrected for the number of claims (16 per preset): at 95%, about one in twenty claims without a true
difference still comes out resolved. They are over clips, given the three trained seeds: the pooled interval
does not resample training seeds, so a verdict carried by one seed (see the per-seed column) is weaker than one
all seeds agree on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .grid import THETAS
from .paired import Span, difference_of_differences, pair_test_pooled, pair_test_seed, pooled_diff_draws
from .predictions import ClipPredictions, read_predictions
from .records import RunRecord
from .summary import (
    CONTRADICTS,
    GROWS,
    IDENTICAL,
    MISSING,
    REPRODUCES,
    SHRINKS,
    UNRESOLVED,
    Cell,
    Claim,
    Growth,
    PartSummary,
)

HEAD = "global"  # the head the paper reports

# (table, better, worse, claim): the paper's orderings as paired comparisons.
CLAIMS: tuple[tuple[str, str, str, str], ...] = (
    ("table4", "table4/+HVE", "table4/baseline", "+HVE (hierarchical encoder) adds UAR over the baseline"),
    ("table4", "table4/+ETP", "table4/+HVE", "+ETP (AU prompts + CMAM) adds UAR over +HVE"),
    ("table4", "table4/+CCR", "table4/+ETP", "+CCR (NRM + consistency losses) adds UAR over +ETP"),
    ("table5", "table5/d", "table5/a", "d (hierarchical) beats a (average pooling)"),
    ("table5", "table5/d", "table5/b", "d (hierarchical) beats b (frame transformer)"),
    ("table5", "table5/d", "table5/c", "d (hierarchical) beats c (cross-frame)"),
    *[("theta", "theta/0.15", f"theta/{t:g}", f"θ = 0.15 beats θ = {t:g}") for t in THETAS if t != 0.15],
    *[("snippets", "snippets/4", f"snippets/{n}", f"N = 4 beats N = {n}") for n in (1, 2, 8)],
)
# Effects whose size is compared between the presets: does it grow in the wild?
GROWTH: tuple[tuple[str, str, str], ...] = (
    ("table4/+HVE", "table4/baseline", "temporal: +HVE over the baseline"),
    ("table5/d", "table5/a", "temporal: d (hierarchical) over a (average pooling)"),
    ("table4/+CCR", "table4/+ETP", "noise: +CCR (NRM + consistency) over +ETP"),
)


def claim_id(better: str, worse: str) -> str:
    return f"{better}>{worse}"


class PredictionStore:
    """Reads (and caches) the stored predictions of a preset's runs."""

    def __init__(self, records_dir: Path) -> None:
        self.records_dir = records_dir
        self._cache: dict[str, ClipPredictions] = {}

    def get(self, record: RunRecord, evaluation: str) -> ClipPredictions | None:
        ev = record.evaluations.get(evaluation)
        if ev is None:
            return None
        path = self.records_dir / ev.predictions
        if str(path) not in self._cache:
            if not path.is_file():
                return None
            self._cache[str(path)] = read_predictions(path, int(record.model_options.get("num_snippets", 4)))
        return self._cache[str(path)]


def seed_predictions(cell: Cell, records: dict[str, RunRecord], store: PredictionStore,
                seeds: Sequence[int]) -> dict[int, ClipPredictions]:
    out = {}
    for s, k in zip(seeds, cell.keys, strict=True):
        if k is None:
            continue
        p = store.get(records[k], cell.evaluation)
        if p is not None:
            out[s] = p
    return out


def paired_claim(table: str, better: Cell, worse: Cell, text: str, records: dict[str, RunRecord],
                 store: PredictionStore, seeds: Sequence[int]) -> Claim:
    pb, pw = seed_predictions(better, records, store, seeds), seed_predictions(worse, records, store, seeds)
    common = [s for s in seeds if s in pb and s in pw]
    cid = claim_id(better.id, worse.id)
    if not common:
        return Claim(cid, table, text, better.id, worse.id, [], None, [], MISSING, "no seed has both cells yet")
    for s in common:
        if pb[s].clips != pw[s].clips:
            raise ValueError(f"{cid}: seed {s} evaluated the two cells on different clips")
    labels = pb[common[0]].labels
    per_seed = [pair_test_seed(labels, pw[s].preds(HEAD), pb[s].preds(HEAD), s) for s in common]
    pooled = pair_test_pooled(labels, [pw[s].preds(HEAD) for s in common], [pb[s].preds(HEAD) for s in common])
    d = pooled.uar_diff
    verdict = REPRODUCES if d.low > 0 else CONTRADICTS if d.high < 0 else UNRESOLVED
    if pooled.only_a == pooled.only_b == 0:  # not one discordant clip: the change never reaches a decision
        verdict = IDENTICAL
    positive = sum(t.uar_diff.estimate > 0 for t in per_seed)
    detail = (f"ΔUAR {d.estimate:+.2f} [{d.low:+.2f}, {d.high:+.2f}] over {len(common)} seed"
              f"{'s' if len(common) > 1 else ''}; {positive} of {len(common)} seeds positive; McNemar "
              f"{pooled.only_b} vs {pooled.only_a} discordant, p = {_p(pooled.mcnemar_p)}")
    if len(common) < len(seeds):
        detail += f" (seeds {', '.join(map(str, common))} only)"
    return Claim(cid, table, text, better.id, worse.id, common, pooled, per_seed, verdict, detail)


def _p(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-4 else "< 1e-4"


def growth(parts: dict[str, PartSummary], records_dirs: dict[str, Path], seeds: Sequence[int]) -> list[Growth]:
    if "aligned" not in parts or "wild" not in parts:
        return []
    out = []
    for better, worse, text in GROWTH:
        spans: dict[str, Span | None] = {}
        draws: dict[str, np.ndarray] = {}
        for i, preset in enumerate(("aligned", "wild")):
            part = parts[preset]
            claim = part.claims.get(claim_id(better, worse))
            if claim is None or claim.pooled is None:
                spans[preset] = None
                continue
            spans[preset] = claim.pooled.uar_diff
            store = PredictionStore(records_dirs[preset])
            pb = seed_predictions(part.cells[better], part.runs, store, seeds)
            pw = seed_predictions(part.cells[worse], part.runs, store, seeds)
            labels = pb[claim.seeds[0]].labels
            draws[preset] = pooled_diff_draws(labels, [pw[s].preds(HEAD) for s in claim.seeds],
                                              [pb[s].preds(HEAD) for s in claim.seeds], seed=i)
        a, w = spans["aligned"], spans["wild"]
        if a is None or w is None:
            out.append(Growth(text, better, worse, a, w, None, MISSING))
            continue
        diff = difference_of_differences(draws["aligned"], draws["wild"], (w.estimate - a.estimate) / 100)
        verdict = GROWS if diff.low > 0 else SHRINKS if diff.high < 0 else UNRESOLVED
        out.append(Growth(text, better, worse, a, w, diff, verdict))
    return out
