"""Action-unit evidence from the text tower (dkclip.model.au_evidence) and its measurement against the generator's AU
intensities (dkclip.ablation.au_study), calibrated on rendered faces (dkclip.predict.au_calibration)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dkclip
from dkclip.ablation.au_study import measure_aus
from dkclip.ablation.noise import roc_auc
from dkclip.model.au_evidence import DEFAULT_AUS, AUEvidence, au_column, au_scores, encode_texts
from dkclip.predict.au_calibration import render_reference, synthetic_calibration
from dkclip.prompts import AU_NAMES
from dkclip.synth import AU_IDS


@pytest.fixture(scope="module")
def shipped() -> dkclip.DKClip:
    """The shipped CLIP zero-shot (frame-averaged embeddings), 8 test frames in 4 snippets."""
    torch.manual_seed(0)
    return dkclip.create_model("dkclip-tiny", pretrained="synthclip", temporal="avgpool", use_cmam=False,
                               num_frames=8, eval_num_frames=8, logit_scale=None).eval()


def test_names_and_the_public_api() -> None:
    assert au_column(1) == "AU01" and au_column(26) == "AU26"
    assert DEFAULT_AUS == tuple(sorted(AU_NAMES)) == AU_IDS
    assert dkclip.AUEvidence is AUEvidence and dkclip.au_scores is au_scores and "AUScores" in dkclip.__all__


def test_the_phrases_go_through_the_models_own_text_tower(shipped: dkclip.DKClip) -> None:
    prompts = shipped.text.prompts
    torch.testing.assert_close(encode_texts(shipped, prompts), shipped.text().float(), atol=1e-5, rtol=1e-5)


def test_raw_evidence_by_hand(shipped: dkclip.DKClip) -> None:
    ev = AUEvidence.from_model(shipped)
    assert ev.names[:3] == ["AU01", "AU02", "AU04"] and not ev.calibrated
    # A "video" embedding equal to the neutral text scores below 0 on every AU (cos(t0, ta) - 1 < 0); one equal to
    # AU12's phrase scores highest on AU12.
    raw = ev.raw(torch.stack([ev.neutral_text, ev.au_text[ev.aus.index(12)]]))
    assert raw.shape == (2, 17) and (raw[0] < 0).all()
    assert int(raw[1].argmax()) == ev.aus.index(12) and raw[1].max() > 0
    # Scale-free in the embedding, as cosine similarities are.
    np.testing.assert_allclose(ev.raw(3 * ev.au_text), ev.raw(ev.au_text), atol=1e-6)


def test_calibration_by_hand() -> None:
    ev = AUEvidence(aus=(1, 2), au_text=F.normalize(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), dim=-1),
                    neutral_text=torch.tensor([0.0, 0.0, 1.0]))
    # Raw of AU01 = (x - z) / |v| for v = (x, y, z); faces 0 and 3 show AU01, face 2 shows AU02.
    emb = torch.tensor([[0.8, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.8, 0.0, 0.2]])
    raw = ev.raw(emb)
    present = np.array([[True, False], [False, False], [False, True], [True, False]])
    ev.calibrate(emb, present)
    pos, neg = raw[present[:, 0], 0], raw[~present[:, 0], 0]
    assert ev.offset[0] == pytest.approx((pos.mean() + neg.mean()) / 2)
    pooled = np.sqrt((pos.var() * 2 + neg.var() * 2) / 4)
    assert ev.scale[0] == pytest.approx(pooled)
    # AU02 is shown by one face only: 0 goes two standard deviations above the faces without it.
    neg2 = raw[~present[:, 1], 1]
    assert ev.offset[1] == pytest.approx(neg2.mean() + 2 * neg2.std())
    scores = ev.score(emb)
    assert (scores[present[:, 0], 0] > 0).all() and (scores[~present[:, 0], 0] <= 0).all()
    saved = json.loads(json.dumps(ev.calibration()))
    fresh = AUEvidence(aus=ev.aus, au_text=ev.au_text, neutral_text=ev.neutral_text).load_calibration(saved)
    np.testing.assert_allclose(fresh.score(emb), scores)
    with pytest.raises(ValueError, match="is for AUs"):
        AUEvidence(aus=(1,), au_text=ev.au_text[:1], neutral_text=ev.neutral_text).load_calibration(saved)
    with pytest.raises(ValueError, match="differ in shape"):
        ev.calibrate(emb, present[:, :1])
    with pytest.raises(ValueError, match="at least two reference faces without"):
        ev.calibrate(emb[:2], np.array([[True, True], [True, False]]))


def test_scores_per_clip_and_snippet(shipped: dkclip.DKClip) -> None:
    video = torch.randn(2, 8, 3, 112, 112)
    scores = au_scores(shipped, video)
    assert scores.names == [au_column(a) for a in AU_IDS] and scores.aus == list(AU_IDS)
    assert scores.clip.shape == (2, 17) and scores.snippets.shape == (2, 4, 17) and not scores.calibrated
    ev = AUEvidence.from_model(shipped, aus=[12, 6])
    with torch.no_grad():
        out = shipped(video)
    again = ev.score_output(out)
    np.testing.assert_allclose(again.clip, scores.clip[:, [AU_IDS.index(12), AU_IDS.index(6)]], atol=1e-6)
    with pytest.raises(ValueError, match="no AU name"):
        AUEvidence.from_model(shipped, aus=[3])


def test_measures_by_hand() -> None:
    ev = AUEvidence(aus=(1,), au_text=torch.tensor([[1.0, 0.0]]), neutral_text=torch.tensor([0.0, 1.0]))
    cal = AUEvidence(aus=(1,), au_text=ev.au_text, neutral_text=ev.neutral_text, offset=np.array([0.5]),
                     scale=np.array([1.0]))
    video = torch.tensor([[1.0, 0.0], [0.7, 0.7], [0.0, 1.0]])  # raw 1, 0, -1
    snippets = video[:, None].repeat(1, 2, 1)
    clip_truth = np.zeros((3, len(AU_IDS)), dtype=bool)
    clip_truth[0, 0] = True
    m = measure_aus(ev, cal, video, snippets, clip_truth, clip_truth[:, None].repeat(2, axis=1))[0]
    assert (m.name, m.present_clips, m.present_snippets, m.clip_auc, m.snippet_auc) == ("AU01", 1, 2, 1.0, 1.0)
    assert (m.raw_specificity, m.raw_sensitivity) == (1.0, 1.0)  # raw 0 and -1 are <= 0
    assert (m.specificity, m.sensitivity) == (1.0, 1.0)  # calibrated: 0.5, -0.5, -1.5


def test_the_shipped_clip_ties_au_words_to_synthetic_faces(shipped: dkclip.DKClip) -> None:
    """A real check: on rendered faces of new identities, the shipped CLIP ranks the faces that show lip corner
    puller (AU12, happiness) and jaw drop (AU26, surprise) above those that do not, and the calibration puts most
    on the right side of 0."""
    videos, truth, snippet_truth = render_reference(shipped, per_class=3, seed=991)
    assert videos.shape == (21, 8, 3, 112, 112) and snippet_truth.shape == (21, 4, 17)
    with torch.no_grad():
        out = shipped(videos)
    ev = AUEvidence.from_model(shipped)
    raw = ev.raw(out.video_embedding)
    for au in (12, 26):
        k = AU_IDS.index(au)
        auc = roc_auc(raw[:, k], truth[:, k])
        assert auc is not None and auc > 0.8, (au, auc)
    calibrated = synthetic_calibration(shipped, AUEvidence.from_model(shipped), per_class=3)
    scores = calibrated.score(out.video_embedding)
    k = AU_IDS.index(12)
    assert (scores[truth[:, k], k] > 0).mean() >= 2 / 3 and (scores[~truth[:, k], k] <= 0).mean() >= 2 / 3


def test_the_au_block() -> None:
    from dkclip.ablation.au_study import BEGIN_MARKER, END_MARKER, AUStudy, render_au_study
    from dkclip.ablation.typed import from_dict

    au = {"au": 12, "name": "AU12", "present_clips": 100, "present_snippets": 300, "clip_auc": 0.9,
          "snippet_auc": 0.8, "raw_specificity": 0.6, "raw_sensitivity": 1.0, "specificity": 0.9, "sensitivity": None}
    result = {"test_list": "h.txt", "models": {
        "a": {"source": "shipped", "temporal": "avgpool", "clips": 700, "mean_clip_auc": 0.9, "mean_snippet_auc": 0.8,
              "aus": [au]},
        "b": {"source": "runs/x", "temporal": "hierarchical", "clips": 700, "mean_clip_auc": None,
              "mean_snippet_auc": 0.5, "aus": [{**au, "clip_auc": None}]}}}
    block = render_au_study(from_dict(AUStudy, result))  # the JSON as au_evidence.json holds it, typed
    assert block.startswith(BEGIN_MARKER + "\nTest set `h.txt` (700 clips).") and block.endswith(END_MARKER)
    row = next(line for line in block.splitlines() if line.startswith("| AU12"))
    assert row == "| AU12 | lip corner puller | 100 | 0.90 | 0.80 | 80 / 90 % | - | 0.80 | 80 / 90 % |"
    assert "| mean |  |  | **0.90** | **0.80** |  | **-** | **0.50** |  |" in block
