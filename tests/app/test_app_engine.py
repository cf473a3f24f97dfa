"""The app's work without a browser (dkclip.app.engine, caching, inputs, settings, views): reruns reuse the kept
frames and faces and give the files a fresh run gives, hostile uploads are one plain line each while the rest of
a run goes on, Cancel keeps nothing half-done, and tabs do not share folders."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from dkclip.app.caching import Cancelled
from dkclip.app.engine import AppEngine, Session
from dkclip.app.inputs import stage_inputs
from dkclip.app.settings import RunSettings
from dkclip.app.views import run_status, segment_rows
from dkclip.errors import UsageError
from dkclip.predict.models import ModelChoice
from dkclip.synth import ClipSpec, render_clip, write_mp4
from media_fixtures import write_video

# Face-crop videos (the synthetic clips): detector "none" runs the model without a face detector.
CROPS = RunSettings(detector="none", window=1.0, stride=0.5)
RESULT_FILES = ["annotated.mp4", "aus.png", "frames.csv", "timeline.png", "windows.csv", "windows.json"]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> AppEngine:
    engine = AppEngine(ModelChoice(), tmp_path_factory.mktemp("app-root"))
    engine.load()
    return engine


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1.6 s synthetic face clip, uploaded as "face clip.mp4" (a name with a space)."""
    frames, _ = render_clip(ClipSpec(clip_id="c", label=0, identity=5, num_frames=40))
    path = tmp_path_factory.mktemp("upload") / "face clip.mp4"
    write_mp4(path, np.stack(frames))
    return path


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_settings_from_the_form_are_normalised_and_checked() -> None:
    s = RunSettings.from_form(window=0.30000000000000004 * 10, stride="0.5", head="local", detector="mtcnn",
                              detect_every=5.0, min_face_size=40, threshold=0.9, max_faces=None, crop_scale=1.07)
    assert (s.window, s.stride, s.detect_every, s.max_faces) == (3.0, 0.5, 5, 0)
    assert s.cli_args()[:4] == ["--window", "3.0", "--stride", "0.5"] and "--max-faces" not in s.cli_args()
    assert s.detector_options() == {"max_faces": None, "min_face_size": 40, "threshold": 0.9}
    assert RunSettings(detector="none").detector_options() == {}
    assert s.changed_from(RunSettings()) == ["window", "stride", "head", "min_face_size", "threshold", "crop_scale"]
    for bad in ({"window": "two"}, {"head": "middle"}, {"detect_every": 2.5}, {"max_faces": -1},
                {"window": float("nan")}):
        form = {"window": 2, "stride": 1, "head": "global", "detector": "mtcnn", "detect_every": 5,
                "min_face_size": 20, "threshold": 0.8, "max_faces": 0, "crop_scale": 1.3, **bad}
        with pytest.raises(UsageError):
            RunSettings.from_form(**form)


def test_uploads_are_staged_under_their_own_names(tmp_path: Path) -> None:
    up = tmp_path / "up"
    for sub, name in (("a", "clip.mp4"), ("b", "clip.mp4"), ("c", "2.png"), ("c", "10.png"), ("c", "1.png")):
        (up / sub).mkdir(parents=True, exist_ok=True)
        (up / sub / name).write_bytes(b"x")
    uploads = [str(up / s / n) for s, n in (("a", "clip.mp4"), ("b", "clip.mp4"), ("c", "2.png"), ("c", "10.png"),
                                            ("c", "1.png"))]
    staged = stage_inputs(uploads, tmp_path / "in", max_bytes=10)
    assert [s.name for s in staged] == ["clip.mp4", "clip_2.mp4", "frames"]
    assert sorted(p.name for p in staged[2].path.iterdir()) == ["1.png", "10.png", "2.png"]
    (up / "a" / "clip.mp4").write_bytes(b"x" * 11)
    with pytest.raises(UsageError, match=r"clip.mp4 is 11 bytes; this app takes files up to 10 bytes"):
        stage_inputs(uploads, tmp_path / "in2", max_bytes=10)
    (up / "b" / "clip.mp4").write_bytes(b"")
    with pytest.raises(UsageError, match="empty"):
        stage_inputs([str(up / "b" / "clip.mp4")], tmp_path / "in3", max_bytes=10)
    with pytest.raises(UsageError, match="choose a video"):
        stage_inputs([], tmp_path / "in4", max_bytes=10)


def test_rerun_reuses_frames_and_faces_and_writes_what_a_fresh_run_writes(engine: AppEngine, clip: Path) -> None:
    session = engine.session("rerun")
    first = engine.run(session, [str(clip)], CROPS)
    assert [o.error for o in first.inputs] == [""] and first.inputs[0].reused == []
    assert sorted(_files(first.folder)) == RESULT_FILES
    assert first.command.startswith("dkclip predict 'face clip.mp4' --window 1.0 --stride 0.5")
    cache = session.caches["face clip.mp4"]
    assert cache.frames is not None and len(cache.frames) == 40
    originals = _files(first.folder)

    other = RunSettings(detector="none", window=0.8, stride=0.4, head="fused")
    second = engine.run(session, [str(clip)], other)
    assert second.inputs[0].reused == ["the decoded frames"]  # detector none: no face memo to speak of
    assert second.changed == ["window", "stride", "head"]
    assert "Rerun (changed: window, stride, head): reused the decoded frames" in run_status(second)
    rerun_files = _files(second.folder)  # the next run replaces this run's folder
    # The same settings again, from the kept frames: the files of the first run, byte for byte.
    third = engine.run(session, [str(clip)], CROPS)
    assert _files(third.folder) == originals
    # ... and the rerun with other settings equals a fresh tab's run with them (nothing stale was reused).
    fresh = engine.run(engine.session("fresh"), [str(clip)], other)
    assert _files(fresh.folder) == rerun_files
    # The zip holds exactly the result files; only the latest run's folder is kept.
    assert third.zip_path is not None
    with zipfile.ZipFile(third.zip_path) as zf:
        assert sorted(zf.namelist()) == RESULT_FILES
        assert zf.read("frames.csv") == originals["frames.csv"]
    assert sorted(p.name for p in session.folder.glob("run-*")) == [third.folder.parent.name]
    assert not [p for p in third.folder.parent.iterdir() if p.name.startswith(".")]  # no temporary left
    rows = segment_rows(third.inputs[0].result)
    assert rows and all(r[0] == 1 and r[1] < r[2] and 0 < r[4] <= 1 for r in rows)


def test_hostile_uploads_are_plain_messages_and_the_others_finish(engine: AppEngine, clip: Path,
                                                                  tmp_path: Path) -> None:
    up = tmp_path / "up"
    up.mkdir()
    (up / "notes.mp4").write_text("this is text, not a video\n" * 20)
    (up / "cut.mp4").write_bytes(clip.read_bytes()[:600])
    (up / "clip.mp4").write_bytes(clip.read_bytes())
    grey = write_video(up / "nobody.mp4", 30, 120, 160)
    session = engine.session("hostile")
    out = engine.run(session, [str(up / "notes.mp4"), str(up / "cut.mp4"), str(up / "clip.mp4"), grey],
                     RunSettings(window=1.0, stride=0.5))  # MTCNN: clip.mp4 is a face crop it finds
    errors = {o.name: o.error for o in out.inputs}
    assert errors["clip.mp4"] == errors["nobody.mp4"] == ""
    for name in ("notes.mp4", "cut.mp4"):
        assert errors[name].startswith(f"{name}: ") and "Traceback" not in errors[name]
        assert str(session.folder) not in errors[name]  # the user's file name, not the server's path
    assert "no face found in nobody.mp4" in run_status(out)
    with zipfile.ZipFile(out.zip_path) as zf:
        names = zf.namelist()
    assert "index.csv" in names and "clip/frames.csv" in names and "nobody/timeline.png" in names
    assert not any(n.startswith(("notes/", "cut/")) for n in names)
    index = (out.folder / "index.csv").read_text().splitlines()
    assert [line.split(",")[2] for line in index[1:]] == ["failed", "failed", "ok", "ok"]
    with pytest.raises(UsageError, match="choose a video"):
        engine.run(session, [], CROPS)


def test_cancel_keeps_nothing_and_the_next_run_works(engine: AppEngine, clip: Path) -> None:
    session = engine.session("cancel")

    def cancel_at_once(fraction: float, text: str) -> None:
        if "frame" in text:
            session.cancel.set()

    with pytest.raises(Cancelled):
        engine.run(session, [str(clip)], CROPS, progress=cancel_at_once)
    assert session.caches["face clip.mp4"].frames is None  # a cancelled decode is not kept
    assert not session.lock.locked()
    out = engine.run(session, [str(clip)], CROPS)
    assert out.zip_path is not None and out.zip_path.is_file()


def test_tabs_have_their_own_folders_removed_when_closed(engine: AppEngine) -> None:
    a, b = engine.session("tab-a"), engine.session("tab-b")
    assert isinstance(a, Session) and a.folder != b.folder and a is engine.session("tab-a")
    engine.close_session("tab-a")
    assert not a.folder.exists() and b.folder.is_dir()


def test_zero_shot_with_the_users_own_classes(tiny_clip_file: Path, clip: Path, tmp_path: Path) -> None:
    engine = AppEngine(ModelChoice(zero_shot=True, clip_weights=str(tiny_clip_file)), tmp_path / "root")
    session = engine.session("zs")
    spec = engine.prompt_spec(session, "dfew", "a smiling face\n\n a frowning face \n")
    assert spec is not None and Path(spec).read_text().splitlines() == ["id,name", "0,a smiling face",
                                                                       "1,a frowning face"]
    assert engine.prompt_spec(session, "mafw", "  \n") == "mafw"
    out = engine.run(session, [str(clip)], CROPS, spec)
    result = out.inputs[0].result
    assert result is not None and result.class_names == ["a smiling face", "a frowning face"]
    assert f"--zero-shot --clip-weights {tiny_clip_file} --prompts prompts.csv" in out.command
    with zipfile.ZipFile(out.zip_path) as zf:
        assert "prompts.csv" in zf.namelist()  # the command line above names it


def test_a_cpu_runtime_is_built_once_and_the_command_line_writes_the_same_files(
        clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``dkclip app --runtime torch-int8``: the int8 copy is made once for the app, not per run (seconds for
    ViT-B/16), the page says how the model runs, and the printed command gives the app's files byte for byte."""
    import shlex
    import shutil

    import dkclip.predict.runtime as runtime_module
    from dkclip.cli import main

    quantised = []
    real = runtime_module.quantize_encoder
    monkeypatch.setattr(runtime_module, "quantize_encoder", lambda model: quantised.append(1) or real(model))
    with pytest.raises(UsageError, match="runtime must be one of"):
        AppEngine(ModelChoice(), tmp_path / "bad", runtime="fp16")
    engine = AppEngine(ModelChoice(), tmp_path / "root", runtime="torch-int8")
    assert engine.describe_model().endswith("video encoder in int8")
    session = engine.session("int8")
    first = engine.run(session, [str(clip)], CROPS)
    app_files = _files(first.folder)
    engine.run(session, [str(clip)], RunSettings(detector="none", window=0.8, stride=0.4))
    assert quantised == [1]
    assert "--runtime torch-int8" in first.command

    cli_dir = tmp_path / "cli"
    cli_dir.mkdir()
    shutil.copyfile(clip, cli_dir / clip.name)
    monkeypatch.chdir(cli_dir)
    assert main(shlex.split(first.command)[1:]) == 0
    assert _files(cli_dir / "results") == app_files
    assert '"runtime": "torch-int8"' in app_files["windows.json"].decode()


@pytest.mark.parametrize(("option", "value"), [("max_upload_mb", 0.0), ("max_upload_mb", -1.0),
                                               ("cache_mb", -1.0), ("cache_mb", float("nan"))])
def test_limits_out_of_range_are_refused(option: str, value: float, tmp_path: Path) -> None:
    """--max-upload-mb 0 silently meant the default (500), -1 refused every upload, --cache-mb nan was a
    traceback."""
    flag = "--" + option.replace("_", "-")
    with pytest.raises(UsageError, match=flag):
        AppEngine(ModelChoice(), tmp_path, **{option: value})  # type: ignore[arg-type]
