"""Tests of the multi-face scenes (``dkclip.synth.scenes``, ``dkclip synth --scenes``): determinism, truth boxes
where the faces are drawn, faces entering and leaving, lanes, noise, the CLI, and that MTCNN finds the faces."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from dkclip.cli import main
from dkclip.synth.scenes import SceneSpec, generate_scenes, render_scene

SMALL = SceneSpec(width=320, height=180, num_frames=45, num_faces=2, seed=5, index=1)


def _files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.is_file()}


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_same_spec_same_pixels_and_truth_other_seed_differs() -> None:
    a, ta = render_scene(SMALL)
    b, tb = render_scene(SMALL)
    assert a.shape == (45, 180, 320, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert json.dumps(ta.to_json_dict()) == json.dumps(tb.to_json_dict())
    c, _ = render_scene(replace(SMALL, seed=6))
    assert not np.array_equal(a, c)


def test_generate_scenes_is_byte_identical(tmp_path: Path) -> None:
    kwargs = dict(seed=2, width=256, height=144, seconds=1.0, fps=20, max_faces=2)
    meta = generate_scenes(tmp_path / "a", 2, **kwargs)
    generate_scenes(tmp_path / "b", 2, workers=2, **kwargs)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert sorted(a) == ["meta.json", "scene_000.json", "scene_000.mp4", "scene_001.json", "scene_001.mp4"]
    assert [k for k in a if a[k] != b[k]] == []
    assert meta["frames_per_s"] > 0 and meta["counts"]["frames"] == 40
    with pytest.raises(FileExistsError):
        generate_scenes(tmp_path / "a", 2, **kwargs)


def test_truth_boxes_lie_inside_the_frame_and_on_the_drawn_faces() -> None:
    spec = replace(SMALL, num_faces=3, noise_kinds=())
    frames, truth = render_scene(spec)
    # the same scene without faces: the scene's own random stream does not depend on the number of faces
    background, empty = render_scene(replace(spec, num_faces=0))
    assert all(len(recs) == 0 for recs in empty.frames)
    changed = np.abs(frames.astype(np.int16) - background.astype(np.int16)).max(axis=3) > 6
    checked = 0
    for t, recs in enumerate(truth.frames):
        for rec in recs:
            x0, y0, x1, y1 = rec["box"]
            assert 0 <= x0 < x1 <= spec.width and 0 <= y0 < y1 <= spec.height
            assert 0 < rec["visible"] <= 1 and 0 <= rec["occluded"] <= 1
            if rec["visible"] == 1 and rec["occluded"] == 0:
                inside = changed[t, round(y0):round(y1), round(x0):round(x1)]
                # the face fills the box except the corners beside the chin
                assert inside.mean() > 0.75, (t, rec["face"], inside.mean())
                checked += 1
    assert checked > 60
    # pixels beside every person (head, shoulders, torso) are the background
    one = replace(spec, num_faces=1, index=3)
    frames, truth = render_scene(one)
    background, _ = render_scene(replace(one, num_faces=0))
    changed = np.abs(frames.astype(np.int16) - background.astype(np.int16)).max(axis=3) > 6
    far = np.ones(frames.shape[:3], dtype=bool)
    face = truth.faces[0]
    for t in np.flatnonzero(face.present):
        x0, _, x1, _ = face.head_region(int(t))
        w = x1 - x0
        # the shoulders reach about half a head width beyond the head on either side
        far[t, :, max(0, int(x0 - 0.6 * w)):max(0, int(x1 + 0.6 * w))] = False
    assert far.mean() > 0.2 and not changed[far].any()


def test_faces_enter_leave_and_keep_their_lanes() -> None:
    spec = replace(SMALL, num_faces=3, num_frames=120, width=480, height=272, enter_leave=1.0)
    _, truth = render_scene(spec)
    per_frame = truth.faces_per_frame()
    assert (per_frame == 0).any() and (per_frame > 1).any()
    assert all(f.enter is not None and f.leave is not None for f in truth.faces)
    assert any(0 < rec["visible"] < 1 for recs in truth.frames for rec in recs)  # half in, half out
    for recs in truth.frames:
        for i, a in enumerate(recs):
            assert a["occluded"] == 0
            for b in recs[i + 1:]:
                assert _iou(a["box"], b["box"]) == 0
    # several expressions per face, each ending back at neutral
    labels = {rec["expression"] for recs in truth.frames for rec in recs}
    assert "neutral" in labels and len(labels) >= 3


def test_crossing_faces_report_occlusion() -> None:
    occluded = 0
    for index in range(6):
        spec = replace(SMALL, num_faces=3, num_frames=60, allow_crossing=True, enter_leave=0.0, index=index)
        _, truth = render_scene(spec)
        occluded += sum(rec["occluded"] > 0 for recs in truth.frames for rec in recs)
    assert occluded > 0


def test_noise_flags_per_face_and_noise_free_rendering() -> None:
    kinds: set[str] = set()
    for index in range(4):
        spec = replace(SMALL, index=index, noise_episodes=1.0, noise_fraction=(0.3, 0.5))
        noisy, truth = render_scene(spec)
        clean, clean_truth = render_scene(spec, noise=False)
        for t, recs in enumerate(truth.frames):
            flags = [rec["noise"] for rec in recs]
            kinds.update(k for k in flags if k)
            if all(k is None for k in flags) and all(not f.present[t] or f.noise[t] is None for f in truth.faces):
                assert np.array_equal(noisy[t], clean[t]), t
        assert all(rec["noise"] is None for recs in clean_truth.frames for rec in recs)
        assert any(not np.array_equal(n, c) for n, c in zip(noisy, clean, strict=True))
    assert kinds == {"expression", "occlusion", "blur", "dark"}


def test_bad_specs_are_refused() -> None:
    for bad in (dict(width=321), dict(height=182), dict(num_frames=4), dict(face_height=(0.5, 0.2)),
                dict(noise_kinds=("rain",)), dict(num_classes=5)):
        with pytest.raises(ValueError):
            replace(SMALL, **bad)


def test_cli_writes_scenes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "scenes"
    rc = main(["synth", "--scenes", "2", "--out", str(out), "--scene-size", "320x180", "--scene-seconds", "1",
               "--max-faces", "2", "--seed", "4"])
    assert rc == 0
    assert "wrote 2 scenes" in capsys.readouterr().out
    meta = json.loads((out / "meta.json").read_text())
    assert meta["num_scenes"] == 2 and meta["width"] == 320 and meta["height"] == 180 and meta["fps"] == 30
    for entry in meta["scenes"]:
        truth = json.loads((out / entry["truth"]).read_text())
        assert 1 <= truth["num_faces"] <= 2 and len(truth["frames"]) == 30
        with av.open(str(out / entry["video"])) as container:
            decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert len(decoded) == 30 and decoded[0].shape == (180, 320, 3)
    assert main(["synth", "--scenes", "1", "--out", str(out), "--scene-size", "320x181"]) == 2
    assert main(["synth", "--scenes", "1"]) == 2


def test_mtcnn_finds_the_scene_faces() -> None:
    from dkclip.predict.faces import MTCNNDetector
    from dkclip.synth.scenes.renderer import SceneRenderer

    # one thread: the test machines are shared, and MTCNN's small convolutions spin-wait on a busy CPU
    detector = MTCNNDetector(num_threads=1)
    found = total = 0
    for index in range(6):
        spec = SceneSpec(num_faces=1 + index % 3, num_frames=48, seed=0, index=index)
        picked = list(range(0, spec.num_frames, 4))
        # only the frames looked at are drawn: SceneRenderer.frame(t) is render_scene's frame t (checked in
        # test_scene_renderer_streams_the_same_frames_and_writes_long_scenes)
        renderer = SceneRenderer(spec)
        rendered = [renderer.frame(t) for t in picked]
        detections = detector.detect([image for image, _ in rendered])
        for (_, records), dets in zip(rendered, detections, strict=True):
            for rec in records:
                # fully in view, nobody in front, and no noise that hides the face (occluder, dark, blur)
                if rec["visible"] < 1 or rec["occluded"] > 0 or rec["noise"] not in (None, "expression"):
                    continue
                total += 1
                found += any(_iou(rec["box"], d.box) >= 0.5 for d in dets)
    assert total > 100
    assert found / total >= 0.95, f"MTCNN recall {found}/{total}"


def test_scene_renderer_streams_the_same_frames_and_writes_long_scenes(tmp_path: Path) -> None:
    from dkclip.synth.scenes import SceneRenderer, write_scene_mp4

    spec = replace(SMALL, num_frames=12)
    frames, truth = render_scene(spec)
    streamed = list(SceneRenderer(spec))
    assert len(streamed) == 12
    assert all(np.array_equal(img, frames[t]) and recs == truth.frames[t] for t, (img, recs) in enumerate(streamed))
    path = write_scene_mp4(spec, tmp_path / "long.mp4")
    with av.open(str(path)) as c:
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(decoded) == 12 and decoded[0].shape == (180, 320, 3)
    assert np.abs(decoded[5].astype(int) - frames[5]).mean() < 4  # lossy, but the same picture
