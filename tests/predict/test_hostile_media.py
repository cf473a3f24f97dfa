"""``dkclip predict`` on the odd media a careless user feeds it, as one batch and one by one: each input gets a
clear outcome (results, or one line naming the file), the exit code says whether everything was done, and
results written before are never lost."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from predict_helpers import moving_box, tiny_model, write_scene_video

import dkclip
from dkclip.cli import main
from media_fixtures import write_video


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "export"
    dkclip.save_model(tiny_model(), out)  # type: ignore[arg-type]
    return out


def _audio_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(5):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _png16_folder(folder: Path, n: int = 12) -> Path:
    """A frame folder of 16-bit greyscale PNGs (scientific cameras write these)."""
    folder.mkdir()
    for i in range(n):
        ramp = np.tile(np.linspace(0, 65535, 80, dtype=np.uint16), (64, 1))
        Image.fromarray(np.roll(ramp, 3 * i, axis=1)).save(folder / f"{i:04d}.png")
    return folder


def _mixed_folder(folder: Path) -> Path:
    """Frames with the odd non-image file a real folder has."""
    folder.mkdir()
    for i in range(12):
        Image.fromarray(np.full((64, 80, 3), 10 * i, dtype=np.uint8)).save(folder / f"{i:04d}.jpg")
    (folder / "notes.txt").write_text("recorded on a Tuesday\n")
    (folder / ".DS_Store").write_bytes(b"\0\1\2")
    return folder


_ENCODED: dict[str, bytes] = {}


def _8k_video(path: Path) -> Path:
    """Three 7680x4320 frames: encoded once per session (seconds of x264), the same bytes written again after."""
    if "8k" not in _ENCODED:
        _ENCODED["8k"] = Path(write_video(path, 3, height=4320, width=7680)).read_bytes()
    else:
        path.write_bytes(_ENCODED["8k"])
    return path


MakeInput = Callable[[Path], Path]
# name -> (how to make it, expected: "ok" or a phrase of the one-line error)
CASES: dict[str, tuple[MakeInput, str]] = {
    "zero_byte": (lambda d: (d / "zero.mp4").touch() or d / "zero.mp4", "empty file"),
    "text_as_mp4": (lambda d: (d / "text.mp4").write_text("not a video\n" * 30) and d / "text.mp4", "not a video"),
    "audio_only": (lambda d: _audio_only(d / "audio.mp4"), "no video stream"),
    "one_frame": (lambda d: Path(write_video(d / "one.mp4", 1)), "ok"),
    "8k": (lambda d: _8k_video(d / "big.mp4"), "ok"),
    "png16": (lambda d: _png16_folder(d / "png16"), "ok"),
    "rotated": (lambda d: Path(write_scene_video(d / "rot.mp4", lambda i: [moving_box(i)], 30, rotation=90)), "ok"),
    "vfr": (lambda d: Path(write_scene_video(d / "vfr.mkv", lambda i: [moving_box(i)], 8,
                                             times=[0.0, 0.04, 0.08, 0.5, 0.54, 1.3, 1.34, 2.0])), "ok"),
    "mixed_folder": (lambda d: _mixed_folder(d / "mixed"), "ok"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_odd_input(case: str, export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make, expected = CASES[case]
    media = tmp_path / "media"
    media.mkdir()
    path = make(media)
    out = tmp_path / "out"
    code = main(["predict", str(path), "--model", str(export), "--detector", "none", "--quiet", "--no-plot",
                 "--out", str(out)])
    err = capsys.readouterr().err
    if expected == "ok":
        assert code == 0, err
        assert (out / "windows.json").is_file() and len((out / "frames.csv").read_text().splitlines()) > 1
        assert "Traceback" not in err
    else:
        lines = [line for line in err.splitlines() if line.startswith("dkclip predict:")]
        assert code == 1 and len(lines) == 1 and str(path) in lines[0] and expected in lines[0], err
        assert not [p for p in out.iterdir() if not p.name.startswith(".")]  # nothing (half-)written


def test_the_whole_batch_into_a_folder_with_earlier_results(export: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    media = tmp_path / "media"
    media.mkdir()
    made = {name: make(media) for name, (make, _) in CASES.items()}
    out = tmp_path / "out"
    earlier = Path(write_video(tmp_path / "earlier.mp4", 20))
    assert main(["predict", str(earlier), str(made["one_frame"]), "--model", str(export), "--detector", "none",
                 "--quiet", "--out", str(out)]) == 0
    kept = {p.relative_to(out): p.read_bytes() for p in (out / "earlier").iterdir()}
    capsys.readouterr()

    code = main(["predict", str(media), "--model", str(export), "--detector", "none", "--quiet", "--no-plot",
                 "--out", str(out)])
    err = capsys.readouterr().err
    failing = [name for name, (_, expected) in CASES.items() if expected != "ok"]
    assert code == 1 and f"{len(failing)} of {len(CASES)} inputs failed" in err, err
    with (out / "index.csv").open(newline="") as fh:
        rows = {Path(r["input"]).name: r for r in csv.DictReader(fh)}
    for name, (_, expected) in CASES.items():
        row = rows[made[name].name]
        assert row["status"] == ("ok" if expected == "ok" else "failed"), (name, row)
        if expected != "ok":
            assert expected in row["error"] and not (out / row["output"]).exists()
    assert "earlier.mp4" in rows  # the earlier batch's row is still listed ...
    assert {p.relative_to(out): p.read_bytes() for p in (out / "earlier").iterdir()} == kept  # ... and its files
