"""The streaming pipeline: crops as the model's eval transform expects them, bounded memory, short videos."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image
from predict_helpers import BlobDetector, ListSource, moving_box, scene_frame, tiny_model

from dkclip.data.pipeline import model_transforms
from dkclip.predict.crops import Cropper, eye_angle, square_box, store_size
from dkclip.predict.faces import WholeFrameDetector
from dkclip.predict.pipeline import WindowStream, run_stream
from dkclip.predict.tracking import Tracker
from media_fixtures import make_frame


def test_square_crop_framing_and_padding() -> None:
    assert square_box((10, 20, 30, 60), 1.0) == (0, 20, 40, 60)  # square on the long side, same centre
    assert square_box((0, 0, 100, 100), 1.3) == (-15, -15, 115, 115)
    image = Image.fromarray(np.full((50, 50, 3), 200, np.uint8))
    crop = Cropper(64, scale=1.3)(image, np.array([0.0, 0.0, 20.0, 20.0]))
    assert crop.shape == (64, 64, 3)
    assert crop[0, 0].max() == 0 and crop[-1, -1].min() == 200  # outside the frame: black


def test_whole_frame_crops_keep_the_aspect_ratio() -> None:
    image = Image.fromarray(np.zeros((90, 160, 3), np.uint8))
    crop = Cropper(128, whole_frame=True)(image, np.array([0, 0, 160, 90]))
    assert crop.shape == (128, 228, 3)


def test_aligned_crop_levels_the_eyes() -> None:
    img = np.zeros((200, 200, 3), np.uint8)
    angle = math.radians(20)
    eyes = np.array([[100 - 30 * math.cos(angle), 100 - 30 * math.sin(angle)],
                     [100 + 30 * math.cos(angle), 100 + 30 * math.sin(angle)]])
    for x, y in eyes:
        img[round(y) - 3:round(y) + 4, round(x) - 3:round(x) + 4] = 255
    landmarks = np.vstack([eyes, [[100, 120], [85, 140], [115, 140]]])
    assert math.isclose(eye_angle(landmarks), 20, abs_tol=1e-6)
    crop = Cropper(100, scale=1.0, align=True)(Image.fromarray(img), np.array([50, 50, 150, 150]), landmarks)
    ys, xs = np.nonzero(crop[..., 0] > 128)
    left, right = ys[xs < 50], ys[xs >= 50]
    assert abs(left.mean() - right.mean()) < 2.0  # level after alignment (they were 20 px apart)


def test_whole_frame_windows_match_the_eval_transform() -> None:
    """With --detector none and a window that is the whole clip, the model input is what `dkclip evaluate`
    feeds it: the same T frames (segment centres) and the same spatial transform, within resize rounding."""
    model = tiny_model()
    _, eval_tf = model_transforms(model.config)
    n, fps = 50, 25.0
    frames = [make_frame(i, 90, 120) for i in range(n)]
    stream = WindowStream(WholeFrameDetector(), Cropper(store_size(model.config.image_size), whole_frame=True),
                          num_frames=model.config.test_num_frames, window=n / fps, stride=1.0, detect_every=1)
    jobs = run_stream(stream, list(ListSource(lambda i: frames[i], np.arange(n) / fps)))
    assert len(jobs) == 1
    job = jobs[0]
    assert np.array_equal(job.sample_frames, eval_tf.indices(n))
    ours = eval_tf.transform(torch.from_numpy(job.crops).permute(0, 3, 1, 2))
    reference = eval_tf(np.stack(frames))
    assert ours.shape == reference.shape
    assert (ours - reference).abs().mean() < 0.03


def test_memory_stays_bounded_on_a_long_stream() -> None:
    """Ten minutes of frames would not fit; what the pipeline holds must not grow with the video."""
    fps, n = 25.0, 3000  # 2 minutes
    detector = BlobDetector()
    stream = WindowStream(detector, Cropper(64), num_frames=8, window=2.0, stride=1.0, detect_every=5,
                          tracker=Tracker(max_gap=0.5))

    def boxes(i: int) -> list:
        # One face moving back and forth; a second one that blinks out for 0.4 s every 10 s.
        x = 40 + 30 * math.sin(i / 50)
        faces = [(x, 20, x + 24, 44)]
        if (i // 25) % 10 != 9 or (i % 25) >= 10:
            faces.append((150, 30, 174, 54))
        return faces

    most_frames = most_crops = windows = 0
    for frame in ListSource(lambda i: scene_frame(boxes(i), 96, 200, i), np.arange(n) / fps):
        windows += len(stream.feed(frame))
        most_frames = max(most_frames, len(stream._buffer))
        most_crops = max(most_crops, sum(len(s.crops) for s in stream._live.values()))
    windows += len(stream.finish())
    assert most_frames <= 0.5 * fps + 5 + 2  # the bridged gap plus one detection interval
    assert most_crops <= 2 * (3.0 * fps + 2)  # per face: one window plus one stride of crops
    assert windows == 2 * (n / fps - 1)  # 119 windows per face; the blinks were bridged, not new faces
    assert [r.face_id for r in stream.kept] == [1, 2]
    assert detector.calls == n // 5 + 1  # every 5th frame, and the last one (so the tail has boxes)


def test_short_tracks_are_dropped_and_short_videos_kept() -> None:
    fps = 25.0
    # 4 s video: face A all along, face B only 0.6 s (detector noise): B is dropped.
    stream = WindowStream(BlobDetector(), Cropper(64), num_frames=8, window=2.0, stride=1.0, detect_every=1)

    def scene(i: int) -> np.ndarray:
        faces = [moving_box(i)]
        if 40 <= i < 55:
            faces.append((100, 20, 124, 44))
        return scene_frame(faces, 96, 160, i)

    jobs = run_stream(stream, list(ListSource(scene, np.arange(100) / fps)))
    assert {j.face_id for j in jobs} == {1} and stream.dropped == 1 and not stream.short_video
    # 1.2 s video: shorter than one window, so every face gets one window over what exists.
    stream = WindowStream(BlobDetector(), Cropper(64), num_frames=8, window=2.0, stride=1.0, detect_every=1)
    jobs = run_stream(stream, list(ListSource(lambda i: scene_frame([moving_box(i)], 96, 160, i),
                                              np.arange(30) / fps)))
    assert stream.short_video and len(jobs) == 1
    assert jobs[0].short and (jobs[0].start_frame, jobs[0].end_frame) == (0, 29)
    assert jobs[0].crops.shape[0] == 8


def test_min_track_longer_than_a_window() -> None:
    """A face must be seen for min_track seconds before any of its windows is emitted or it gets an id."""
    fps = 25.0

    def scene(i: int) -> np.ndarray:
        faces = [moving_box(i)]
        if i < 62:  # 2.5 s: long enough for a 2 s window, too short for min_track 3 s
            faces.append((100, 20, 124, 44))
        return scene_frame(faces, 96, 160, i)

    stream = WindowStream(BlobDetector(), Cropper(64), num_frames=8, window=2.0, stride=1.0, detect_every=1,
                          min_track=3.0)
    jobs = run_stream(stream, list(ListSource(scene, np.arange(125) / fps)))
    assert {j.face_id for j in jobs} == {1} and stream.dropped == 1
    assert [j.start_time for j in jobs] == [0.0, 1.0, 2.0, 3.0]
    assert [r.face_id for r in stream.kept] == [1]
