"""Media readers: natural sort, reading only what is needed, frames vs mp4 agreement, bad media."""

from __future__ import annotations

import os
import random
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from dkclip.data.errors import MediaError
from dkclip.data.media import AutoReader, FrameFolderReader, VideoFileReader, list_frame_files, natural_key
from dkclip.data.transforms import EvalTransform
from media_fixtures import frame_level, make_frame, write_frame_folder, write_video


def levels(frames: list[np.ndarray]) -> list[int]:
    return [round(float(f[: f.shape[0] // 2 - 2, : f.shape[1] // 2 - 2].mean())) for f in frames]


def test_natural_sort_and_extension_filter(tmp_path: Path) -> None:
    names = ["10.jpg", "2.jpg", "1.jpg", "frame_9.PNG", "notes.txt", "11.jpeg"]
    assert sorted(["10.jpg", "2.jpg", "1.jpg"], key=natural_key) == ["1.jpg", "2.jpg", "10.jpg"]
    for n in names:
        (tmp_path / n).write_bytes(b"")
    assert [os.path.basename(p) for p in list_frame_files(str(tmp_path))] == [
        "1.jpg", "2.jpg", "10.jpg", "11.jpeg", "frame_9.PNG"]


def test_folder_reads_asked_indices_in_order_with_clamping(tmp_path: Path) -> None:
    folder = write_frame_folder(tmp_path / "clip", 12)  # 1.jpg .. 12.jpg, not zero-padded
    reader = FrameFolderReader()
    assert reader.count(folder) == 12
    frames = reader.read(folder, [0, 9, 10, 11, 11, 3, 40])
    want = [frame_level(i) for i in (0, 9, 10, 11, 11, 3, 11)]
    assert all(abs(a - b) <= 2 for a, b in zip(levels(frames), want, strict=True))


def test_jpeg_draft_decodes_large_frames_smaller(tmp_path: Path) -> None:
    folder = write_frame_folder(tmp_path / "big", 2, height=512, width=640)
    full = FrameFolderReader().read(folder, [0])[0]
    small = FrameFolderReader(min_short_side=128).read(folder, [0])[0]
    assert full.shape == (512, 640, 3)
    assert 128 <= small.shape[0] < 512 and small.shape[0] * 640 == small.shape[1] * 512
    assert FrameFolderReader(min_short_side=300).read(folder, [0])[0].shape == (512, 640, 3)  # never below need


def test_frames_and_mp4_agree(tmp_path: Path) -> None:
    folder = write_frame_folder(tmp_path / "clip", 20, height=64, width=80, ext="png")
    video = write_video(tmp_path / "clip.mp4", 20, height=64, width=80)
    reader = AutoReader()
    assert reader.count(folder) == reader.count(video) == 20
    idx = [0, 3, 7, 7, 12, 19]
    a = np.stack(reader.read(folder, idx)).astype(np.float32)
    b = np.stack(reader.read(video, idx)).astype(np.float32)
    assert np.abs(a - b).mean() < 3.0  # H.264 at crf 12, yuv420p: codec tolerance
    tf = EvalTransform(size=56)
    ta = tf(torch.from_numpy(a.astype(np.uint8)).permute(0, 3, 1, 2))
    tb = tf(torch.from_numpy(b.astype(np.uint8)).permute(0, 3, 1, 2))
    assert (ta - tb).abs().mean() < 0.06


@pytest.mark.parametrize("ext,codec", [("mkv", "libx264"), ("webm", "libvpx-vp9"), ("avi", "mpeg4")])
def test_other_containers_count_and_read(tmp_path: Path, ext: str, codec: str) -> None:
    path = write_video(tmp_path / f"v.{ext}", 9, codec=codec)
    reader = VideoFileReader()
    assert reader.count(path) == 9
    got = levels(reader.read(path, [1, 8]))
    assert all(abs(a - b) <= 6 for a, b in zip(got, [frame_level(1), frame_level(8)], strict=True))


def test_video_decoding_stops_after_last_needed_frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_video(tmp_path / "long.mp4", 60)
    decoded = {"n": 0}
    real_open = av.open

    class Counting:
        def __init__(self, container: av.container.InputContainer) -> None:
            self.container = container

        def __enter__(self) -> Counting:
            return self

        def __exit__(self, *exc: object) -> None:
            self.container.close()

        def __getattr__(self, name: str) -> object:
            return getattr(self.container, name)

        def decode(self, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
            for frame in self.container.decode(*args, **kwargs):
                decoded["n"] += 1
                yield frame

    monkeypatch.setattr(av, "open", lambda *a, **k: Counting(real_open(*a, **k)))
    frames = VideoFileReader().read(path, [2, 5, 10])
    assert len(frames) == 3 and decoded["n"] == 11


def test_bad_media_errors(tmp_path: Path) -> None:
    reader = AutoReader()
    with pytest.raises(MediaError, match="missing path"):
        reader.read(str(tmp_path / "nope"), [0])
    (tmp_path / "empty").mkdir()
    with pytest.raises(MediaError, match="empty frame folder"):
        reader.read(str(tmp_path / "empty"), [0])
    folder = write_frame_folder(tmp_path / "corrupt", 3)
    Path(folder, "2.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(MediaError, match="corrupt image"):
        reader.read(folder, [0, 1, 2])
    # Fixed bytes: about 1 in 100 random buffers happens to open as some audio format (no video stream).
    (tmp_path / "bad.mp4").write_bytes(random.Random(0).randbytes(2048))
    with pytest.raises(MediaError, match="corrupt video"):
        reader.read(str(tmp_path / "bad.mp4"), [0])
    with pytest.raises(MediaError, match="missing path"):
        reader.read(str(tmp_path / "gone.mp4"), [0])
    (tmp_path / "zero.mp4").write_bytes(b"")
    with pytest.raises(MediaError, match="zero-length video"):
        reader.read(str(tmp_path / "zero.mp4"), [0])


def test_odd_sized_frame_is_resized_to_the_first(tmp_path: Path) -> None:
    folder = write_frame_folder(tmp_path / "c", 2, height=32, width=40)
    Image.fromarray(make_frame(2, 20, 20)).save(Path(folder, "3.jpg"))
    frames = FrameFolderReader().read(folder, [0, 2])
    assert frames[0].shape == frames[1].shape == (32, 40, 3)


def test_frames_in_every_pil_mode_decode_to_the_right_values(tmp_path: Path) -> None:
    """16-bit PNGs keep their content (PIL's own conversion would turn them white), palette, CMYK, alpha and
    greyscale frames decode to RGB."""
    grey = (np.linspace(0, 1, 48 * 40).reshape(48, 40))
    rgb = (np.stack([grey, 1 - grey, 0.5 * grey], -1) * 255).astype(np.uint8)
    cases = {
        "g16": (Image.fromarray((grey * 65535).astype(np.uint16)), np.repeat((grey * 255)[..., None], 3, -1)),
        "gray8": (Image.fromarray((grey * 255).astype(np.uint8)), np.repeat((grey * 255)[..., None], 3, -1)),
        "rgba": (Image.fromarray(rgb).convert("RGBA"), rgb),
        "cmyk": (Image.fromarray(rgb).convert("CMYK"), rgb),
        "palette": (Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=256), rgb),
    }
    reader = FrameFolderReader()
    for name, (img, expected) in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        img.save(folder / "1.png" if name != "cmyk" else folder / "1.jpg", quality=100)
        (frame,) = reader.read(str(folder), [0])
        assert frame.dtype == np.uint8 and frame.shape == (48, 40, 3), name
        tolerance = {"palette": 24, "cmyk": 12}.get(name, 1)
        assert np.abs(frame.astype(int) - np.rint(expected).astype(int)).max() <= tolerance, name
