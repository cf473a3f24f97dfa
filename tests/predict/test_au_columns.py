"""Action-unit evidence in the video predictor's outputs: AU01, AU02, ... columns from the same forward pass,
per-frame values from the snippets covering each frame, the shipped calibration of the default model, and the
CLI's --no-aus / --au-calibration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from predict_helpers import BlobDetector, moving_box, tiny_model, write_scene_video

import dkclip
from dkclip.cli import main
from dkclip.model.au_evidence import DEFAULT_AUS, AUEvidence, au_column, au_scores
from dkclip.predict import Predictor
from dkclip.predict.au_calibration import DEFAULT_AU_CALIBRATION, au_evidence_for, calibration_document
from dkclip.predict.models import default_model
from dkclip.predict.outputs import WindowResult, frame_aus, snippet_spans
from dkclip.predict.pipeline import WindowJob
from dkclip.predict.predictor import ModelRunner
from dkclip.synth import ClipSpec, render_clip, write_mp4

AU_COLUMNS = [au_column(a) for a in DEFAULT_AUS]


@pytest.fixture(scope="module")
def face_video(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_scene_video(tmp_path_factory.mktemp("v") / "one.mp4", lambda i: [moving_box(i)], 75, fps=25)


def _job(sample_frames: list[int], start: int, end: int, crops: np.ndarray | None = None) -> WindowJob:
    return WindowJob(track=0, face_id=1, index=0, start_time=start / 25, end_time=(end + 1) / 25, start_frame=start,
                     end_frame=end, sample_frames=np.array(sample_frames), crops=crops, box=np.zeros(4))


def test_runner_scores_aus_from_the_same_forward_pass() -> None:
    model = tiny_model()
    cfg = model.config
    evidence = AUEvidence.from_model(model)
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (2, cfg.test_num_frames, cfg.image_size, cfg.image_size, 3), dtype=np.uint8)
    runner = ModelRunner(model, device="cpu", evidence=evidence)
    jobs = [_job(list(range(cfg.test_num_frames)), 0, 15, crops[i].copy()) for i in range(2)]
    results = runner(jobs)
    video = runner.eval_tf.transform(torch.from_numpy(crops).flatten(0, 1).permute(0, 3, 1, 2))
    expected = au_scores(model, video.view(2, cfg.test_num_frames, *video.shape[1:]), evidence)
    for i, r in enumerate(results):
        assert r.aus is not None and r.snippet_aus is not None
        assert r.aus.shape == (len(DEFAULT_AUS),) and r.snippet_aus.shape == (cfg.num_snippets, len(DEFAULT_AUS))
        np.testing.assert_allclose(r.aus, expected.clip[i], atol=1e-5)
        np.testing.assert_allclose(r.snippet_aus, expected.snippets[i], atol=1e-5)
    assert ModelRunner(model, device="cpu")([_job(list(range(16)), 0, 15, crops[0].copy())])[0].aus is None


def test_snippet_spans_tile_the_window() -> None:
    job = _job([1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31], 0, 32)
    r = WindowResult(job, np.ones(7) / 7, np.ones(4) / 4, np.ones(4, bool))
    starts, ends = snippet_spans(r)
    assert starts.tolist() == [0, 9, 17, 25] and ends.tolist() == [8, 16, 24, 32]
    looped = _job([0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7], 0, 7)  # a short window seen twice
    starts, ends = snippet_spans(WindowResult(looped, np.ones(7) / 7, np.ones(4) / 4, np.ones(4, bool)))
    assert starts.tolist() == [0] * 4 and ends.tolist() == [7] * 4


def test_frame_aus_average_the_covering_snippets() -> None:
    a = WindowResult(_job(list(range(0, 16)), 0, 15), np.ones(7) / 7, np.ones(4) / 4, np.ones(4, bool),
                     aus=np.zeros(2), snippet_aus=np.array([[1.0, 0], [2, 0], [3, 0], [4, 0]]))
    b = WindowResult(_job(list(range(8, 24)), 8, 23), np.ones(7) / 7, np.ones(4) / 4, np.ones(4, bool),
                     aus=np.zeros(2), snippet_aus=np.array([[10.0, 1], [20, 1], [30, 1], [40, 1]]))
    got = frame_aus(np.array([0, 5, 9, 13, 20, 23, 30]), [a, b], 2)
    # frame 0: a's snippet 0; 5: a's 1; 9: a's 2 and b's 0; 13: a's 3 and b's 1; 20: b's 3; 30: nothing.
    np.testing.assert_allclose(got[:6, 0], [1, 2, (3 + 10) / 2, (4 + 20) / 2, 40, 40])
    np.testing.assert_allclose(got[:6, 1], [0, 0, 0.5, 0.5, 1, 1])
    assert np.isnan(got[6]).all()


def test_predictor_writes_au_columns(face_video: str, tmp_path: Path) -> None:
    result = Predictor(tiny_model(), detector=BlobDetector(), detect_every=2).predict(face_video)
    assert result.au_names == AU_COLUMNS
    windows, frames = result.windows, result.frames
    assert list(windows.columns[-len(AU_COLUMNS):]) == AU_COLUMNS
    assert list(frames.columns[-len(AU_COLUMNS):]) == AU_COLUMNS
    assert np.isfinite(windows[AU_COLUMNS].to_numpy()).all()
    face_rows = frames[frames.face_id.notna()]
    assert len(face_rows) == 75 and np.isfinite(face_rows[AU_COLUMNS].to_numpy(dtype=float)).all()
    # The window's clip evidence is the model's, its snippets' evidence drives the per-frame columns.
    first = result.window_results[0]
    np.testing.assert_allclose(windows.iloc[0][AU_COLUMNS].to_numpy(dtype=float), first.aus, atol=1e-9)
    assert result.settings["au_columns"] == AU_COLUMNS and result.settings["au_calibrated"] is False

    result.save(tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "windows.json").read_text())
    assert doc["au_columns"] == AU_COLUMNS and doc["au_calibrated"] is False
    w = doc["windows"][0]
    assert set(w["aus"]) == set(AU_COLUMNS)
    assert np.array(w["snippet_aus"]).shape == (tiny_model().config.num_snippets, len(AU_COLUMNS))
    header = (tmp_path / "out" / "windows.csv").read_text().splitlines()[0].split(",")
    assert header[-len(AU_COLUMNS):] == AU_COLUMNS

    off = Predictor(tiny_model(), detector=BlobDetector(), aus=False).predict(face_video)
    assert off.au_names == [] and not set(AU_COLUMNS) & (set(off.frames.columns) | set(off.windows.columns))
    np.testing.assert_allclose(off.windows[["happiness"]].to_numpy(), windows[["happiness"]].to_numpy(), atol=1e-6)


def test_shipped_calibration_is_what_the_default_model_gives() -> None:
    shipped = json.loads(DEFAULT_AU_CALIBRATION.read_text())
    fresh = calibration_document(default_model())
    assert shipped["aus"] == fresh["aus"] == list(DEFAULT_AUS)
    for key in ("offset", "scale", "snippet_offset", "snippet_scale"):
        np.testing.assert_allclose(shipped[key], fresh[key], rtol=1e-4, atol=1e-6, err_msg=key)


def test_default_model_is_calibrated_and_shows_the_smile(tmp_path: Path) -> None:
    """On rendered synthetic faces, the default model's calibrated evidence of AU12 (lip corner puller) and AU06
    (cheek raiser) is higher on a happy face than on a sad one, and AU15 (lip corner depressor) the other way
    (measured: AU12 +0.98 vs -2.37, AU06 +0.35 vs -1.88, AU15 -0.73 vs +0.65)."""
    evidence = au_evidence_for(default_model())
    assert evidence.calibrated
    clips = {}
    for label, name in ((0, "happy"), (1, "sad")):
        frames, _ = render_clip(ClipSpec(clip_id=name, label=label, identity=900 + label, num_frames=50, seed=4242,
                                         noisy=False))
        clips[name] = tmp_path / f"{name}.mp4"
        write_mp4(clips[name], frames)
    predictor = Predictor(None, detector="none")
    assert predictor.settings["au_calibrated"] is True
    means = {name: predictor.predict(path).windows[AU_COLUMNS].mean() for name, path in clips.items()}
    assert means["happy"]["AU12"] > means["sad"]["AU12"]
    assert means["happy"]["AU12"] > 0 > means["sad"]["AU12"]  # calibrated: 0 means absent
    assert means["happy"]["AU06"] > means["sad"]["AU06"]
    assert means["sad"]["AU15"] > means["happy"]["AU15"]


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dkclip.save_model(tiny_model(), tmp_path_factory.mktemp("model") / "export")


def test_cli_au_options(export: Path, face_video: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A calibration file (as AUEvidence.calibration() writes it) is applied: 0 moves to its offset.
    model = dkclip.load_model(export)
    evidence = AUEvidence.from_model(model)
    n = len(evidence.aus)
    calibration = {"aus": list(evidence.aus), "offset": [0.5] * n, "scale": [2.0] * n,
                   "snippet_offset": [0.5] * n, "snippet_scale": [2.0] * n}
    cal_file = tmp_path / "cal.json"
    cal_file.write_text(json.dumps(calibration))
    common = [face_video, "--model", str(export), "--detector", "none", "--no-plot", "--quiet"]
    assert main(["predict", *common, "--out", str(tmp_path / "raw")]) == 0
    assert main(["predict", *common, "--out", str(tmp_path / "cal"), "--au-calibration", str(cal_file)]) == 0
    import pandas as pd

    raw = pd.read_csv(tmp_path / "raw" / "windows.csv")[AU_COLUMNS].to_numpy()
    cal = pd.read_csv(tmp_path / "cal" / "windows.csv")[AU_COLUMNS].to_numpy()
    np.testing.assert_allclose(cal, (raw - 0.5) / 2.0, atol=1e-5)
    assert json.loads((tmp_path / "cal" / "windows.json").read_text())["au_calibrated"] is True

    assert main(["predict", *common, "--out", str(tmp_path / "off"), "--no-aus"]) == 0
    assert "AU01" not in (tmp_path / "off" / "frames.csv").read_text().splitlines()[0]

    capsys.readouterr()
    bad = tmp_path / "bad.json"
    bad.write_text('{"aus": [1, 2], "offset": [0.1]')
    assert main(["predict", *common, "--au-calibration", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "not JSON" in err
    bad.write_text(json.dumps({**calibration, "scale": [1.0] * (n - 1)}))
    assert main(["predict", *common, "--au-calibration", str(bad)]) == 2
    assert "scale has" in capsys.readouterr().err
    assert main(["predict", *common, "--au-calibration", str(tmp_path / "missing.json")]) == 2
    assert "missing.json" in capsys.readouterr().err
