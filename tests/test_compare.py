"""``dkclip compare``: paired statistics of two runs on the same clips."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from dkclip.cli import main as cli_main
from dkclip.stats import bootstrap_ci, mcnemar, paired_bootstrap, uar_war

NAMES = ["happiness", "sadness", "neutral"]


def _write(path: Path, labels: np.ndarray, preds: np.ndarray, paths: list[str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "label_name", "global_pred", *(f"global_p_{n}" for n in NAMES)])
        for i, (y, p) in enumerate(zip(labels, preds, strict=True)):
            probs = np.full(3, 0.1)
            probs[p] = 0.8
            w.writerow([paths[i] if paths else f"clip{i}", y, NAMES[y], NAMES[p], *probs])
    return path


def test_mcnemar_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    for flip_a, flip_b in ((0.1, 0.12), (0.3, 0.45)):
        a = np.where(rng.random(300) < flip_a, (y + 1) % 3, y)
        b = np.where(rng.random(300) < flip_b, (y + 2) % 3, y)
        m = mcnemar(y, a, b)
        n = m.only_a + m.only_b
        if m.method == "exact binomial":
            ref = scipy_stats.binomtest(min(m.only_a, m.only_b), n, 0.5).pvalue
        else:
            ref = scipy_stats.chi2.sf((abs(m.only_a - m.only_b) - 1) ** 2 / n, 1)
        assert m.p_value == pytest.approx(ref, rel=1e-9)


def test_bootstrap_intervals_contain_the_estimate_and_shrink_with_more_clips() -> None:
    rng = np.random.default_rng(0)
    widths = []
    for n in (90, 900):
        y = rng.integers(0, 3, n)
        p = np.where(rng.random(n) < 0.3, rng.integers(0, 3, n), y)
        ci = bootstrap_ci(y, p, resamples=500)
        assert ci["uar"].low <= uar_war(y, p)[0] <= ci["uar"].high
        widths.append(ci["uar"].high - ci["uar"].low)
    assert widths[1] < widths[0] / 2
    same = paired_bootstrap(y, p, p, resamples=200)
    assert same["uar_diff"].low == same["uar_diff"].high == 0.0


def test_cli_compares_two_runs_on_the_same_clips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 400)
    a = np.where(rng.random(400) < 0.4, (y + 1) % 3, y)
    b = np.where(rng.random(400) < 0.2, (y + 1) % 3, y)
    order = rng.permutation(400)  # B lists the clips in another order: matched by path
    _write(tmp_path / "runA" / "predictions.csv", y, a)
    _write(tmp_path / "B.csv", y[order], b[order], [f"clip{i}" for i in order])
    assert cli_main(["compare", str(tmp_path / "runA"), str(tmp_path / "B.csv"), "--out",
                     str(tmp_path / "cmp.json")]) == 0
    out = capsys.readouterr().out
    assert "B − A (paired)" in out and "McNemar" in out
    result = json.loads((tmp_path / "cmp.json").read_text())
    assert result["clips"] == 400 and result["difference"]["uar_diff"]["low"] > 0  # B is clearly better
    assert result["mcnemar"]["p_value"] < 1e-6

    _write(tmp_path / "C.csv", y[:300], b[:300])
    assert cli_main(["compare", str(tmp_path / "runA"), str(tmp_path / "C.csv")]) == 1
    assert "not on the same clips: 100 of A's 400 are not in B" in capsys.readouterr().err


@pytest.mark.parametrize("resamples", [0, -5])
def test_no_resamples_is_a_plain_error(resamples: int) -> None:
    """--resamples 0 was an IndexError from the percentile code, -5 a numpy shape error."""
    from dkclip.errors import UsageError
    from dkclip.stats import bootstrap_ci

    with pytest.raises(UsageError, match="at least 1 resample"):
        bootstrap_ci(np.array([0, 1, 1]), np.array([0, 1, 0]), resamples=resamples)
