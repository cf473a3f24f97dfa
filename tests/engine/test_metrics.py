"""UAR/WAR and the confusion matrix against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, recall_score
from sklearn.metrics import confusion_matrix as sk_confusion

from dkclip.engine.metrics import confusion_matrix, report


def test_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 7, 500)
    preds = np.where(rng.random(500) < 0.6, labels, rng.integers(0, 7, 500))
    rep = report(labels, preds, [f"c{i}" for i in range(7)])
    np.testing.assert_array_equal(rep.confusion, sk_confusion(labels, preds, labels=range(7)))
    assert rep.war == pytest.approx(accuracy_score(labels, preds))
    assert rep.uar == pytest.approx(balanced_accuracy_score(labels, preds))
    np.testing.assert_allclose(rep.recall, recall_score(labels, preds, average=None, labels=range(7)))


def test_absent_class_is_left_out_of_uar() -> None:
    labels = np.array([0, 0, 1, 1])
    preds = np.array([0, 1, 1, 2])
    rep = report(labels, preds, ["a", "b", "c"])
    assert np.isnan(rep.recall[2])
    assert rep.uar == pytest.approx(0.5) and rep.war == pytest.approx(0.5)
    assert rep.as_dict()["per_class_recall"]["c"] is None


def test_out_of_range_labels_are_errors() -> None:
    with pytest.raises(ValueError, match="label out of range"):
        confusion_matrix([0, 7], [0, 1], 7)


def test_report_files(tmp_path) -> None:
    rep = report([0, 1, 1], [0, 1, 0], ["happy", "sad"])
    rep.write_csv(tmp_path / "c.csv")
    assert (tmp_path / "c.csv").read_text().splitlines() == ["true\\pred,happy,sad", "happy,1,0", "sad,1,1"]
    rep.plot(tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
