"""Tests of the face detectors: MTCNN on synthetic clips, a real photo, a real-face video and a blank frame;
the whole-frame detector; building detectors by name and the errors of bad options."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from real_face_video import ASTRONAUT_FACE, astronaut, write_real_face_video

from dkclip.errors import PredictionError, UsageError
from dkclip.predict.faces import Detection, MTCNNDetector, WholeFrameDetector, build_detector
from dkclip.synth import ClipSpec, preset_config, render_clip


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def mtcnn() -> MTCNNDetector:
    # one thread: the test machines are shared, and MTCNN's small convolutions spin-wait on a busy CPU
    return MTCNNDetector(num_threads=1)


def test_mtcnn_finds_the_astronaut(mtcnn: MTCNNDetector) -> None:
    (found,) = mtcnn.detect([astronaut()])
    assert len(found) == 1
    face = found[0]
    assert face.score > 0.99
    assert _iou(face.box, ASTRONAUT_FACE) > 0.7
    assert face.landmarks is not None and face.landmarks.shape == (5, 2)
    x0, y0, x1, y1 = face.box
    assert ((face.landmarks[:, 0] > x0) & (face.landmarks[:, 0] < x1)).all()
    assert ((face.landmarks[:, 1] > y0) & (face.landmarks[:, 1] < y1)).all()
    left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
    assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]  # image left first
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_mtcnn_finds_no_face_on_blank_frames(mtcnn: MTCNNDetector) -> None:
    blank = np.full((240, 320, 3), 128, dtype=np.uint8)
    ramp = np.broadcast_to(np.linspace(0, 255, 320, dtype=np.uint8)[None, :, None], (240, 320, 3))
    assert mtcnn.detect([blank, ramp]) == [[], []]
    assert mtcnn.detect([]) == []


def test_mtcnn_on_synthetic_wild_clips(mtcnn: MTCNNDetector) -> None:
    cfg = preset_config("wild")
    found = total = 0
    for i in range(4):
        frames, truth = render_clip(ClipSpec(clip_id=str(i), label=i, identity=i, num_frames=24, index=i, seed=1,
                                             config=cfg))
        detections = mtcnn.detect(list(frames))
        for dets, kind in zip(detections, truth.noise, strict=True):
            if kind in (None, "expression"):  # occluded, blurred and dark frames may lose the face
                total += 1
                found += len(dets) >= 1
            for d in dets:
                x0, y0, x1, y1 = d.box
                assert 0 <= x0 < x1 <= cfg.size and 0 <= y0 < y1 <= cfg.size  # clipped to the frame
    assert total > 50
    assert found / total >= 0.95, f"{found}/{total}"


def test_mtcnn_on_a_real_face_video(mtcnn: MTCNNDetector, tmp_path: Path) -> None:
    path, boxes = write_real_face_video(tmp_path / "astronaut.mp4", num_frames=16)
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name in ("h264", "libx264", "mpeg4")
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 16 and frames[0].shape == (240, 320, 3)
    for dets, truth in zip(mtcnn.detect(frames), boxes, strict=True):
        assert len(dets) == 1
        assert _iou(dets[0].box, tuple(truth)) > 0.7


def test_mtcnn_batches_by_size_and_keeps_the_order(mtcnn: MTCNNDetector) -> None:
    face = astronaut()
    small = face[::2, ::2].copy()
    blank = np.zeros((100, 150, 3), dtype=np.uint8)
    alone = [mtcnn.detect([f])[0] for f in (face, small, blank)]
    together = mtcnn.detect([face, blank, small, face])
    assert [len(d) for d in together] == [1, 0, 1, 1]
    for got, want in ((together[0], alone[0]), (together[2], alone[1]), (together[3], alone[0])):
        np.testing.assert_allclose(got[0].box, want[0].box, atol=0.5)
    # float frames in [0, 1] are accepted too
    (as_float,) = mtcnn.detect([face.astype(np.float32) / 255.0])
    assert _iou(as_float[0].box, alone[0][0].box) > 0.95


def test_mtcnn_options(mtcnn: MTCNNDetector) -> None:
    face = astronaut()
    # her face is about 90 px: a larger minimum size drops it
    assert MTCNNDetector(min_face_size=150, num_threads=1).detect([face]) == [[]]
    two = np.concatenate([face, face[:, ::-1]], axis=1)
    found = MTCNNDetector(num_threads=1).detect([two])[0]
    assert len(found) == 2 and found[0].score >= found[1].score
    assert len(MTCNNDetector(max_faces=1, num_threads=1).detect([two])[0]) == 1
    # max_faces keeps the largest faces (the people the video is about), whatever their scores
    canvas = np.zeros((512, 768, 3), np.uint8)
    canvas[:, :512] = face
    canvas[:256, 512:] = np.asarray(Image.fromarray(face).resize((256, 256)))
    both = MTCNNDetector(num_threads=1).detect([canvas])[0]
    (largest,) = MTCNNDetector(max_faces=1, num_threads=1).detect([canvas])[0]
    assert len(both) == 2 and largest.width == max(d.width for d in both)
    with pytest.raises(PredictionError):
        mtcnn.detect([face[..., 0]])
    for bad in (dict(min_face_size=8), dict(threshold=1.5), dict(max_faces=0), dict(batch_size=0),
                dict(stage_thresholds=(0.5, 0.6)), dict(num_threads=0)):
        with pytest.raises(UsageError):
            MTCNNDetector(**bad)


def test_mtcnn_without_facenet_pytorch_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)  # makes the import fail
    with pytest.raises(UsageError, match=re.escape("pip install --no-deps facenet-pytorch==2.6.0 requests")):
        MTCNNDetector()


def test_whole_frame_detector() -> None:
    det = WholeFrameDetector()
    frames = [np.zeros((112, 112, 3), np.uint8), np.zeros((90, 160, 3), np.uint8)]
    out = det.detect(frames)
    assert out == [[Detection((0.0, 0.0, 112.0, 112.0), 1.0)], [Detection((0.0, 0.0, 160.0, 90.0), 1.0)]]
    assert out[1][0].width == 160 and out[1][0].height == 90 and det.name == "none"


def test_build_detector() -> None:
    assert isinstance(build_detector("none"), WholeFrameDetector)
    with pytest.raises(UsageError, match="mtcnn, none"):
        build_detector("retinaface")
    with pytest.raises(UsageError):
        build_detector("none", threshold=0.5)
    det = build_detector("mtcnn", min_face_size=40, threshold=0.95, max_faces=2)
    assert isinstance(det, MTCNNDetector) and det.name == "mtcnn"
    assert (det.min_face_size, det.threshold, det.max_faces) == (40, 0.95, 2)
