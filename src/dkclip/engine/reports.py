"""Reports of an evaluation: per-head summaries, the Markdown table printed to the console, and the
confusion-matrix files (CSV + PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    rep.write_csv(out_dir / f"{stem}_confusion.csv")
    rep.plot(out_dir / f"{stem}_confusion.png", title=title)


def write_predictions_csv(preds: Predictions, paths: list[str], class_names: list[str], path: Path) -> None:
    """One row per clip: its path and label, then per head the predicted class and the class probabilities
    (the head's scores summed over views, normalised to sum to 1; ``.9g`` keeps float32 values exact)."""
    import csv
    import io

    import numpy as np

    from ..fileio import atomic_write_text

    header = ["path", "label", "label_name"]
    for head in HEADS:
        header += [f"{head}_pred", *(f"{head}_p_{name}" for name in class_names)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    normalised = {h: p / np.maximum(p.sum(axis=1, keepdims=True), 1e-30) for h, p in preds.probs.items()}
    for row, (index, label) in enumerate(zip(preds.indices.tolist(), preds.labels.tolist(), strict=True)):
        cells: list[object] = [paths[index], label, class_names[label] if 0 <= label < len(class_names) else ""]
        for head in HEADS:
            probs = normalised[head][row]
            cells += [class_names[int(probs.argmax())], *(f"{v:.9g}" for v in probs.tolist())]
        writer.writerow(cells)
    atomic_write_text(path, buffer.getvalue())
