"""The scoring of ``benchmarks/predict_quality.py`` (box matching, recall/precision, id switches, window UAR) on
hand-made truth and predictions, so that the numbers in docs/results-synthetic.md mean what they say."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from bench_helpers import load_benchmark
from dkclip.predict.outputs import frame_columns, window_columns

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ["happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"]


def _bench() -> ModuleType:
    """benchmarks/predict_quality.py: the scoring of a prediction against a scene's truth."""
    return load_benchmark("predict_quality")


def test_matching_switches_and_uar() -> None:
    b = _bench()
    truth = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], dtype=float)
    pred = np.array([[21, 0, 31, 10], [50, 50, 60, 60], [1, 1, 10, 10]], dtype=float)
    assert sorted(b.match_boxes(truth, pred)) == [(0, 2), (1, 0)]
    assert b.match_boxes(truth, np.array([[5, 0, 15, 10]], dtype=float)) == []  # IoU 1/3 < 0.5
    assert b.count_switches([None, 1, 1, None, 1, 2, 2, None, 1]) == 2
    uar, war, k = b.uar_war([0, 0, 0, 1], [0, 0, 0, 0])
    assert (uar, war, k) == (50.0, 75.0, 2)


def _truth(num_frames: int = 30, fps: int = 10) -> dict:
    """Two faces side by side; face 1 is absent from frame 20 on; expression 'anger' (3) then 'fear' (6)."""
    frames = []
    for t in range(num_frames):
        recs = [{"face": 0, "box": [10.0, 10.0, 50.0, 60.0], "visible": 1.0, "occluded": 0.0,
                 "label": 3 if t < 15 else 6}]
        if t < 20:
            recs.append({"face": 1, "box": [100.0, 10.0, 140.0, 60.0], "visible": 1.0 if t < 18 else 0.5,
                         "occluded": 0.0, "label": 2})
        frames.append({"frame": t, "faces": recs})
    faces = [{"face": 0, "appearance": {"skin": [250, 222, 198]}}, {"face": 1, "appearance": {"skin": [78, 50, 36]}}]
    return {"classes": CLASSES, "num_frames": num_frames, "fps": fps, "frames": frames, "faces": faces}


def _prediction(truth: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = []
    for fr in truth["frames"]:
        t = fr["frame"]
        # predicted face 1 follows truth face 0 but is lost on frames 5-6; face 2 is truth face 1 until frame 9,
        # then the track breaks and face 3 takes over; a false detection (face 4) on frames 0-1.
        if t not in (5, 6):
            rows.append({"frame": t, "face_id": 1, "box": (11, 10, 50, 60)})
        if t < 20:
            rows.append({"frame": t, "face_id": 2 if t < 10 else 3, "box": (101, 11, 140, 60)})
        if t < 2:
            rows.append({"frame": t, "face_id": 4, "box": (300, 300, 320, 320)})
    table = pd.DataFrame([{"frame": r["frame"], "approx_time": r["frame"] / 10, "FaceRectX": r["box"][0],
                           "FaceRectY": r["box"][1], "FaceRectWidth": r["box"][2] - r["box"][0],
                           "FaceRectHeight": r["box"][3] - r["box"][1], "FaceScore": 0.99,
                           "face_id": r["face_id"], "label": "anger"} for r in rows]).reindex(
        columns=frame_columns(CLASSES))
    window = dict.fromkeys(window_columns(CLASSES, 4), 0)
    windows = pd.DataFrame([
        {**window, "face_id": 1, "start_time": 0.0, "end_time": 2.0, "label": "anger"},   # centre 1.0 s: anger
        {**window, "face_id": 1, "start_time": 1.0, "end_time": 3.0, "label": "anger"},   # centre 2.0 s: fear
        {**window, "face_id": 2, "start_time": 0.0, "end_time": 1.0, "label": "neutral"},  # centre 0.5: neutral
        {**window, "face_id": 4, "start_time": 0.0, "end_time": 0.2, "label": "fear"},    # on no face
    ])
    return table, windows


def test_score_scene_counts() -> None:
    b = _bench()
    truth = _truth()
    frames, windows = _prediction(truth)
    s = b.score_scene(truth, frames, windows, CLASSES)
    assert s.truth_frames == 30 + 20 and s.truth_matched == 28 + 20
    assert s.in_view_frames == 30 + 18 and s.in_view_matched == 28 + 18
    assert s.predicted_frames == 28 + 20 + 2 and s.predicted_matched == 48
    assert (s.faces_apart, s.switches_apart, s.faces_crossing, s.switches_crossing) == (2, 1, 0, 0)
    assert s.windows == 4 and s.windows_on_no_face == 1
    assert s.window_truth == [3, 6, 2] and s.window_pred == [3, 3, 2]
    assert s.in_view_by_skin == {"light": [30, 28], "dark": [18, 18]}
    both = b.total([s, s])
    assert both.truth_frames == 100 and both.window_truth == [3, 6, 2, 3, 6, 2]
    assert both.in_view_by_skin == {"light": [60, 56], "dark": [36, 36]}


def test_crossing_faces_are_those_whose_boxes_overlap() -> None:
    b = _bench()
    truth = _truth()
    assert b.crossing_faces(truth) == set()
    truth["frames"][3]["faces"][1]["box"] = [45.0, 10.0, 85.0, 60.0]
    assert b.crossing_faces(truth) == {0, 1}


def test_reframe_inverts_the_measured_framing() -> None:
    b = _bench()
    truth = np.array([100.0, 50.0, 160.0, 130.0])  # 60 x 80
    detected = np.array([108.0, 44.0, 156.0, 116.0])  # narrower, shorter, a little higher
    framing = b.framing_of(truth, detected)
    assert np.allclose(framing, ((132 - 130) / 80, (80 - 90) / 80, 72 / 80))
    moved = b.reframe(truth, framing)
    assert np.allclose(((moved[0] + moved[2]) / 2, (moved[1] + moved[3]) / 2), (132, 80))
    assert np.isclose(max(moved[2] - moved[0], moved[3] - moved[1]), 72)
