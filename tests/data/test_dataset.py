"""The Dataset and loader: sample contents, multi-view, num_frames report, error policies, determinism."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from dkclip.data import DataError, SampleError, build_dataset, build_loader
from media_fixtures import write_frame_folder, write_video


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    write_frame_folder(tmp_path / "clip one", 20, height=40, width=48)
    write_frame_folder(tmp_path / "clip2", 7, height=40, width=48)
    write_video(tmp_path / "v3.mp4", 24, height=40, width=48)
    write_frame_folder(tmp_path / "clip4", 33, height=40, width=48)
    return tmp_path


def write_list(root: Path, lines: list[str], name: str = "list.txt") -> str:
    path = root / name
    path.write_text("\n".join(lines) + "\n")
    return str(path)


GOOD = ["clip one 20 0", "clip2 7 1", "v3.mp4 24 2", "clip4 33 3"]


def test_sample_contents_and_batches(data_dir: Path) -> None:
    lst = write_list(data_dir, GOOD)
    ds = build_dataset(lst, "train", root=data_dir, num_frames=4, image_size=32, num_classes=4)
    s = ds[0]
    assert s["video"].shape == (4, 3, 32, 32) and s["video"].dtype == torch.float32
    assert (s["label"], s["index"], s["where"]) == (0, 0, f"{lst}:1")
    assert s["path"] == str(data_dir / "clip one") and s["frames_on_disk"] == 20
    batches = list(build_loader(ds, batch_size=2, num_workers=0))
    assert len(batches) == 2 and batches[0]["video"].shape == (2, 4, 3, 32, 32)
    assert sorted(torch.cat([b["label"] for b in batches]).tolist()) == [0, 1, 2, 3]


def test_multiview_test_samples(data_dir: Path) -> None:
    lst = write_list(data_dir, GOOD)
    ds = build_dataset(lst, "test", root=data_dir, num_frames=8, image_size=24, num_clips=2, num_crops=3)
    assert ds[2]["video"].shape == (6, 8, 3, 24, 24)
    single = build_dataset(lst, "test", root=data_dir, num_frames=8, image_size=24)
    assert torch.equal(single[1]["video"], single[1]["video"])  # deterministic
    assert single[1]["video"].shape == (8, 3, 24, 24)


def test_num_frames_mismatch_reported_once(data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    lst = write_list(data_dir, ["clip one 25 0", "clip2 7 1", "v3.mp4 20 2", "clip4 33 3"])
    ds = build_dataset(lst, "test", root=data_dir, num_frames=4, image_size=16)
    loader = build_loader(ds, batch_size=2)
    with caplog.at_level(logging.WARNING, logger="dkclip.data"):
        for _ in range(3):  # three epochs, one report
            for batch in loader:
                assert batch["frames_on_disk"].tolist() in ([20, 7], [24, 33])
    records = [r for r in caplog.records if "disagrees" in r.getMessage()]
    assert len(records) == 1
    assert "2 clips" in records[0].getMessage() and "the on-disk counts were used" in records[0].getMessage()
    assert sorted(loader.report.mismatches) == [0, 2]


def corrupt(data_dir: Path) -> None:
    (data_dir / "clip2" / "3.jpg").write_bytes(b"garbage")


def test_raise_policy_names_list_file_and_line(data_dir: Path) -> None:
    corrupt(data_dir)
    lst = write_list(data_dir, GOOD)
    ds = build_dataset(lst, "train", root=data_dir, num_frames=4, image_size=16)
    with pytest.raises(SampleError) as info:
        ds[1]
    assert f"{lst}:2" in str(info.value) and "corrupt image" in str(info.value)
    # through a worker process: the error reaches the main process with the same location
    loader = build_loader(ds, batch_size=4, num_workers=1, drop_last=False)
    with pytest.raises(SampleError, match=r"list.txt:2"):
        list(loader)


def test_skip_replace_keeps_batch_size_and_counts(data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    corrupt(data_dir)
    (data_dir / "v3.mp4").write_bytes(b"")
    lst = write_list(data_dir, [*GOOD, "missing_dir 10 1"])
    ds = build_dataset(lst, "train", root=data_dir, num_frames=4, image_size=16, on_error="skip")
    loader = build_loader(ds, batch_size=5, num_workers=2, drop_last=False)
    with caplog.at_level(logging.WARNING, logger="dkclip.data"):
        batches = list(loader)
    assert len(batches) == 1 and len(batches[0]["label"]) == 5
    assert set(batches[0]["index"].tolist()) <= {0, 3}  # only the readable clips
    assert sorted(loader.report.skipped) == [1, 2, 4]
    reasons = " ".join(s["reason"] for s in loader.report.skipped.values())
    assert "corrupt image" in reasons and "zero-length video" in reasons and "missing path" in reasons
    assert "3 bad samples skipped" in loader.report.summary()


def test_skip_drop_in_test_mode(data_dir: Path) -> None:
    corrupt(data_dir)
    lst = write_list(data_dir, GOOD)
    ds = build_dataset(lst, "test", root=data_dir, num_frames=4, image_size=16, on_error="skip")
    assert ds.skip_mode == "drop"
    loader = build_loader(ds, batch_size=2)
    indices = [i for b in loader for i in b["index"].tolist()]
    assert indices == [0, 2, 3] and list(loader.report.skipped) == [1]
    assert ds.skipped[0].where == f"{lst}:2"


def test_all_bad_does_not_hang(data_dir: Path) -> None:
    lst = write_list(data_dir, ["nope1 3 0", "nope2 3 0"])
    ds = build_dataset(lst, "train", root=data_dir, num_frames=4, image_size=16, on_error="skip")
    with pytest.raises(DataError, match="no readable replacement"):
        ds[0]
    empty = list(build_loader(build_dataset(lst, "test", root=data_dir, num_frames=4, image_size=16,
                                            on_error="skip"), batch_size=2))
    assert empty == []  # an all-bad batch is skipped, never yielded


def test_label_out_of_range(data_dir: Path) -> None:
    lst = write_list(data_dir, ["clip one 20 0", "clip2 7 9", "clip4 33 -1"])
    with pytest.raises(SampleError, match=r"list.txt:2.*label 9 out of range"):
        build_dataset(lst, "train", root=data_dir, num_classes=7)
    ds = build_dataset(lst, "train", root=data_dir, num_classes=7, on_error="skip")
    assert len(ds) == 1 and [s.where.rsplit(":", 1)[1] for s in ds.skipped] == ["2", "3"]
    assert len(build_loader(ds, batch_size=1).report.skipped) == 2


def test_workers_are_seeded_deterministically(data_dir: Path) -> None:
    lst = write_list(data_dir, GOOD)

    def run(seed: int, workers: int) -> list[torch.Tensor]:
        ds = build_dataset(lst, "train", root=data_dir, num_frames=4, image_size=16)
        return [b["video"] for b in build_loader(ds, batch_size=2, num_workers=workers, seed=seed)]

    a, b, c = run(7, 2), run(7, 2), run(8, 2)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))
    d, e = run(7, 0), run(7, 0)
    assert all(torch.equal(x, y) for x, y in zip(d, e, strict=True))


def test_other_list_formats_load(data_dir: Path) -> None:
    pl = write_list(data_dir, ["clip one,0", "v3.mp4,2"], "pl.csv")
    ds = build_dataset(pl, "test", root=data_dir, num_frames=4, image_size=16)
    assert ds[1]["frames_listed"] == -1 and ds[1]["frames_on_disk"] == 24
    gen = write_list(data_dir, ["path,label,num_frames", "clip4,Neutral,33"], "g.csv")
    ds = build_dataset(gen, "test", root=data_dir, num_frames=4, image_size=16,
                       class_names=["Happy", "Sad", "Neutral"])
    assert ds[0]["label"] == 2 and ds.num_classes == 3
