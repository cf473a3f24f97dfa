"""Linking detections into tracks on scripted boxes: bridging, identity, faces leaving and entering."""

from __future__ import annotations

import numpy as np

from dkclip.predict.faces import Detection
from dkclip.predict.tracking import TrackBuilder, Tracker, greedy_match, iou_matrix, track_frames


def det(x0: float, y0: float, size: float = 20.0, score: float = 0.9) -> Detection:
    return Detection((x0, y0, x0 + size, y0 + size), score)


def test_iou_and_greedy_match() -> None:
    a = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], dtype=float)
    b = np.array([[0, 0, 10, 5], [100, 100, 110, 110]], dtype=float)
    iou = iou_matrix(a, b)
    assert np.isclose(iou[0, 0], 0.5) and iou[1, 0] == 0 and iou[:, 1].sum() == 0
    assert greedy_match(np.array([[0.9, 0.8], [0.85, 0.0]])) == [(0, 0)]
    assert greedy_match(np.zeros((0, 3))) == []


def test_a_missed_detection_is_bridged_and_interpolated() -> None:
    times = [i / 10 for i in range(9)]
    # Detection every other frame; frame 4's detection is missing (the face was turned away).
    dets = {0: [det(0, 0)], 2: [det(4, 0)], 4: [], 6: [det(12, 0)], 8: [det(16, 0)]}
    tracks = track_frames(times, dets, Tracker(max_gap=0.5))
    assert list(tracks) == [1]
    points = tracks[1]
    assert [p.frame for p in points] == list(range(9))
    # Every frame has a box on the straight line x = 2 * frame, detected or not.
    assert np.allclose([p.box[0] for p in points], [2 * i for i in range(9)])
    assert [p.detected for p in points] == [True, False, True, False, False, False, True, False, True]


def test_a_long_miss_ends_the_track_and_a_new_one_starts() -> None:
    times = [i / 10 for i in range(12)]
    dets = {i: [det(0, 0)] for i in range(0, 4)} | {i: [] for i in range(4, 11)} | {11: [det(0, 0)]}
    tracks = track_frames(times, dets, Tracker(max_gap=0.3))
    assert sorted(tracks) == [1, 2]
    assert [p.frame for p in tracks[1]] == [0, 1, 2, 3]  # ends at its last detection
    assert [p.frame for p in tracks[2]] == [11]


def test_two_crossing_faces_keep_their_ids() -> None:
    # Face A moves right, face B moves left, on nearly the same row; they overlap at frame 10.
    times = [i / 25 for i in range(21)]
    dets = {}
    for i in range(21):
        a = det(10 + 4 * i, 40)
        b = det(90 - 4 * i, 44)
        dets[i] = [b, a] if i % 2 else [a, b]  # detector order must not matter
    tracks = track_frames(times, dets)
    assert sorted(tracks) == [1, 2]
    xs = {tid: np.array([p.box[0] for p in pts]) for tid, pts in tracks.items()}
    # Each id keeps one direction of motion through the crossing.
    slopes = sorted(float(np.polyfit(np.arange(len(x)), x, 1)[0]) for x in xs.values())
    assert np.allclose(slopes, [-4, 4])
    for x in xs.values():
        assert np.all(np.diff(x) * np.sign(x[-1] - x[0]) > 0)


def test_fast_motion_links_by_centre_distance() -> None:
    # Detected every 5th frame, the face jumps 16 px (0.8 of its size): IoU 0.11, linked by centre distance.
    times = [i / 25 for i in range(16)]
    dets = {0: [det(0, 0)], 5: [det(16, 0)], 10: [det(32, 0)], 15: [det(48, 0)]}
    tracks = track_frames(times, dets)
    assert list(tracks) == [1] and len(tracks[1]) == 16


def test_a_face_leaves_and_another_enters() -> None:
    times = [i / 10 for i in range(20)]
    dets: dict[int, list[Detection]] = {}
    for i in range(20):
        faces = []
        if i < 8:
            faces.append(det(10, 10))  # face 1 leaves after frame 7
        if i >= 12:
            faces.append(det(60, 10))  # face 2 enters at frame 12, elsewhere
        dets[i] = faces
    tracks = track_frames(times, dets, Tracker(max_gap=0.2))
    assert sorted(tracks) == [1, 2]
    assert (tracks[1][0].frame, tracks[1][-1].frame) == (0, 7)
    assert (tracks[2][0].frame, tracks[2][-1].frame) == (12, 19)


def test_builder_keeps_only_the_frames_it_may_still_need() -> None:
    builder = TrackBuilder(Tracker(max_gap=0.5))
    needed = []
    for i in range(40):
        builder.add_frame(i, i / 10)
        if i % 4 == 0:
            # The face is missing from frame 8 to 16: frames after its last detection stay needed until then.
            builder.add_detections(i, [] if 8 < i < 16 else [det(0, 0)])
        needed.append(i - builder.oldest_needed())
    assert max(needed) <= 8  # frames held: at most the bridged gap
    assert len(builder._times) <= 9


def test_a_face_missed_while_it_moves_or_stops_keeps_its_id() -> None:
    # 30 fps, detection every 5th frame, a 40 px face walking 6 px a frame; the detector misses it for 0.8 s.
    times = [i / 30 for i in range(60)]
    walking = {i: ([] if 15 < i < 40 else [det(6 * i, 50, 40)]) for i in range(0, 60, 5)}
    tracks = track_frames(times, walking, Tracker(max_gap=1.0))
    assert list(tracks) == [1] and len(tracks[1]) == 56  # found again where it went, 150 px (4 faces) further
    # the same miss, but the face stopped where it was last seen
    stopping = {i: ([] if 15 < i < 40 else [det(6 * min(i, 15), 50, 40)]) for i in range(0, 60, 5)}
    assert list(track_frames(times, stopping, Tracker(max_gap=1.0))) == [1]
    # a miss longer than max_gap ends the track
    assert sorted(track_frames(times, walking, Tracker(max_gap=0.5))) == [1, 2]
