"""What ``dkclip predict`` wrote is kept: another input's results are refused (unless --overwrite), a folder in use
is refused naming its owner, an interrupted run leaves the previous complete set, and an unusable --out is said in
plain words."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from predict_helpers import moving_box, tiny_model, write_scene_video

import dkclip
from dkclip.cli import main
from dkclip.fileio import commit_files
from dkclip.predict.batch import BatchInterrupted, predict_inputs
from dkclip.predict.faces import Detection, WholeFrameDetector
from dkclip.predict.output_folder import RESULT_FILES, rendered_source
from dkclip.predict.predictor import Predictor
from dkclip.signals import Terminated, deferred_signals, sigterm_interrupts


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "export"
    dkclip.save_model(tiny_model(), out)  # type: ignore[arg-type]
    return out


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    a = Path(write_scene_video(folder / "a.mp4", lambda i: [moving_box(i, vx=0.5)], 50, fps=25))
    b = Path(write_scene_video(folder / "b.mp4", lambda i: [moving_box(i, vx=-0.3)], 50, fps=25))
    return {"a": a, "b": b}


def _run(export: Path, *args: str) -> int:
    return main(["predict", *args, "--model", str(export), "--detector", "none", "--quiet"])


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and p.name in RESULT_FILES}


def test_another_inputs_results_are_refused(export: Path, videos: dict[str, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert _run(export, str(videos["a"]), "--out", str(out)) == 0
    before = _snapshot(out)
    assert set(before) == set(RESULT_FILES)
    capsys.readouterr()

    assert _run(export, str(videos["b"]), "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "a.mp4" in err and "frames.csv" in err and "--overwrite" in err
    assert _snapshot(out) == before  # nothing replaced

    # The same input again replaces its own results (a rerun); --no-aus drops aus.png with the AU columns, so
    # the folder's files still belong to one run.
    assert _run(export, str(videos["a"]), "--out", str(out), "--no-aus") == 0
    assert "aus.png" not in _snapshot(out) and "AU01" not in (out / "frames.csv").read_text().splitlines()[0]

    assert _run(export, str(videos["b"]), "--out", str(out), "--overwrite") == 0
    assert '"source": "' + str(videos["b"]) in (out / "windows.json").read_text()
    assert not list(out.glob(".dkclip-partial-*")) and not (out / ".dkclip.lock").exists()


def test_foreign_files_and_rendered_videos(export: Path, videos: dict[str, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "frames.csv").write_text("my own table\n")
    assert _run(export, str(videos["a"]), "--out", str(out)) == 2
    assert "not written by dkclip predict" in capsys.readouterr().err
    assert (out / "frames.csv").read_text() == "my own table\n"

    render = tmp_path / "a_annotated.mp4"
    assert _run(export, str(videos["a"]), "--render", str(render), "--no-plot") == 0
    assert rendered_source(render) == str(videos["a"])
    assert _run(export, str(videos["a"]), "--render", str(render), "--no-plot") == 0  # same input: replaced
    before = render.read_bytes()
    assert _run(export, str(videos["b"]), "--render", str(render), "--no-plot") == 2
    assert "rendered from" in capsys.readouterr().err and render.read_bytes() == before


def test_render_names_a_video_file_or_a_folder(export: Path, videos: dict[str, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """One input: a video file name is the file; a folder (existing, or a name without extension) gets
    <input name>.mp4 inside; another extension is refused before anything runs."""
    existing = tmp_path / "existing"
    existing.mkdir()  # was refused as "a file dkclip predict did not render"
    for folder in (existing, tmp_path / "new"):
        assert _run(export, str(videos["a"]), "--render", str(folder), "--no-plot") == 0
        assert [p.name for p in folder.iterdir() if not p.name.startswith(".")] == ["a.mp4"]
        assert rendered_source(folder / "a.mp4") == str(videos["a"])
    mkv = tmp_path / "a.mkv"
    assert _run(export, str(videos["a"]), "--render", str(mkv), "--no-plot") == 0 and mkv.stat().st_size > 0
    capsys.readouterr()
    assert _run(export, str(videos["a"]), "--render", str(tmp_path / "a.xyz"), "--no-plot") == 2
    assert "a video file name ends with .mp4" in capsys.readouterr().err and not (tmp_path / "a.xyz").exists()


def test_batch_index_keeps_earlier_rows(export: Path, videos: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "batch"
    assert _run(export, str(videos["a"]), str(videos["b"]), "--out", str(out), "--no-plot") == 0
    other = tmp_path / "other"
    other.mkdir()
    c = Path(write_scene_video(other / "c.mp4", lambda i: [moving_box(i)], 30, fps=25))
    d = Path(write_scene_video(other / "d.mp4", lambda i: [moving_box(i)], 30, fps=25))
    assert _run(export, str(c), str(d), "--out", str(out), "--no-plot") == 0
    rows = (out / "index.csv").read_text().splitlines()
    assert [r.split(",")[1] for r in rows[1:]] == ["c", "d", "a", "b"]
    # A batch whose sub-folder names meet another input's results is refused before anything runs.
    again = tmp_path / "again"
    again.mkdir()
    a2 = Path(write_scene_video(again / "a.mp4", lambda i: [moving_box(i)], 30, fps=25))
    before = _snapshot(out / "a")
    assert _run(export, str(a2), str(c), "--out", str(out), "--no-plot") == 2
    assert _snapshot(out / "a") == before


def test_a_folder_in_use_is_refused(export: Path, videos: dict[str, Path], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / ".dkclip.lock").write_text(f'{{"pid": {owner.pid}, "host": "{os.uname().nodename}", '
                                          '"started": "now", "command": "dkclip predict x --out busy"}')
        assert _run(export, str(videos["a"]), "--out", str(out)) == 1
        err = capsys.readouterr().err
        assert f"process {owner.pid}" in err and str(out) in err
        assert not (out / "frames.csv").exists()
    finally:
        owner.kill()
        owner.wait()
    # Its owner gone, the lock is stale: the next run takes it.
    assert _run(export, str(videos["a"]), "--out", str(out)) == 0


class _SignalAt(WholeFrameDetector):
    """The whole frame as the face, raising a real signal in this process at the ``at``-th frame."""

    def __init__(self, at: int, signum: int) -> None:
        super().__init__()
        self.at, self.signum, self.seen = at, signum, 0

    def detect(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        self.seen += len(frames)
        if self.seen >= self.at:
            signal.raise_signal(self.signum)
        return super().detect(frames)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_batch_keeps_complete_sets(videos: dict[str, Path], tmp_path: Path, signum: int) -> None:
    out = tmp_path / "out"
    predict_inputs(lambda device: Predictor(tiny_model(), detector="none"), [videos["a"], videos["b"]], out=out)
    before = {name: _snapshot(out / name) for name in ("a", "b")}
    # Rerun: a.mp4 completes, the signal arrives while b.mp4 is being read (its 10th frame).
    calls: list[int] = []

    def build(device: object) -> Predictor:
        calls.append(1)
        return Predictor(tiny_model(), detector=_SignalAt(50 + 10, signum), aus=False)

    with sigterm_interrupts(), pytest.raises(BatchInterrupted) as stop:
        predict_inputs(build, [videos["a"], videos["b"]], out=out)
    assert stop.value.exit_code == (143 if signum == signal.SIGTERM else 130)
    message = stop.value.message
    assert "b.mp4 (input 2 of 2)" in message and "1 earlier input" in message and "keeps what it held" in message
    assert _snapshot(out / "b") == before["b"]  # untouched
    assert _snapshot(out / "a") != before["a"] and "aus.png" not in _snapshot(out / "a")  # the new, whole set
    assert "a" in (out / "index.csv").read_text() and not list(out.rglob(".dkclip-partial-*"))


def test_commit_is_not_cut_by_a_signal(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    files = [stage / name for name in ("one.csv", "two.csv", "three.png")]
    for f in files:
        f.write_text(f.name)
    (tmp_path / "old.png").write_text("old")

    def moves() -> Iterator[None]:
        signal.raise_signal(signal.SIGTERM)  # arrives before the moves: held until they are done
        yield

    with sigterm_interrupts(), pytest.raises(Terminated):
        with deferred_signals():
            next(moves())
            commit_files(files, tmp_path, replaced=["one.csv", "old.png"])
        pytest.fail("the held SIGTERM was not delivered")
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["one.csv", "three.png", "two.csv"]


def test_sigterm_to_the_command(export: Path, tmp_path: Path) -> None:
    """A real SIGTERM to a running ``dkclip predict``: exit 143, one line saying what was kept, and the
    previous results byte for byte."""
    # The previous results (a complete set of this input's) are made in this process from a short video, which a
    # long one then replaces under the same name (the input a folder belongs to is its path): only the run that
    # is signalled needs the long video (so that it is still working when the signal comes) and its own process.
    video = Path(write_scene_video(tmp_path / "long.mp4", lambda i: [moving_box(i % 60)], 30, fps=25))
    out = tmp_path / "out"
    assert _run(export, str(video), "--out", str(out)) == 0
    before = _snapshot(out)
    assert set(before) == set(RESULT_FILES)
    write_scene_video(video, lambda i: [moving_box(i % 60)], 400, fps=25)
    args = [sys.executable, "-m", "dkclip.cli", "predict", str(video), "--model", str(export), "--detector", "none",
            "--quiet", "--out", str(out)]
    proc = subprocess.Popen([*args, "--no-aus"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out / ".dkclip.lock").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # into the model's work
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    lines = [line for line in err.splitlines() if line.startswith("dkclip predict:")]
    assert len(lines) == 1 and "SIGTERM" in lines[0] and "keeps what it held before" in lines[0], err
    assert _snapshot(out) == before and not (out / ".dkclip.lock").exists()


def test_unusable_out_in_plain_words(export: Path, videos: dict[str, Path], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert _run(export, str(videos["a"]), "--out", str(blocker / "out")) == 2
    err = capsys.readouterr().err
    assert "cannot create the output folder" in err and "is a file, not a folder" in err and "Errno" not in err
    assert _run(export, str(videos["a"]), "--out", "/proc/dkclip-out") == 2
    err = capsys.readouterr().err
    assert "cannot create the output folder /proc/dkclip-out" in err and "Errno" not in err


@pytest.fixture()
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 16 KiB tmpfs (smaller than one result set) (root only: the tests run as root here and in CI)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_and_read_only_output_folders(export: Path, videos: dict[str, Path], small_tmpfs: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = small_tmpfs / "out"
    code = _run(export, str(videos["a"]), "--out", str(out))
    err = capsys.readouterr().err
    assert code == 1 and "no space left" in err and "Errno" not in err, err
    assert not [p for p in out.iterdir() if p.name in RESULT_FILES]  # nothing half-written takes a name
    assert not list(out.glob(".dkclip-partial-*")) and not (out / ".dkclip.lock").exists()
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    code = _run(export, str(videos["a"]), "--out", str(small_tmpfs / "other"))
    err = capsys.readouterr().err
    assert code == 2 and "read-only" in err and "Errno" not in err, err
