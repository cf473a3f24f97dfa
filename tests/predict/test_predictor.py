"""The Python API end to end on small videos with a random-weight dkclip-tiny."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from predict_helpers import BlobDetector, NoFaceDetector, moving_box, tiny_model, write_scene_video

import dkclip
from dkclip.constants import CLIP_MEAN, IMAGENET_MEAN
from dkclip.errors import PredictionError, UsageError
from dkclip.model.au_evidence import DEFAULT_AUS, au_column
from dkclip.predict import Predictor
from dkclip.predict.faces import WholeFrameDetector
from dkclip.predict.models import guess_arch, zero_shot_model
from dkclip.predict.outputs import frame_columns
from media_fixtures import write_video

CLASSES = ["happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"]
AU_COLUMNS = [au_column(a) for a in DEFAULT_AUS]


def two_faces(i: int) -> list:
    return [moving_box(i, 10, 20, 32, 0.5), (150 - 0.5 * i, 30, 182 - 0.5 * i, 62)]  # never touch


@pytest.fixture(scope="module")
def two_face_video(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_scene_video(tmp_path_factory.mktemp("v") / "two.mp4", two_faces, 90, fps=25, height=96, width=192)


def test_two_faces_tables_schema_and_smoothing(two_face_video: str, tmp_path: Path) -> None:
    predictor = Predictor(tiny_model(), detector=BlobDetector(), detect_every=3, batch_size=4)
    calls = []
    real = predictor.runner

    class Spy:  # records which faces share a forward pass
        def __call__(self, jobs):
            calls.append(sorted({j.face_id for j in jobs}))
            return real(jobs)

    predictor.runner = Spy()  # type: ignore[assignment]
    result = predictor.predict(two_face_video)

    frames, windows = result.frames, result.windows
    assert list(frames.columns) == frame_columns(CLASSES, AU_COLUMNS)
    assert sorted(frames["face_id"].dropna().unique()) == [1, 2] and result.num_faces == 2
    assert len(frames) == 2 * 90 and frames["frame"].nunique() == 90
    assert any(len(c) == 2 for c in calls)  # windows of both faces in one forward pass
    # 3.6 s per face: windows 0-2, 1-3 and one aligned to the end (1.6-3.6).
    assert windows.groupby("face_id").size().tolist() == [3, 3]
    assert np.allclose(windows[CLASSES].sum(axis=1), 1, atol=1e-5)
    # A frame's probabilities are the mean over the windows that contain it.
    face1 = windows[windows.face_id == 1]
    row = frames[(frames.face_id == 1) & (frames.frame == 45)].iloc[0]
    covering = face1[(face1.start_frame <= 45) & (face1.end_frame >= 45)]
    assert len(covering) == 3
    assert np.allclose(row[CLASSES].to_numpy(dtype=float), covering[CLASSES].mean().to_numpy(), atol=1e-9)
    assert row["label"] == CLASSES[int(np.argmax(row[CLASSES].to_numpy(dtype=float)))]
    # Boxes follow the face (detected every 3rd frame, interpolated between).
    truth = np.array(moving_box(44, 10, 20, 32, 0.5))
    got = frames[(frames.face_id == 1) & (frames.frame == 44)][["FaceRectX", "FaceRectY"]].to_numpy()[0]
    assert np.allclose(got, truth[:2], atol=2.0)
    # Snippet scores a* are a distribution over the N snippets.
    snippets = windows[[f"snippet_score_{i}" for i in range(4)]].to_numpy()
    assert np.allclose(snippets.sum(axis=1), 1, atol=1e-5)

    written = result.save(tmp_path / "out")
    assert {p.name for p in written} == {"frames.csv", "windows.csv", "windows.json", "timeline.png", "aus.png"}
    header = (tmp_path / "out" / "frames.csv").read_text().splitlines()[0]
    assert header.split(",") == frame_columns(CLASSES, AU_COLUMNS)
    again = pd.read_csv(tmp_path / "out" / "frames.csv")
    assert len(again) == len(frames)
    import json

    doc = json.loads((tmp_path / "out" / "windows.json").read_text())
    assert doc["classes"] == CLASSES and len(doc["windows"]) == 6
    w = doc["windows"][0]
    assert set(w) >= {"start_time", "end_time", "start_frame", "end_frame", "probabilities", "snippet_scores",
                      "kept", "box", "label"}
    assert "face 1:" in result.summary() and "face 2:" in result.summary()


def test_heads(two_face_video: str) -> None:
    out = {}
    for head in ("global", "local", "fused"):
        result = Predictor(tiny_model(), detector=BlobDetector(), head=head).predict(two_face_video)
        out[head] = result.windows[CLASSES].to_numpy()
    assert np.allclose(out["fused"], (out["global"] + out["local"]) / 2, atol=1e-6)
    with pytest.raises(UsageError, match="head"):
        Predictor(tiny_model(), detector=BlobDetector(), head="best")


def test_no_face_video(tmp_path: Path) -> None:
    path = write_video(tmp_path / "empty_scene.mp4", 40)
    result = Predictor(tiny_model(), detector=NoFaceDetector()).predict(path)
    assert result.num_faces == 0 and result.windows.empty
    assert len(result.frames) == 40 and result.frames["face_id"].isna().all()
    assert any("no face found" in n for n in result.notes)
    result.save(tmp_path / "out")
    assert (tmp_path / "out" / "timeline.png").stat().st_size > 0
    header = (tmp_path / "out" / "frames.csv").read_text().splitlines()[0]
    assert header.split(",") == frame_columns(CLASSES, AU_COLUMNS)


def test_video_shorter_than_a_window(tmp_path: Path) -> None:
    path = write_scene_video(tmp_path / "short.mp4", lambda i: [moving_box(i)], 20)  # 0.8 s
    result = Predictor(tiny_model(), detector=BlobDetector(), window=2.0).predict(path)
    assert len(result.windows) == 1 and bool(result.windows["short"].iloc[0])
    assert any("shorter than one 2 s window" in n for n in result.notes)
    assert result.frames["face_id"].notna().all()


def test_variable_frame_rate_times_in_the_tables(tmp_path: Path) -> None:
    # 40 frames at 20 fps, then 20 frames at 5 fps: 6 s in all.
    times = [i / 20 for i in range(40)] + [2.0 + i / 5 for i in range(20)]
    path = write_scene_video(tmp_path / "vfr.mkv", lambda i: [(20, 20, 52, 52)], len(times), times=times)
    result = Predictor(tiny_model(), detector=BlobDetector(), detect_every=2).predict(path)
    assert np.allclose(result.frames["approx_time"], times, atol=1e-3)
    windows = result.windows
    assert windows["start_time"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    # The 2-4 s window has 10 frames (5 fps): its frames are found by time, not by count.
    third = windows.iloc[2]
    assert (third.start_frame, third.end_frame) == (40, 49)


def test_zero_shot_on_a_random_clip_file(tmp_path: Path, tiny_clip_file: Path) -> None:
    assert guess_arch(tiny_clip_file) == "dkclip-tiny"
    model = zero_shot_model(tiny_clip_file, "mafw")
    cfg = model.config
    assert cfg.temporal == "avgpool" and not cfg.use_cmam and not cfg.use_nrm
    assert tuple(cfg.image_mean) == CLIP_MEAN and len(cfg.class_labels) == 11
    path = write_video(tmp_path / "clip.mp4", 30)
    result = Predictor(model, detector="none").predict(path)
    assert list(result.frames.columns)[8:-1 - len(AU_COLUMNS)] == cfg.class_labels and len(result.windows) == 1
    # The shipped synthclip file keeps the statistics it was trained with.
    from dkclip.pretrained import get_pretrained_cfg, verified_path

    shipped = zero_shot_model(verified_path(get_pretrained_cfg("dkclip-tiny", "synthclip")), "dfew")
    assert tuple(shipped.config.image_mean) == IMAGENET_MEAN
    csv = tmp_path / "prompts.csv"
    csv.write_text("id,name\n0,a smiling face with cheek raiser\n1,a frowning face with brow lowerer\n")
    assert zero_shot_model(tiny_clip_file, str(csv)).config.class_labels == ["a smiling face", "a frowning face"]


def test_live_file_prints_windows_as_they_complete(tmp_path: Path) -> None:
    path = write_scene_video(tmp_path / "live.mp4", lambda i: [moving_box(i)], 30, fps=25)  # 1.2 s
    seen = []
    start = time.monotonic()
    predictor = Predictor(tiny_model(), detector=BlobDetector(), window=0.4, stride=0.2, detect_every=2)
    # Per window: the wall time, how many frames the source had delivered when it was reported, and its last frame.
    result = predictor.predict_live(str(path), on_window=lambda r, info: seen.append(
        (time.monotonic() - start, info.num_frames, r.job.end_frame, r.job.end_time)))
    elapsed = time.monotonic() - start
    # Paced at the file's own frame rate: never faster than its timestamps (lower bounds: a busy machine only
    # makes these larger).
    assert elapsed >= 1.1
    assert all(wall >= end - 0.1 for wall, _, _, end in seen)
    assert len(seen) == len(result.windows) >= 5
    # Rolling, counted in frames read rather than in wall time (so a busy machine cannot fail it): the windows
    # come in order, each once its last frame was read, and each one that ends before the video does is
    # reported while the file is still being read (output printed only at the end would fail here).
    read = [n for _, n, _, _ in seen]
    ends = [e for _, _, e, _ in seen]
    assert read == sorted(read) and ends == sorted(ends) and len(set(ends)) == len(ends)
    assert all(n > e for n, e in zip(read, ends, strict=True))  # never before its last frame was read
    assert all(n < 30 for n, e in zip(read, ends, strict=True) if e < 29)
    assert read[0] <= 20  # the first window long before the input ends


def test_batch_skips_a_corrupt_file(tmp_path: Path) -> None:
    good = write_video(tmp_path / "a.mp4", 30)
    bad = tmp_path / "b.mp4"
    bad.write_bytes(Path(good).read_bytes()[:300])
    other = write_video(tmp_path / "c.mp4", 30)
    predictor = Predictor(tiny_model(), detector=WholeFrameDetector())
    outcomes = dict(predictor.predict_many([good, bad, other]))
    assert isinstance(outcomes[bad], PredictionError) and "b.mp4" in str(outcomes[bad])
    assert all(not isinstance(outcomes[Path(p)], Exception) for p in (good, other))


def test_predictor_loads_a_model_path_and_checks_settings(tmp_path: Path) -> None:
    dkclip.save_model(tiny_model(), tmp_path / "export")
    predictor = Predictor(tmp_path / "export", detector="none")
    assert predictor.class_names == CLASSES and predictor.detect_every == 1
    with pytest.raises(UsageError, match="stride"):
        Predictor(tiny_model(), detector="none", window=1.0, stride=2.0)
    torch.manual_seed(0)


@pytest.mark.parametrize(("option", "value", "says"), [
    ("window", float("nan"), "window and stride"), ("window", float("inf"), "window and stride"),
    ("stride", 0.0, "window and stride"), ("crop_scale", float("nan"), "crop_scale"),
    ("max_gap", float("inf"), "max_gap"), ("min_track", -1.0, "min_track"), ("fps", 0.0, "fps"),
])
def test_settings_out_of_range_are_refused_nan_and_inf_too(option: str, value: float, says: str) -> None:
    """nan used to pass every `<= 0` check and end in a traceback; an infinite window ran and predicted nothing."""
    with pytest.raises(UsageError, match=says):
        Predictor(tiny_model(), detector="none", **{option: value})
