"""Direction checks: does the paper's ordering hold here, on mean UAR?

Table 4 each step ≥ the previous one; Table 5 d ≥ a, b, c; Fig. 3 θ=0.15 and N=4 the best (ties count as the
best; a flat curve shows no best setting). A claim that fails by at most one test clip (100 / test clips points)
is "near", else "does not reproduce", and every failure is listed again under "Where the paper does not
reproduce here". The NRM check passes when the full model's precision exceeds the noisy-snippet base rate, and
its companion when clean clips lose fewer snippets than noisy ones.
"""

from __future__ import annotations

import itertools

from .grid import FULL_MODEL_CELLS
from .records import Check, DetectionStats, Row

REPRODUCES = "reproduces"
NEAR = "near (within one test clip)"
FAILS = "does not reproduce"
NOT_CHECKED = "not checked"
FLAT_VERDICT = "not shown (every setting scores the same)"
VERDICTS: frozenset[str] = frozenset({REPRODUCES, NEAR, FAILS, NOT_CHECKED, FLAT_VERDICT})

_LABELS = {"table4": "{}", "table5": "{}", "theta": "θ={}", "snippets": "N={}"}


def verdict(ok: bool, near: bool = False) -> str:
    """``near``: the claim fails by at most one test clip's worth of UAR."""
    return REPRODUCES if ok else (NEAR if near else FAILS)


def label_of(exp_id: str) -> str:
    """How a check names a cell: ``θ=0.15`` for ``theta/0.15``, ``+HVE`` for ``table4/+HVE``."""
    table, name = exp_id.split("/", 1)
    return _LABELS.get(table, "{}").format(name)


def _mean(rows: dict[str, Row], exp_id: str) -> float | None:
    row = rows.get(exp_id)
    return None if row is None else row.uar.mean


def _uar(rows: dict[str, Row], exp_id: str) -> float:
    value = _mean(rows, exp_id)
    assert value is not None, exp_id  # callers check first
    return value


def _fmt(rows: dict[str, Row], exp_id: str) -> str:
    return f"{label_of(exp_id)} {_uar(rows, exp_id):.2f}"


def table4_check(rows: dict[str, Row], tol: float) -> Check | None:
    """Each component adds UAR; None when a step is missing."""
    steps = ["table4/baseline", "table4/+HVE", "table4/+ETP", "table4/+CCR"]
    if not all(_mean(rows, s) is not None for s in steps):
        return None
    falls = [(a, b) for a, b in itertools.pairwise(steps) if _uar(rows, b) < _uar(rows, a)]
    detail = "; ".join(f"{_fmt(rows, b)} < {_fmt(rows, a)}" for a, b in falls) or " ≤ ".join(_fmt(rows, s)
                                                                                              for s in steps)
    small = all(_uar(rows, a) - _uar(rows, b) <= tol for a, b in falls)
    return Check("each component adds UAR (baseline ≤ +HVE ≤ +ETP ≤ +CCR)", verdict(not falls, near=small), detail)


def best_check(rows: dict[str, Row], table: str, paper_best: str, claim: str, tol: float) -> Check | None:
    """The paper's best setting of ``table`` is the best here; None when cells are missing."""
    ids = [k for k, r in rows.items() if r.table == table]
    if paper_best not in ids or len(ids) < 2 or not all(_mean(rows, i) is not None for i in ids):
        return None
    top = max(_uar(rows, i) for i in ids)
    winners = [i for i in ids if _uar(rows, i) == top]
    gap = top - _uar(rows, paper_best)
    if len(winners) == len(ids):  # a flat curve has no best setting: the claimed peak is not shown
        return Check(claim, FLAT_VERDICT, f"every setting scores {top:.2f}: {', '.join(label_of(i) for i in ids)}")
    if gap <= 0:
        others = [_fmt(rows, i) for i in winners if i != paper_best]
        detail = f"{_fmt(rows, paper_best)} is the best" + (f", tied with {', '.join(others)}" if others else "")
    else:
        detail = f"best is {', '.join(_fmt(rows, i) for i in winners)}; {_fmt(rows, paper_best)}"
    return Check(claim, verdict(gap <= 0, near=gap <= tol), detail)


def full_model_detection(rows: dict[str, Row]) -> DetectionStats | None:
    """The full model's noise-detection stats (from whichever of its cells ran)."""
    for k in FULL_MODEL_CELLS:
        row = rows.get(k)
        if row is not None and row.detection is not None:
            return row.detection
    return None


def nrm_checks(rows: dict[str, Row]) -> dict[str, Check]:
    """``nrm`` (precision above the base rate) and ``nrm_clean`` (clean clips lose fewer snippets)."""
    full = full_model_detection(rows)
    if full is None:
        return {}
    checks: dict[str, Check] = {}
    claim = "the NRM erases noisy snippets: precision above the noisy-snippet base rate (erasing at random)"
    clean_claim = "the NRM leaves clean clips alone: fewer snippets erased in clean clips than in noisy ones"
    p, base, recall = full.precision.mean, full.base_rate.mean, full.recall.mean
    en, ec = full.erase_rate_noisy_clips.mean, full.erase_rate_clean_clips.mean
    if base is None or en is None or ec is None:
        checks["nrm"] = Check(claim, NOT_CHECKED, "no noisy or no clean test clips")
    elif p is None:
        checks["nrm"] = Check(claim, FAILS, "the full model erased no snippet of a noisy test clip")
    else:
        checks["nrm"] = Check(claim, verdict(p > base), f"full model: precision {p:.1f}% vs base rate {base:.1f}%"
                              + (f", recall {recall:.1f}%" if recall is not None else ""))
    if en is not None and ec is not None:
        checks["nrm_clean"] = Check(clean_claim, verdict(ec < en),
                                    f"full model: erased {en:.1f}% of snippets in noisy clips vs {ec:.1f}% in "
                                    "clean clips")
    return checks


def direction_checks(rows: dict[str, Row], tol: float) -> dict[str, Check]:
    """The paper's orderings, on mean UAR, keyed ``table4``, ``table5``, ``theta``, ``snippets``, ``nrm``,
    ``nrm_clean`` (absent where the cells are missing). ``tol``: one test clip's worth of UAR (points)."""
    tol += 1e-9  # exactly one clip short is "near"; the difference of two means is not exact in floats
    checks: dict[str, Check] = {}
    t4 = table4_check(rows, tol)
    if t4 is not None:
        checks["table4"] = t4
    for table, paper_best, claim in (("table5", "table5/d", "the hierarchical encoder (d) is the best temporal model"),
                                     ("theta", "theta/0.15", "θ = 0.15 is the best threshold"),
                                     ("snippets", "snippets/4", "N = 4 snippets is the best")):
        check = best_check(rows, table, paper_best, claim, tol)
        if check is not None:
            checks[table] = check
    checks.update(nrm_checks(rows))
    return checks


def failures(checks: dict[str, Check]) -> list[Check]:
    """Checks whose claim does not (or only nearly) reproduce, or shows no best setting."""
    return [c for c in checks.values() if c.verdict not in (REPRODUCES, NOT_CHECKED)]
