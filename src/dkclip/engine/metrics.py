"""Classification metrics on the full test set: confusion matrix, WAR (accuracy), UAR (mean class recall).

UAR is the mean over classes of recall_c computed from one confusion matrix of *all* test clips (gathered
across ranks before this is called), not the mean of per-rank UARs as in the authors' script (docs/method.md §5.1).
Classes absent from the test set are left out of the UAR mean (and reported as NaN recall).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..fileio import atomic_write, atomic_write_text


def confusion_matrix(labels: torch.Tensor | np.ndarray, preds: torch.Tensor | np.ndarray,
                     num_classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    labels = np.asarray(labels, dtype=np.int64).ravel()
    preds = np.asarray(preds, dtype=np.int64).ravel()
    if labels.shape != preds.shape:
        raise ValueError(f"{labels.size} labels for {preds.size} predictions")
    for name, values in (("label", labels), ("prediction", preds)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name} out of range [0, {num_classes}): {values.min()}..{values.max()}")
    return np.bincount(labels * num_classes + preds, minlength=num_classes**2).reshape(num_classes, num_classes)


@dataclass
class ClassificationReport:
    confusion: np.ndarray
    class_names: list[str]

    @property
    def support(self) -> np.ndarray:
        return self.confusion.sum(axis=1)

    @property
    def recall(self) -> np.ndarray:
        support = self.support
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(support > 0, np.diag(self.confusion) / np.maximum(support, 1), np.nan)

    @property
    def war(self) -> float:
        total = self.confusion.sum()
        return float(np.trace(self.confusion) / total) if total else math.nan

    @property
    def uar(self) -> float:
        recall = self.recall
        present = ~np.isnan(recall)
        return float(recall[present].mean()) if present.any() else math.nan

    def as_dict(self) -> dict:
        return {
            "war": self.war,
            "uar": self.uar,
            "num_samples": int(self.confusion.sum()),
            "per_class_recall": {n: (None if math.isnan(r) else float(r)) for n, r in zip(self.class_names,
                                                                                         self.recall, strict=True)},
            "support": {n: int(s) for n, s in zip(self.class_names, self.support, strict=True)},
            "confusion": self.confusion.tolist(),
        }

    def write_csv(self, path: str | Path) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["true\\pred", *self.class_names])
        for name, row in zip(self.class_names, self.confusion, strict=True):
            writer.writerow([name, *row.tolist()])
        atomic_write_text(path, buffer.getvalue())

    def plot(self, path: str | Path, title: str = "") -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        k = len(self.class_names)
        rows = self.confusion / np.maximum(self.confusion.sum(axis=1, keepdims=True), 1)
        fig, ax = plt.subplots(figsize=(1.0 + 0.7 * k, 1.0 + 0.6 * k))
        ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{100 * rows[i, j]:.0f}\n({self.confusion[i, j]})", ha="center", va="center",
                        fontsize=7, color="white" if rows[i, j] > 0.5 else "black")
        ax.set_xticks(range(k), self.class_names, rotation=45, ha="right")
        ax.set_yticks(range(k), self.class_names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title or f"UAR {100 * self.uar:.2f}  WAR {100 * self.war:.2f}")
        fig.tight_layout()
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
        plt.close(fig)


def report(labels: torch.Tensor | np.ndarray, preds: torch.Tensor | np.ndarray,
           class_names: list[str]) -> ClassificationReport:
    return ClassificationReport(confusion_matrix(labels, preds, len(class_names)), list(class_names))
