"""The one decoding layer: rotation metadata, EXIF orientation and damaged videos give the same result through
the training/evaluation readers (data/media.py) and the predictor (predict/sources.py)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from decoding_fixtures import write_cut_video, write_exif_folder
from dkclip.data import build_dataset
from dkclip.data.decoding import Announced, FrameClock, frame_rotation, judge_decoded
from dkclip.data.errors import MediaError
from dkclip.data.media import AutoReader, FrameFolderReader, VideoFileReader
from dkclip.errors import PredictionError
from dkclip.predict.sources import open_source
from media_fixtures import frame_level

sys.path.insert(0, str(Path(__file__).parents[1] / "predict"))  # the predictor tests' scene-video writer
from predict_helpers import write_scene_video


def levels(frames: list[np.ndarray]) -> list[int]:
    """The grey level of each frame's top-left quarter: the index marker of media_fixtures' frames."""
    return [round(float(f[: f.shape[0] // 2 - 2, : f.shape[1] // 2 - 2].mean())) for f in frames]


def predicted_frames(path: str | Path) -> list[np.ndarray]:
    with open_source(path) as src:
        return [f.image for f in src]


def warnings_about(caplog: pytest.LogCaptureFixture, path: Path) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and str(path) in r.getMessage()]


def test_rotated_video_is_upright_through_both_paths(tmp_path: Path) -> None:
    # The stored frames are landscape with a red marker at the top-left; the display matrix says "rotate 90°
    # counter-clockwise", so upright frames are portrait with the marker at the bottom-left.
    path = write_scene_video(tmp_path / "rot.mp4", lambda i: [(0, 0, 24, 24)], 3, height=64, width=96,
                             rotation=90)
    training = VideoFileReader().read(path, [0, 2])
    predicted = predicted_frames(path)
    for img in (*training, *predicted):
        assert img.shape == (96, 64, 3)
        ys, xs = np.nonzero((img[..., 0] > 150) & (img[..., 1] < 90))
        assert ys.min() > 60 and xs.max() < 30
    assert np.array_equal(training[1], predicted[2])


def test_old_rotate_tag_is_read_when_frames_carry_no_display_matrix() -> None:
    stream = SimpleNamespace(metadata={"rotate": "90"})  # clockwise, the opposite sign of the display matrix
    assert frame_rotation(SimpleNamespace(), stream) == -90
    assert frame_rotation(SimpleNamespace(rotation=180), stream) == 180


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_rotated_frame_folder_is_upright_through_both_paths(tmp_path: Path, orientation: int) -> None:
    folder = write_exif_folder(tmp_path / "phone", 4, orientation)
    want = [frame_level(i) for i in range(4)]
    training = AutoReader().read(folder, [0, 1, 2, 3])
    predicted = predicted_frames(folder)
    for frames in (training, predicted):
        assert all(f.shape == (64, 80, 3) for f in frames)
        assert all(abs(a - b) <= 3 for a, b in zip(levels(frames), want, strict=True))
    # Draft decoding (half scale here) happens before the turn: still upright, at the reduced size.
    drafted = FrameFolderReader(min_short_side=32).read(folder, [1])[0]
    assert drafted.shape == (32, 40, 3) and abs(levels([drafted])[0] - want[1]) <= 3


def test_video_a_few_frames_short_is_used_with_one_warning(tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    _, cut = write_cut_video(tmp_path, 50, keep=46)
    with caplog.at_level(logging.WARNING, logger="dkclip.data"):
        frames = predicted_frames(cut)
        reader = VideoFileReader()
        assert reader.count(str(cut)) == 50  # the header's count: the sampler may ask past the real end
        tail = reader.read(str(cut), [0, 45, 49])
        reader.read(str(cut), [49])  # the next epoch: no second warning
    assert len(frames) == 46
    assert [abs(a - frame_level(i)) <= 3 for a, i in zip(levels(tail), (0, 45), strict=False)] == [True, True]
    assert np.array_equal(tail[2], tail[1])  # past the real end: the last decoded frame, like clamping
    (message,) = warnings_about(caplog, cut)
    assert "46 of the 50 frames the header announces" in message and "\n" not in message


def test_frame_error_part_way_is_judged_like_a_cut(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Without frame threading (the training readers' default) a cut inside a frame ends decoding with an FFmpeg
    error; the frames before it are used all the same."""
    _, cut = write_cut_video(tmp_path, 50, keep=46, partial=True)
    with caplog.at_level(logging.WARNING, logger="dkclip.data"):
        frames = VideoFileReader(threads="NONE").read(str(cut), [10, 49])
    assert len(frames) == 2
    (message,) = warnings_about(caplog, cut)
    assert "46 of the 50 frames" in message and "Invalid data" in message


def test_video_within_the_slack_is_silent(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _, cut = write_cut_video(tmp_path, 50, keep=49)
    with caplog.at_level(logging.WARNING, logger="dkclip.data"):
        assert len(predicted_frames(cut)) == 49
        VideoFileReader().read(str(cut), [49])
    assert warnings_about(caplog, cut) == []


def test_video_far_short_is_refused_through_both_paths(tmp_path: Path) -> None:
    _, cut = write_cut_video(tmp_path, 50, keep=20)
    with pytest.raises(PredictionError, match=r"cut20\.mp4: truncated or corrupt video: decoding stopped after "
                                              r"20 of the 50 frames the header announces"):
        predicted_frames(cut)
    with pytest.raises(MediaError, match=r"20 of the 50 frames.*cut20\.mp4"):
        VideoFileReader().read(str(cut), [0, 30])
    # Training and evaluation: a refused file is a bad sample of their on_error policy.
    (tmp_path / "list.txt").write_text(f"{cut.name} 50 0\n")
    ds = build_dataset(str(tmp_path / "list.txt"), "test", root=str(tmp_path), num_frames=4, image_size=16,
                       on_error="skip")
    assert ds[0]["video"] is None and "truncated or corrupt video" in ds.skipped[0].reason


def test_damaged_file_rule_by_duration_and_with_nothing_announced(caplog: pytest.LogCaptureFixture) -> None:
    """mkv/webm headers keep a duration but no frame count; live inputs announce nothing."""
    by_time = Announced(duration=4.0)
    judge_decoded("near.mkv", 98, by_time, seconds=3.92)  # two frames short at 25 fps: within the slack
    with caplog.at_level(logging.WARNING, logger="dkclip.data"):
        judge_decoded("short.mkv", 75, by_time, seconds=3.0)
        judge_decoded("live", 10, Announced(), seconds=0.4, error="Connection reset")
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["short.mkv", "live"]
    with pytest.raises(MediaError, match=r"1\.00 s of the 4\.00 s.*far\.mkv"):
        judge_decoded("far.mkv", 25, by_time, seconds=1.0)
    with pytest.raises(MediaError, match="no decodable video frames"):
        judge_decoded("none.mp4", 0, Announced(frames=50))


def test_frame_clock_keeps_real_times_and_increases_strictly() -> None:
    clock = FrameClock(fps=10)
    assert [clock(t) for t in (5.0, 5.04, 5.5, 5.5, None)] == pytest.approx([0.0, 0.04, 0.5, 0.501, 0.601])
