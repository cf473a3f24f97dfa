"""``dkclip predict`` end to end: outputs, batches with a bad file, one-line errors, models, live mode."""

from __future__ import annotations

import csv
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from predict_helpers import tiny_model

import dkclip
from dkclip.cli import main
from dkclip.model.au_evidence import DEFAULT_AUS, au_column
from dkclip.predict.outputs import frame_columns
from dkclip.synth import ClipSpec, render_clip, write_mp4
from media_fixtures import write_video

CLASSES = ["happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"]
AU_COLUMNS = [au_column(a) for a in DEFAULT_AUS]


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dkclip.save_model(tiny_model(), tmp_path_factory.mktemp("model") / "export")


@pytest.fixture(scope="module")
def synth_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic face clip (the kind of face crop the datasets have): 2.4 s at 25 fps."""
    frames, _ = render_clip(ClipSpec(clip_id="c", label=0, identity=3, num_frames=60))
    path = tmp_path_factory.mktemp("clips") / "smile.mp4"
    write_mp4(path, frames)
    return path


def _decode_count(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def test_end_to_end_with_detector_none(export: Path, synth_clip: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out, video = tmp_path / "out", tmp_path / "annotated.mp4"
    code = main(["predict", str(synth_clip), "--model", str(export), "--detector", "none", "--out", str(out),
                 "--render", str(video)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "smile.mp4" in printed and "face 1: shown 0.0-2.4 s" in printed and "segments:" in printed
    assert {p.name for p in out.iterdir()} == {"frames.csv", "windows.csv", "windows.json", "timeline.png", "aus.png"}
    with (out / "frames.csv").open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == frame_columns(CLASSES, AU_COLUMNS) and len(rows) == 61
    assert _decode_count(video) == 60


def test_batch_reports_a_corrupt_file_and_finishes_the_others(export: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    write_video(inputs / "a.mp4", 30)
    (inputs / "b.mp4").write_bytes((inputs / "a.mp4").read_bytes()[:400])  # truncated
    write_video(inputs / "c.mkv", 30)
    out = tmp_path / "out"
    code = main(["predict", str(inputs), "--model", str(export), "--detector", "none", "--out", str(out),
                 "--no-plot"])
    assert code == 1
    err = capsys.readouterr().err
    assert "b.mp4" in err and "skipped" in err and "1 of 3 inputs failed" in err
    assert (out / "a" / "frames.csv").is_file() and (out / "c" / "frames.csv").is_file()
    assert not (out / "b").exists()
    with (out / "index.csv").open() as fh:
        index = {Path(r["input"]).name: r for r in csv.DictReader(fh)}
    assert index["a.mp4"]["status"] == "ok" and index["b.mp4"]["status"] == "failed"
    assert "b.mp4" in index["b.mp4"]["error"]


@pytest.mark.parametrize("make, what", [
    (lambda d: d / "missing.mp4", "no such file"),
    (lambda d: (d / "zero.mp4").touch() or d / "zero.mp4", "empty file"),
    (lambda d: (d / "text.avi").write_text("hello\n" * 50) and d / "text.avi", "not a video"),
])
def test_bad_single_input_is_a_one_line_error(make, what: str, export: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = make(tmp_path)
    code = main(["predict", str(path), "--model", str(export), "--detector", "none"])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dkclip predict: error:") and str(path) in err[0] and what in err[0]


def test_model_of_the_wrong_kind(tiny_clip_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = write_video(tmp_path / "v.mp4", 10)
    code = main(["predict", video, "--model", str(tiny_clip_file), "--detector", "none"])
    err = capsys.readouterr().err
    assert code == 1 and str(tiny_clip_file) in err and "clip-weights" in err


def test_clip_weights_given_as_the_model_say_how_to_run_them(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from dkclip.pretrained import get_pretrained_cfg

    clip = get_pretrained_cfg("dkclip-tiny", "synthclip").path  # a CLIP state dict in safetensors
    video = write_video(tmp_path / "v.mp4", 10)
    assert main(["predict", video, "--model", str(clip), "--detector", "none"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(clip) in err[0] and f"--zero-shot --clip-weights {clip}" in err[0]


def test_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["predict"]) == 2
    assert main(["predict", "x.mp4", "--zero-shot"]) == 2
    assert "--clip-weights" in capsys.readouterr().err


@pytest.mark.parametrize(("device", "says"), [("cdua", "'cdua' is not a device name"),
                                              ("cuda:99", "'cuda:99'")])  # no machine has 100 GPUs
def test_an_unusable_device_is_a_one_line_error(device: str, says: str, export: Path, synth_clip: Path,
                                                 tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Not torch's traceback about drivers: the option, the value and what is wrong (the app says the same)."""
    from dkclip.app.engine import AppEngine
    from dkclip.errors import UsageError
    from dkclip.predict.models import ModelChoice

    code = main(["predict", str(synth_clip), "--model", str(export), "--device", device, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and f"--device: {says}" in err and "Traceback" not in err
    with pytest.raises(UsageError, match=f"--device: {says}"):
        AppEngine(ModelChoice(), tmp_path / "app", device=device)


@pytest.mark.parametrize("fps", ["0", "-3", "nan"])
def test_a_frame_rate_that_is_not_positive_is_refused(fps: str, export: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """0 used to mean the default and -3 gave negative times (no face tracked, exit 0)."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, image in enumerate(render_clip(ClipSpec(clip_id="f", label=0, identity=3, num_frames=4))[0]):
        Image.fromarray(image).save(frames / f"{i}.png")
    code = main(["predict", str(frames), "--model", str(export), "--detector", "none", "--fps", fps])
    assert code == 2 and "fps must be a positive number" in capsys.readouterr().err


@pytest.mark.parametrize("seconds", ["0", "-1", "nan"])
def test_live_max_seconds_must_be_positive(seconds: str, export: Path, synth_clip: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """-1 used to read nothing and print 'no face tracked' with exit 0."""
    code = main(["predict", "--live", str(synth_clip), "--model", str(export), "--detector", "none",
                 "--max-seconds", seconds])
    assert code == 2 and "--max-seconds" in capsys.readouterr().err


def test_zero_shot_cli(tiny_clip_file: Path, tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", 30)
    out = tmp_path / "out"
    code = main(["predict", video, "--zero-shot", "--clip-weights", str(tiny_clip_file), "--prompts", "mafw",
                 "--detector", "none", "--out", str(out), "--no-plot"])
    assert code == 0
    header = (out / "frames.csv").read_text().splitlines()[0].split(",")
    assert header[8:-1 - len(AU_COLUMNS)] == list(dkclip.prompts.MAFW_CLASSES) and header[-1] == "AU26"


def test_default_model_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = write_video(tmp_path / "v.mp4", 20)
    assert main(["predict", video, "--detector", "none", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "synthclip" in err and "not meaningful" in err


def test_live_cli_prints_rolling_windows(export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = write_video(tmp_path / "cam.mp4", 25, fps=25)  # 1 s, read at its own pace
    code = main(["predict", "--live", video, "--model", str(export), "--detector", "none", "--window", "0.4",
                 "--stride", "0.2", "--quiet", "--out", str(tmp_path / "out"), "--no-plot"])
    assert code == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    assert len(lines) == 4 and "face 1:" in lines[0]
    assert (tmp_path / "out" / "windows.csv").is_file()


def _face_scene(path: Path, num_frames: int = 40) -> Path:
    """A synthetic face (112 px, scaled to 120) moving across a 320x240 grey picture, 25 fps."""
    faces, _ = render_clip(ClipSpec(clip_id="m", label=0, identity=3, num_frames=num_frames))
    frames = np.full((num_frames, 240, 320, 3), 100, np.uint8)
    for i, face in enumerate(faces):
        x = 40 + 2 * i
        frames[i, 60:180, x:x + 120] = np.asarray(Image.fromarray(face).resize((120, 120)))
    write_mp4(path, frames)
    return path


def test_end_to_end_with_mtcnn(export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = _face_scene(tmp_path / "scene.mp4")
    out = tmp_path / "out"
    code = main(["predict", str(video), "--model", str(export), "--out", str(out), "--window", "1.0",
                 "--stride", "0.5", "--render", str(tmp_path / "r.mp4")])
    assert code == 0, capsys.readouterr().err
    import pandas as pd

    frames = pd.read_csv(out / "frames.csv")
    assert frames["face_id"].dropna().unique().tolist() == [1]
    tracked = frames.dropna(subset=["face_id"])
    assert len(tracked) >= 35
    # The box is on the face: its centre follows the drawn face's centre.
    centre_x = tracked["FaceRectX"] + tracked["FaceRectWidth"] / 2
    assert np.abs(centre_x.to_numpy() - (100 + 2 * tracked["frame"].to_numpy())).max() < 15
    # A picture with no face: empty timeline, a clear message, exit 0.
    empty = write_video(tmp_path / "noface.mp4", 30, 120, 160)
    code = main(["predict", empty, "--model", str(export), "--out", str(tmp_path / "out2")])
    assert code == 0 and "no face" in capsys.readouterr().out
    assert (tmp_path / "out2" / "timeline.png").is_file()


@pytest.mark.slow
def test_torchrun_shares_the_inputs_and_merges_the_index(export: Path, tmp_path: Path) -> None:
    import os
    import shutil
    import subprocess
    import sys

    torchrun = Path(sys.executable).with_name("torchrun")  # installed with torch
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in "abc":
        write_video(inputs / f"{name}.mp4", 30)
    (inputs / "d.mp4").write_bytes((inputs / "a.mp4").read_bytes()[:300])
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "dkclip.cli",
                           "predict", str(inputs), "--model", str(export), "--detector", "none", "--out", str(out),
                           "--no-plot", "--quiet"], capture_output=True, text=True, timeout=300, env=env,
                          cwd=tmp_path)
    assert proc.returncode != 0  # d.mp4 failed
    assert "d.mp4" in proc.stderr and "1 of 4 inputs failed" in proc.stderr
    with (out / "index.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [Path(r["input"]).name for r in rows] == ["a.mp4", "b.mp4", "c.mp4", "d.mp4"]
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "failed"]
    assert all((out / n / "frames.csv").is_file() for n in "abc")
    shutil.rmtree(out)
