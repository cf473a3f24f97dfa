"""Official-split converters and `dkclip prepare`: label orders, on-disk counts, and reported mismatches."""

from __future__ import annotations

from pathlib import Path

import pytest

from dkclip.cli import main
from dkclip.data import load_annotations
from dkclip.data.errors import AnnotationError, DataError
from dkclip.data.prepare import prepare_dfew, prepare_ferv39k, prepare_mafw
from media_fixtures import write_frame_folder


def test_dfew_labels_minus_one_counts_and_findings(tmp_path: Path) -> None:
    frames = tmp_path / "clip_224x224"
    write_frame_folder(frames / "00001", 5, 16, 16)
    write_frame_folder(frames / "00012", 3, 16, 16)
    (frames / "00013").mkdir(parents=True)  # empty
    labels = tmp_path / "EmoLabel_DataSplit"
    (labels / "train(single-labeled)").mkdir(parents=True)
    (labels / "test(single-labeled)").mkdir(parents=True)
    (labels / "train(single-labeled)" / "set_1.csv").write_text("video_name,label\n1,1\n12,7\n99,3\n13,2\n")
    (labels / "test(single-labeled)" / "set_1.csv").write_text("video_name,label\n00012,4\n")
    out = tmp_path / "lists"
    report = prepare_dfew(str(labels), str(frames), str(out), folds=[1])
    lines = (out / "DFEW_set_1_train.txt").read_text().splitlines()
    assert lines == ["00001 5 0", "00012 3 6"]
    assert (out / "DFEW_set_1_test.txt").read_text().splitlines() == ["00012 3 3"]
    train = report.splits[0]
    assert train.class_counts == [1, 0, 0, 0, 0, 0, 1] and train.written == 2
    text = "\n".join(report.findings)
    assert "1 clips missing" in text and "00099" in text and "set_1.csv:4" in text
    assert "1 clips empty or unreadable" in text
    assert "the published split has 9356" in text and "the published split has 2341" in text
    recs = load_annotations(out / "DFEW_set_1_train.txt", root=frames)
    assert recs[0].path == str(frames / "00001")
    with pytest.raises(DataError, match="strict"):
        prepare_dfew(str(labels), str(frames), str(out), folds=[1], strict=True)


def test_dfew_bad_label_names_line(tmp_path: Path) -> None:
    labels = tmp_path / "s"
    (labels / "train(single-labeled)").mkdir(parents=True)
    (labels / "train(single-labeled)" / "set_2.csv").write_text("video_name,label\n1,8\n")
    (tmp_path / "f").mkdir()
    with pytest.raises(AnnotationError, match=r"set_2.csv:2.*1..7"):
        prepare_dfew(str(labels), str(tmp_path / "f"), str(tmp_path / "o"), folds=[2])


def test_ferv39k_label_from_class_folder(tmp_path: Path) -> None:
    frames = tmp_path / "2_ClipsforFaceCrop"
    write_frame_folder(frames / "Action" / "Sad" / "0010", 8, 16, 16)
    write_frame_folder(frames / "Action" / "Fear" / "0003", 9, 16, 16)
    setups = tmp_path / "All_scenes"
    setups.mkdir()
    (setups / "train_All.csv").write_text("Action/Sad/0010 Sad\nAction/Fear/0003 Fear\n")
    (setups / "test_All.csv").write_text("Action/Fear/0003,Fear\n")
    prepare_ferv39k(str(setups), str(frames), str(tmp_path / "o"), absolute=True)
    lines = (tmp_path / "o" / "FERV39K_train.txt").read_text().splitlines()
    assert lines == [f"{frames}/Action/Sad/0010 8 1", f"{frames}/Action/Fear/0003 9 6"]
    (setups / "test_All.csv").write_text("Action/Fear/0003 Happy\n")
    with pytest.raises(AnnotationError, match=r"test_All.csv:1.*disagrees"):
        prepare_ferv39k(str(setups), str(frames), str(tmp_path / "o"))


def test_mafw_names_to_dfer_clip_order(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    for clip in ("00025", "00100", "07000"):
        write_frame_folder(frames / clip, 4, 16, 16)
    split = tmp_path / "no_caption" / "set_1"
    split.mkdir(parents=True)
    (split / "train.txt").write_text("00025.mp4 anger\n00100.mp4 disappointment\n07000.mp4 4\n")
    (split / "test.txt").write_text("00025.mp4 happiness\n")
    report = prepare_mafw(str(tmp_path / "no_caption"), str(frames), str(tmp_path / "o"), folds=[1])
    lines = (tmp_path / "o" / "MAFW_set_1_train.txt").read_text().splitlines()
    # anger -> 3, disappointment -> 10, numeric 4 (MAFW's own 1-based order: happiness) -> 0
    assert lines == ["00025 4 3", "00100 4 10", "07000 4 0"]
    assert report.splits[0].class_counts[3] == 1 and len(report.splits[0].class_counts) == 11


def test_cli_prepare_lists_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = tmp_path / "frames"
    write_frame_folder(frames / "00025", 4, 16, 16)
    split = tmp_path / "nc" / "set_3"
    split.mkdir(parents=True)
    (split / "train.txt").write_text("00025.mp4 sadness\n")
    (split / "test.txt").write_text("00025.mp4 fear\n")
    out = tmp_path / "o"
    rc = main(["prepare", "lists", "mafw", "--labels", str(tmp_path / "nc"), "--frames", str(frames),
               "--out", str(out), "--folds", "3"])
    assert rc == 0 and "MAFW_set_3_train: 1 clips" in capsys.readouterr().out
    assert main(["prepare", "check", str(out / "MAFW_set_3_test.txt"), "--root", str(frames)]) == 0
    bad = tmp_path / "bad.txt"
    bad.write_text("00025 9 20\nnothere 3 0\n")
    assert main(["prepare", "check", str(bad), "--root", str(frames), "--num-classes", "11"]) == 1
    text = capsys.readouterr().out
    assert "1 missing" in text and "1 label out of range" in text and "listed 9, found 4" in text
