"""Tests of ``dkclip synth``: determinism, ground truth, folds, lists, noise, 11 classes, mp4, CLI, speed."""

from __future__ import annotations

import csv
import json
import time
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from dkclip.cli import main
from dkclip.synth import (
    AU_IDS,
    ClipSpec,
    SynthConfig,
    active_aus,
    appearance_of,
    build_plan,
    class_au_set,
    generate_dataset,
    preset_config,
    render_clip,
    render_frame,
)

SMALL = dict(clips_per_class=3, frames=(16, 20), folds=3)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _read_list(path: Path) -> list[tuple[str, int, int]]:
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split(" ")
        assert len(parts) == 3, f"{path}: bad line {line!r}"
        rows.append((parts[0], int(parts[1]), int(parts[2])))
    return rows


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "ds"
    generate_dataset(out, seed=3, **SMALL)
    return out


def test_same_seed_is_byte_identical_and_worker_independent(dataset: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_dataset(again, seed=3, workers=2, **SMALL)
    a, b = _files(dataset), _files(again)
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    other = tmp_path / "other"
    generate_dataset(other, seed=4, **SMALL)
    c = _files(other)
    differing = [k for k in a if k in c and a[k] != c[k]]
    assert len(differing) > len(a) // 2


def test_layout_lists_and_frame_counts(dataset: Path) -> None:
    meta = json.loads((dataset / "meta.json").read_text())
    assert meta["classes"] == ["happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"]
    assert meta["seed"] == 3 and meta["preset"] == "aligned" and meta["size"] == 112
    with (dataset / "prompts.csv").open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["id", "name"] and [r[1] for r in rows[1:]] == meta["classes"]
    assert [int(r[0]) for r in rows[1:]] == list(range(7))
    for k in range(1, 4):
        for split in ("train", "test"):
            for rel, n, label in _read_list(dataset / f"set_{k}_{split}.txt"):
                assert 0 <= label < 7
                jpgs = sorted((dataset / rel).glob("*.jpg"))
                assert len(jpgs) == n and 16 <= n <= 20
                assert jpgs[0].name == "00001.jpg" and jpgs[-1].name == f"{n:05d}.jpg"
                side = json.loads((dataset / "annotations" / f"{Path(rel).name}.json").read_text())
                assert side["label"] == label and side["num_frames"] == n and len(side["frames"]) == n
    with Image.open(next((dataset / "frames").rglob("00001.jpg"))) as im:
        assert im.size == (112, 112) and im.mode == "RGB"
    assert meta["counts"]["clips_per_class"] == [3] * 7


def test_folds_are_identity_disjoint_and_cover_each_clip_once(dataset: Path) -> None:
    identity = {p.stem: json.loads(p.read_text())["identity"] for p in (dataset / "annotations").glob("*.json")}
    test_folds: dict[str, int] = {}
    fold_ids = []
    for k in range(1, 4):
        test = {Path(r).name for r, _, _ in _read_list(dataset / f"set_{k}_test.txt")}
        train = {Path(r).name for r, _, _ in _read_list(dataset / f"set_{k}_train.txt")}
        assert not test & train and test | train == set(identity)
        assert {identity[c] for c in test}.isdisjoint({identity[c] for c in train})
        for c in test:
            assert c not in test_folds, f"clip {c} in two test folds"
            test_folds[c] = k
        fold_ids.append({identity[c] for c in test})
    assert set(test_folds) == set(identity)
    for i in range(3):
        for j in range(i + 1, 3):
            assert fold_ids[i].isdisjoint(fold_ids[j])


def test_default_noise_frequency(dataset: Path) -> None:
    sides = [json.loads(p.read_text()) for p in (dataset / "annotations").glob("*.json")]
    heavy = 0
    for s in sides:
        flagged = sum(f["noise"] is not None for f in s["frames"])
        assert flagged == s["num_noisy_frames"]
        heavy += flagged * 4 >= s["num_frames"]
    assert heavy * 2 >= len(sides)
    # larger plan, no rendering: the plan alone fixes which clips are noisy
    plan = build_plan(clips_per_class=10, seed=0)
    assert sum(s.noisy for s in plan.specs) * 2 >= len(plan.specs)


@pytest.mark.parametrize("kind", ["expression", "occlusion", "blur", "dark"])
def test_noise_flags_match_the_pixels(kind: str) -> None:
    cfg = replace(SynthConfig(), noise_kinds=(kind,), noise_fraction=(0.4, 0.5))
    label = 0  # happiness: AUs 6, 12, 25
    spec = ClipSpec(clip_id="x", label=label, identity=2, num_frames=24, index=7, seed=11, config=cfg)
    noisy, truth = render_clip(spec)
    clean, clean_truth = render_clip(spec, noise=False)
    mask = truth.noise_mask
    assert mask.sum() >= 0.4 * 24 and set(truth.noise) == {kind, None}
    assert not clean_truth.noise_mask.any()
    assert np.array_equal(noisy[~mask], clean[~mask])  # noise only touches flagged frames
    target = class_au_set(label)
    for t in np.flatnonzero(mask):
        a, b = noisy[t].astype(np.float64), clean[t].astype(np.float64)
        if kind == "expression":
            assert active_aus(truth.aus[t]) != target
            assert np.abs(a - b).mean() > 0.5
        elif kind == "occlusion":
            assert np.abs(a - b).mean() > 3.0
            assert np.array_equal(truth.aus[t], clean_truth.aus[t])
        elif kind == "blur":
            def sharp(x: np.ndarray) -> float:
                g = x.mean(axis=2)
                return float(np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())
            assert sharp(a) < 0.7 * sharp(b)
        else:
            assert a.mean() < 0.4 * b.mean()
    # clean apex frames show exactly the labelled AU set
    tl = truth.timeline
    for t in range(tl.apex_start, tl.apex_end):
        if not mask[t]:
            assert active_aus(truth.aus[t]) == target


def test_every_au_has_a_visible_graded_effect() -> None:
    app = appearance_of(0, 5, SynthConfig())
    base = render_frame(app, np.zeros(len(AU_IDS))).astype(np.float64)
    for i, au in enumerate(AU_IDS):
        diffs = []
        for level in (0.5, 1.0):
            vec = np.zeros(len(AU_IDS))
            vec[i] = level
            diffs.append(np.abs(render_frame(app, vec).astype(np.float64) - base).mean())
        assert diffs[0] > 0.05, f"AU{au} invisible at 0.5"
        assert diffs[1] > diffs[0], f"AU{au} not graded"
        assert diffs[1] > 0.2, f"AU{au} too subtle at 112 px ({diffs[1]:.3f})"


def test_eleven_classes(tmp_path: Path) -> None:
    out = tmp_path / "mafw"
    meta = generate_dataset(out, num_classes=11, clips_per_class=1, frames=(12, 14), folds=2, seed=1)
    assert meta["classes"][7:] == ["contempt", "anxiety", "helplessness", "disappointment"]
    names = [r[1] for r in csv.reader((out / "prompts.csv").open())][1:]
    assert len(names) == 11
    labels = sorted(label for k in (1, 2) for _, _, label in _read_list(out / f"set_{k}_test.txt"))
    assert labels == list(range(11))
    contempt = [json.loads(p.read_text()) for p in (out / "annotations").glob("*.json")]
    contempt = next(s for s in contempt if s["label"] == 7)
    apex = [f for f in contempt["frames"] if f["phase"] == "apex" and f["noise"] is None]
    assert apex and all(set(f["unilateral"]) == {"12", "14"} for f in apex)


def test_mp4_format_decodes_with_right_frame_count(tmp_path: Path) -> None:
    out = tmp_path / "mp4"
    generate_dataset(out, clips_per_class=1, frames=(12, 16), folds=2, seed=2, fmt="mp4")
    rows = [row for k in (1, 2) for row in _read_list(out / f"set_{k}_test.txt")]
    assert len(rows) == 7
    plan = {s.clip_id: s for s in build_plan(clips_per_class=1, frames=(12, 16), folds=2, seed=2).specs}
    for rel, n, _ in rows:
        assert rel.startswith("videos/") and rel.endswith(".mp4")
        with av.open(str(out / rel)) as container:
            decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        assert decoded.shape == (n, 112, 112, 3)
        frames, _ = render_clip(plan[Path(rel).stem])
        assert np.abs(decoded.astype(np.float64) - frames).mean() < 6.0


def test_cli_writes_dataset_and_strip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, strip = tmp_path / "cli", tmp_path / "strip.png"
    args = ["synth", "--out", str(out), "--clips-per-class", "1", "--frames", "10-12", "--folds", "2",
            "--seed", "5", "--preset", "wild", "--strip", str(strip), "--strip-columns", "2"]
    assert main(args) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["preset"] == "wild" and meta["config"]["background"] == "busy" and meta["counts"]["clips"] == 7
    assert (out / "set_2_test.txt").is_file()
    with Image.open(strip) as im:
        assert im.height == 8 * (112 + 2)  # 7 classes + the noisy row
    assert "wrote 7 clips" in capsys.readouterr().out
    assert main(args[:-4]) == 2  # non-empty --out without --overwrite is refused
    assert main([*args[:-4], "--overwrite"]) == 0


def test_presets_and_knobs() -> None:
    wild = preset_config("wild", rotation=2.0)
    assert wild.background == "busy" and wild.rotation == 2.0 and wild.face_scale[1] < 1.0
    with pytest.raises(ValueError):
        preset_config("aligned", noise_kinds=("rain",))
    # were numpy's "high - low < 0" and "cannot convert float NaN to integer" from inside the renderer
    for knob, value, says in (("offset", -1.0, "offset must be a number ≥ 0"),
                              ("rotation", float("nan"), "rotation must be a number ≥ 0"),
                              ("lighting", 2.0, r"lighting must be in \[0, 1\]"),
                              ("face_scale", (float("nan"),) * 2, "face_scale must be")):
        with pytest.raises(ValueError, match=says):
            preset_config("wild", **{knob: value})


def test_render_api_and_speed() -> None:
    spec = ClipSpec(clip_id="s", label=4, identity=1, num_frames=48, index=3, seed=0)
    render_clip(spec)  # warm-up
    start = time.perf_counter()
    frames, truth = render_clip(spec)
    fps = 48 / (time.perf_counter() - start)
    assert frames.shape == (48, 112, 112, 3) and frames.dtype == np.uint8
    assert truth.aus.shape == (48, len(AU_IDS)) and truth.aus_sides.shape == (48, 2, len(AU_IDS))
    assert "jaw drop" in truth.caption(truth.timeline.apex_start + 1) or truth.noise_mask.any()
    assert fps >= 50, f"{fps:.0f} frames/s"
