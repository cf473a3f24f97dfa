"""The per-clip predictions file, the held-out datasets, and the evaluation's measures on stored predictions."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from ablation_helpers import fake_predictions, write_list

from dkclip.ablation.evaluation import EvalRequest, measure, predictions_path, request_name
from dkclip.ablation.heldout import (
    HELDOUT_SEED,
    TRAIN_SEED,
    TestSet,
    ensure_synth,
    heldout_spec,
    per_class_subset,
    training_spec,
)
from dkclip.ablation.predictions import read_predictions, write_predictions
from dkclip.errors import UsageError
from dkclip.pretrain.data import IDENTITY_SEED_BASE
from dkclip.stats import uar_war
from dkclip.synth import SynthConfig, appearance_of


def test_predictions_round_trip_and_write_the_same_bytes(tmp_path: Path) -> None:
    p = fake_predictions([0, 1, 2, 3, 4, 5, 6] * 3, 0.6, "x")
    path = write_predictions(tmp_path / "p.csv.gz", p)
    first = path.read_bytes()
    back = read_predictions(path, 4)
    assert back.clips == p.clips and back.noise == p.noise and back.views == 1
    np.testing.assert_array_equal(back.labels, p.labels)
    np.testing.assert_array_equal(back.kept, p.kept)
    np.testing.assert_array_equal(back.clip_noisy, p.clip_noisy)
    np.testing.assert_allclose(back.global_probs, p.global_probs, atol=5e-6)
    np.testing.assert_allclose(back.scores, p.scores, atol=5e-6)
    np.testing.assert_array_equal(back.preds("fused"), p.preds("fused"))
    assert write_predictions(tmp_path / "q.csv.gz", p).read_bytes() == first  # no time stamp in the header
    header = gzip.decompress(first).decode().splitlines()[0]
    assert header.startswith("clip,label,clip_noisy,g0,") and header.endswith(",a3,kept3,cos3,noise3")


def test_measures_of_stored_predictions(tmp_path: Path) -> None:
    labels = [c for c in range(7) for _ in range(10)]
    p = fake_predictions(labels, 0.7, "m")
    ts = TestSet("heldout", str(tmp_path), str(write_list(tmp_path / "l.txt", 10)))
    req = EvalRequest(request_name("heldout", "none"), ts, "none", predictions_path("k", "heldout", "none"))
    ev = measure(req, p, "d" * 16, True, 1.0)
    assert (ev.name, ev.variant, ev.predictions) == ("heldout@nrm_norm=none", "nrm_norm=none",
                                                     "predictions/k.heldout.nrm-none.csv.gz")
    assert (ev.heads["global"].uar, ev.heads["global"].war) == pytest.approx(uar_war(p.labels, p.preds("global")))
    assert ev.detection is not None and ev.auc is not None and ev.auc > 0.5
    assert set(ev.by_kind) == {"expression", "occlusion", "blur", "dark"}
    assert sum(k.snippets for k in ev.by_kind.values()) == int(p.noisy.sum())
    without = measure(req, p, "d" * 16, False, 1.0)  # no NRM: nothing is a detection, the ranking still is
    assert without.detection is None and without.by_kind == {} and without.auc == ev.auc


def test_held_out_identities_are_new() -> None:
    """Identities are (dataset seed, index): the held-out seed is neither the fine-tuning data's nor the
    pretraining stream's (nor its probe's), so no held-out face was seen before."""
    assert HELDOUT_SEED not in (TRAIN_SEED, IDENTITY_SEED_BASE, IDENTITY_SEED_BASE + 10_000 + 99)
    cfg = SynthConfig()
    held = {appearance_of(HELDOUT_SEED, i, cfg).to_dict()["skin"].__repr__() + repr(
        appearance_of(HELDOUT_SEED, i, cfg).face_w) for i in range(20)}
    train = {appearance_of(TRAIN_SEED, i, cfg).to_dict()["skin"].__repr__() + repr(
        appearance_of(TRAIN_SEED, i, cfg).face_w) for i in range(35)}
    assert not held & train


def test_synth_specs_commands_and_reuse(tmp_path: Path) -> None:
    assert heldout_spec("data/synth-heldout", "aligned").command() == \
        "dkclip synth --out data/synth-heldout --clips-per-class 100 --seed 7000 --folds 1"
    assert heldout_spec("h", "wild").command() == \
        "dkclip synth --out h --preset wild --clips-per-class 100 --seed 7000 --folds 1"
    assert training_spec("data/synth-wild", "wild").command() == "dkclip synth --out data/synth-wild --preset wild"
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x.txt").write_text("x")
    with pytest.raises(UsageError, match="holds no synthetic dataset"):
        ensure_synth(heldout_spec(tmp_path / "junk", "aligned"))


def test_per_class_subset_keeps_list_order(tmp_path: Path) -> None:
    src = write_list(tmp_path / "all.txt", 5)
    out = per_class_subset(src, 2, tmp_path / "sub.txt")
    lines = out.read_text().splitlines()
    assert len(lines) == 14 and lines[:3] == ["frames/00000 16 0", "frames/00001 16 0", "frames/00005 16 1"]
    stamp = out.stat().st_mtime_ns
    per_class_subset(src, 2, out)
    assert out.stat().st_mtime_ns == stamp  # unchanged content is not rewritten
