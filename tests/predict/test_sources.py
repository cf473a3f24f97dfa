"""Inputs: expansion, streaming decode with real timestamps and rotation, and one-line errors for bad files."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from predict_helpers import write_scene_video

from decoding_fixtures import write_cut_video
from dkclip.data.decoding import rotate_to_display
from dkclip.errors import PredictionError
from dkclip.predict.sources import expand_inputs, open_live, open_source
from media_fixtures import write_frame_folder, write_video


def test_expand_inputs_directories_frame_folders_and_lists(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    write_video(root / "a.mp4", 3)
    write_video(root / "sub" / "b.mkv", 3)
    write_frame_folder(root / "clips" / "c", 3)
    (root / "notes.md").write_text("not media")
    found = expand_inputs([root])
    assert [p.relative_to(root).as_posix() for p in found] == ["a.mp4", "clips/c", "sub/b.mkv"]
    # A frame folder named directly is one clip; a list file names media relative to itself; repeats collapse.
    assert expand_inputs([root / "clips" / "c"]) == [root / "clips" / "c"]
    listing = tmp_path / "inputs.txt"
    listing.write_text("# my videos\ndata/a.mp4\n\ndata/clips/c\ndata/a.mp4\nmissing.mp4\n")
    assert expand_inputs([listing]) == [tmp_path / "data/a.mp4", tmp_path / "data/clips/c", tmp_path / "missing.mp4"]


def test_video_frames_stream_with_timestamps(tmp_path: Path) -> None:
    path = write_video(tmp_path / "v.mp4", 10, fps=20)
    with open_source(path) as src:
        assert src.info.fps == 20 and src.info.kind == "video"
        frames = iter(src)
        first = next(frames)
        assert first.index == 0 and first.time == 0.0 and first.image.shape == (64, 80, 3)
        rest = list(frames)
    assert [round(f.time, 3) for f in rest] == [round(i / 20, 3) for i in range(1, 10)]
    assert src.info.num_frames == 10


def test_variable_frame_rate_uses_frame_timestamps(tmp_path: Path) -> None:
    times = [0.0, 0.04, 0.08, 0.5, 0.54, 1.3, 1.34, 2.0]
    for ext in ("mp4", "mkv"):
        path = write_scene_video(tmp_path / f"vfr.{ext}", lambda i: [], len(times), times=times)
        with open_source(path) as src:
            got = [f.time for f in src]
        assert np.allclose(got, times, atol=1e-3), ext


def test_rotation_metadata_is_applied(tmp_path: Path) -> None:
    # A marker in the stored frame's top-left corner; the display matrix says "rotate 90° counter-clockwise"
    # (PyAV's convention), so the displayed frame is portrait with the marker at the bottom-left.
    box = [(0, 0, 24, 24)]
    path = write_scene_video(tmp_path / "rot.mp4", lambda i: box, 3, height=64, width=96, rotation=90)
    with open_source(path) as src:
        frame = next(iter(src))
        assert src.info.rotation == 90
    img = frame.image
    assert img.shape == (96, 64, 3)
    red = (img[..., 0] > 150) & (img[..., 1] < 90)
    ys, xs = np.nonzero(red)
    assert ys.min() > 60 and xs.max() < 30
    # -90 (a phone held upright) turns the other way.
    assert np.array_equal(rotate_to_display(np.arange(6).reshape(2, 3, 1), -90)[..., 0], [[3, 0], [4, 1], [5, 2]])


def test_frame_folder_and_image_sources(tmp_path: Path) -> None:
    folder = write_frame_folder(tmp_path / "f", 12)
    with open_source(folder, fps=10) as src:
        frames = list(src)
    assert len(frames) == 12 and frames[11].time == pytest.approx(1.1) and src.info.kind == "frames"
    image = tmp_path / "one.png"
    Image.new("RGB", (40, 30), (200, 0, 0)).save(image)
    with open_source(image) as src:
        (frame,) = list(src)
    assert frame.image.shape == (30, 40, 3) and src.info.kind == "image"


def _audio_only(path: Path) -> None:
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode():
            c.mux(p)


def test_bad_inputs_are_one_line_errors_naming_the_file(tmp_path: Path) -> None:
    good = Path(write_video(tmp_path / "good.mp4", 20))
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    empty = tmp_path / "empty.mp4"
    empty.touch()
    text = tmp_path / "text.mp4"
    text.write_text("this is not a video\n" * 20)
    audio = tmp_path / "audio.mp4"
    _audio_only(audio)
    empty_dir = tmp_path / "no_images"
    empty_dir.mkdir()
    (empty_dir / "readme.txt").write_text("x")
    cases = {tmp_path / "missing.mp4": "no such file", empty: "empty file", text: "not a video",
             truncated: "no video stream|truncated", audio: "no video stream", empty_dir: "no images"}
    for path, what in cases.items():
        with pytest.raises(PredictionError, match=what) as info, open_source(path) as src:
            list(src)
        message = str(info.value)
        assert str(path) in message and "\n" not in message


def test_live_file_is_paced_at_its_own_frame_rate(tmp_path: Path) -> None:
    import time

    path = write_video(tmp_path / "live.mp4", 10, fps=20)  # 0.5 s of video
    start = time.monotonic()
    with open_live(str(path)) as src:
        arrivals = [(f.time, time.monotonic() - start) for f in src]
    assert src.info.kind == "live" and len(arrivals) == 10
    # No frame is delivered before its time (small tolerance for timer resolution).
    assert all(wall >= t - 0.02 for t, wall in arrivals)
    assert arrivals[-1][1] >= 0.43
    with pytest.raises(PredictionError, match=r"nope\.mp4"):
        open_live(str(tmp_path / "nope.mp4"))


def test_a_video_cut_short_with_its_index_intact_is_an_error(tmp_path: Path) -> None:
    """An mp4 whose index (moov) is at the front decodes up to the cut without an error from FFmpeg when frame
    threading is on; the frame count of the header tells it from a complete file. Far short (fewer than half
    the frames) it is refused; a few frames short it is used with a warning (tests/data/test_decoding.py)."""
    whole, cut = write_cut_video(tmp_path, 50, keep=20)
    data = whole.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")
    with open_source(whole) as src:
        assert len(list(src)) == 50
    with pytest.raises(PredictionError, match=r"cut20\.mp4: truncated or corrupt video: decoding stopped after "
                                              r"\d+ of the 50 frames") as info, open_source(cut) as src:
        list(src)
    assert "\n" not in str(info.value)
