"""``dkclip compare A B``: two models' predictions on the same clips, side by side and tested.

Each side is a run directory, an evaluation folder (``dkclip evaluate --out``) or a ``predictions.csv``. Clips are
matched by path; both must hold the same clips. Reported: each side's UAR and WAR with 95% bootstrap intervals
over clips, the paired bootstrap interval of the difference B − A, and McNemar's test on the clips exactly one of
them gets right.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.errors import DataError
from ..errors import UsageError
from ..fileio import atomic_write_json
from ..stats import bootstrap_ci, mcnemar, paired_bootstrap
from ..tables import markdown_table, percent


@dataclass
class PredictionTable:
    source: Path
    paths: list[str]
    labels: np.ndarray
    preds: dict[str, np.ndarray]  # head -> predicted class index
    class_names: list[str]


def predictions_file(path: str | Path) -> Path:
    path = Path(path)
    if path.is_file():
        return path
    for candidate in (path / "predictions.csv",):
        if candidate.is_file():
            return candidate
    raise UsageError(f"{path}: no predictions.csv (give a run directory, an evaluation folder or the CSV itself)")


def read_predictions(path: str | Path) -> PredictionTable:
    file = predictions_file(path)
    with file.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = reader.fieldnames or []
        if not {"path", "label"} <= set(fields):
            raise DataError(f"{file}: not a dkclip predictions.csv (no path/label columns)")
        rows = list(reader)
    if not rows:
        raise DataError(f"{file}: no predictions")
    heads = [f[: -len("_pred")] for f in fields if f.endswith("_pred")]
    names = [f[len(f"{heads[0]}_p_"):] for f in fields if f.startswith(f"{heads[0]}_p_")]
    index = {n: i for i, n in enumerate(names)}
    try:
        labels = np.array([int(r["label"]) for r in rows])
        preds = {h: np.array([index[r[f"{h}_pred"]] for r in rows]) for h in heads}
    except (KeyError, ValueError) as exc:
        raise DataError(f"{file}: malformed predictions ({exc})") from None
    return PredictionTable(file, [r["path"] for r in rows], labels, preds, names)


def compare(a: str | Path, b: str | Path, head: str = "global", resamples: int = 2000, seed: int = 0,
            out: str | Path | None = None) -> dict[str, Any]:
    ta, tb = read_predictions(a), read_predictions(b)
    for t in (ta, tb):
        if head not in t.preds:
            raise UsageError(f"{t.source}: no {head!r} head (has {sorted(t.preds)})")
    if ta.class_names != tb.class_names:
        raise DataError(f"the two sides have different classes: {ta.class_names} vs {tb.class_names}")
    pos_b = {p: i for i, p in enumerate(tb.paths)}
    missing_b = [p for p in ta.paths if p not in pos_b]
    extra_b = len(tb.paths) - (len(ta.paths) - len(missing_b))
    if missing_b or extra_b:
        raise DataError(f"the sides are not on the same clips: {len(missing_b)} of A's {len(ta.paths)} are not in B, "
                        f"{extra_b} of B's are not in A (e.g. {(missing_b or ['-'])[0]})")
    order = np.array([pos_b[p] for p in ta.paths])
    labels = ta.labels
    if not np.array_equal(labels, tb.labels[order]):
        raise DataError("the two sides disagree on the labels of the same clips")
    pa, pb = ta.preds[head], tb.preds[head][order]
    ci_a, ci_b = bootstrap_ci(labels, pa, resamples, seed=seed), bootstrap_ci(labels, pb, resamples, seed=seed)
    diff = paired_bootstrap(labels, pa, pb, resamples, seed=seed)
    test = mcnemar(labels, pa, pb)
    result = {"a": str(ta.source), "b": str(tb.source), "head": head, "clips": int(labels.size),
              "resamples": resamples, "seed": seed,
              "a_ci": {k: v.as_dict() for k, v in ci_a.items()}, "b_ci": {k: v.as_dict() for k, v in ci_b.items()},
              "difference": {k: (v.as_dict() if hasattr(v, "as_dict") else v) for k, v in diff.items()},
              "mcnemar": test.as_dict()}
    if out is not None:
        atomic_write_json(out, result)
    return result


def format_comparison(result: dict[str, Any]) -> str:
    def ci(d: dict[str, float]) -> str:
        return f"{percent(d['estimate'])} [{percent(d['low'])}, {percent(d['high'])}]"

    rows = [["A", ci(result["a_ci"]["uar"]), ci(result["a_ci"]["war"])],
            ["B", ci(result["b_ci"]["uar"]), ci(result["b_ci"]["war"])],
            ["B − A (paired)", ci(result["difference"]["uar_diff"]), ci(result["difference"]["war_diff"])]]
    m = result["mcnemar"]
    lines = [f"A: {result['a']}", f"B: {result['b']}",
             f"{result['head']} head, {result['clips']} clips, 95% bootstrap intervals ({result['resamples']} "
             "resamples over clips, stratified by class)", "",
             markdown_table(["", "UAR", "WAR"], rows), "",
             f"McNemar: A right and B wrong on {m['only_a_correct']} clips, B right and A wrong on "
             f"{m['only_b_correct']}; p = {m['p_value']:.3g} ({m['method']})"]
    return "\n".join(lines)
