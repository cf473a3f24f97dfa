"""Reports of an evaluation: per-head summaries, the Markdown table printed to the console, and the
confusion-matrix files (CSV + PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..tables import markdown_table, percent
from .inference import HEADS, Predictions
from .metrics import ClassificationReport


def summarize(preds: Predictions, class_names: list[str]) -> dict[str, Any]:
    return {head: preds.report(head, class_names).as_dict() for head in HEADS}


def format_table(rep: ClassificationReport, title: str = "") -> str:
    """A Markdown table: per-class recall, UAR and WAR in percent."""
    row = [*(percent(r) for r in rep.recall), percent(rep.uar), percent(rep.war)]
    table = markdown_table([*rep.class_names, "UAR", "WAR"], [row])
    return f"{title}\n{table}" if title else table


def write_report_files(rep: ClassificationReport, out_dir: Path, stem: str, title: str = "") -> None:
    """``<stem>_confusion.csv`` and ``.png`` (``confusion.*`` when ``stem`` is empty)."""
    name = f"{stem}_confusion" if stem else "confusion"
    rep.write_csv(out_dir / f"{name}.csv")
    rep.plot(out_dir / f"{name}.png", title=title)


def write_per_class_csv(reports: dict[str, ClassificationReport], path: Path) -> None:
    """The per-class table of one or more heads: support, and per head the recall and the clips predicted as the
    class; last rows UAR and WAR. Recall of a class without clips is left empty (it is not part of the UAR)."""
    import csv
    import io

    from ..fileio import atomic_write_text

    heads = list(reports)
    first = reports[heads[0]]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["class", "support", *(f"{h}_{col}" for h in heads for col in ("recall", "predicted"))])
    for i, name in enumerate(first.class_names):
        row: list[object] = [name, int(first.support[i])]
        for h in heads:
            rep = reports[h]
            recall = rep.recall[i]
            row += ["" if np.isnan(recall) else f"{recall:.6f}", int(rep.confusion[:, i].sum())]
        writer.writerow(row)
    for metric in ("uar", "war"):
        row = [metric.upper(), int(first.support.sum())]
        for h in heads:
            value = getattr(reports[h], metric)
            row += ["" if np.isnan(value) else f"{value:.6f}", ""]
        writer.writerow(row)
    atomic_write_text(path, buffer.getvalue())


def write_predictions_csv(preds: Predictions, paths: list[str], class_names: list[str], path: Path,
                          heads: Sequence[str] = HEADS) -> None:
    """One row per clip: its path and label, then per head the predicted class and the class probabilities
    (:mod:`dkclip.model.heads`: averaged over views; ``.9g`` keeps float32 values exact).

    With the NRM's outputs (``predict(..., snippets=True)``), two more columns per clip: ``snippet_scores`` (the
    NRM's a* per snippet, space-separated) and ``kept`` (1 for a kept snippet, 0 for an erased one, e.g.
    ``1101``); with several views, one group per view separated by ``|``.
    """
    import csv
    import io

    from ..fileio import atomic_write_text

    header = ["path", "label", "label_name"]
    for head in heads:
        header += [f"{head}_pred", *(f"{head}_p_{name}" for name in class_names)]
    snippets = preds.kept is not None and preds.snippet_scores is not None
    if snippets:
        header += ["snippet_scores", "kept"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row, (index, label) in enumerate(zip(preds.indices.tolist(), preds.labels.tolist(), strict=True)):
        cells: list[object] = [paths[index], label, class_names[label] if 0 <= label < len(class_names) else ""]
        for head in heads:
            probs = preds.probs[head][row]
            cells += [class_names[int(probs.argmax())], *(f"{v:.9g}" for v in probs.tolist())]
        if snippets:
            assert preds.kept is not None and preds.snippet_scores is not None
            cells += ["|".join(" ".join(f"{v:.6g}" for v in view) for view in preds.snippet_scores[row].tolist()),
                      "|".join("".join("1" if k else "0" for k in view) for view in preds.kept[row].tolist())]
        writer.writerow(cells)
    atomic_write_text(path, buffer.getvalue())
