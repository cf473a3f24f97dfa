"""`dkclip prepare lists` on fake datasets in the official layouts, run as a user would: the double-nested DFEW
frame tree, DFEW's one-video-per-id avi variant, FERV39K and MAFW as released; and the failures that must not
write anything (an empty split, most clips missing, --strict), duplicate rows, default folds, `prepare check`."""

from __future__ import annotations

from pathlib import Path

import pytest

from dkclip.cli import main
from dkclip.data.errors import AnnotationError, DataError
from dkclip.data.prepare import check_list, prepare_dfew
from media_fixtures import write_frame_folder, write_video


def _dfew_labels(root: Path, folds: dict[int, tuple[str, str]]) -> Path:
    """DFEW/EmoLabel_DataSplit with the given (train csv body, test csv body) per fold."""
    labels = root / "EmoLabel_DataSplit"
    for k, (train, test) in folds.items():
        for split, body in (("train", train), ("test", test)):
            folder = labels / f"{split}(single-labeled)"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"set_{k}.csv").write_text("video_name,label\n" + body)
    return labels


def _dfew_frames(folder: Path, ids: range, n: int = 4) -> None:
    for i in ids:
        clip = f"{i:05d}"
        write_frame_folder(folder / clip, n, 16, 16, names=[f"{clip}_{j + 1:05d}.jpg" for j in range(n)])


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_dfew_double_nested_tree_and_parent_labels_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dfew = tmp_path / "DFEW"
    _dfew_frames(dfew / "Clip" / "clip_224x224" / "clip_224x224", range(1, 7))
    _dfew_labels(dfew, {1: ("1,1\n2,2\n3,3\n4,4\n", "5,5\n6,6\n"), 2: ("5,1\n6,7\n1,2\n2,2\n", "3,3\n4,4\n")})
    out = tmp_path / "lists"
    # the user points at the parent of the split folder and at the outer clip_224x224
    rc, text, _ = _run(capsys, "prepare", "lists", "dfew", "--labels", str(dfew),
                       "--media", str(dfew / "Clip" / "clip_224x224"), "--out", str(out))
    nested = dfew / "Clip" / "clip_224x224" / "clip_224x224"
    assert rc == 0
    assert f"split files: using {dfew / 'EmoLabel_DataSplit'}" in text
    assert f"using {nested} (one level down, 6 of 6 found)" in text
    assert f"train with --set data.root={nested}" in text
    # --folds defaulted to the two folds whose split files exist
    assert sorted(p.name for p in out.iterdir()) == [f"DFEW_set_{k}_{s}.txt" for k in (1, 2) for s in ("test", "train")]
    assert (out / "DFEW_set_2_train.txt").read_text().splitlines() == ["00005 4 0", "00006 4 6", "00001 4 1",
                                                                         "00002 4 1"]
    assert "4 frame folders" in text
    assert check_list(str(out / "DFEW_set_1_test.txt"), root=str(nested)).ok


def test_dfew_avi_variant_and_choice_between_release_folders(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    clip = tmp_path / "DFEW" / "Clip"
    (clip / "clip_224x224_avi").mkdir(parents=True)
    for i in (1, 2, 3):
        write_video(clip / "clip_224x224_avi" / f"{i:05d}.avi", 6 + i, 32, 32, codec="mpeg4")
    labels = _dfew_labels(tmp_path / "DFEW", {3: ("1,1\n2,4\n", "3,7\n")})
    out = tmp_path / "avi_lists"
    rc, text, _ = _run(capsys, "prepare", "lists", "dfew", "--labels", str(labels),
                       "--media", str(clip / "clip_224x224_avi"), "--out", str(out))
    assert rc == 0 and "2 videos" in text
    assert (out / "DFEW_set_3_train.txt").read_text().splitlines() == ["00001.avi 7 0", "00002.avi 8 3"]
    assert check_list(str(out / "DFEW_set_3_train.txt"), root=str(clip / "clip_224x224_avi")).ok

    # Clip/ holds both variants equally well: the frame folders are chosen, and the other is named
    _dfew_frames(clip / "clip_224x224", range(1, 4))
    rc, text, _ = _run(capsys, "prepare", "lists", "dfew", "--labels", str(labels), "--media", str(clip),
                       "--out", str(tmp_path / "o2"))
    assert rc == 0
    assert f"using {clip / 'clip_224x224'} (one level down" in text
    assert f"also holding the clips: {clip / 'clip_224x224_avi'}" in text


def test_ferv39k_release_layout_from_parent_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ferv = tmp_path / "FERV39K"
    crops = ferv / "2_ClipsforFaceCrop"
    write_frame_folder(crops / "Action" / "Sad" / "0010", 8, 16, 16)
    write_frame_folder(crops / "Talkshow" / "Happy" / "0001", 5, 16, 16)
    write_frame_folder(crops / "Talkshow" / "Fear" / "0002", 6, 16, 16)
    setups = ferv / "4_setups" / "All_scenes"
    setups.mkdir(parents=True)
    (ferv / "4_setups" / "22_scenes" / "Action").mkdir(parents=True)
    (setups / "train_All.csv").write_text("Action/Sad/0010 Sad\nTalkshow/Happy/0001 Happy\n")
    (setups / "test_All.csv").write_text("Talkshow/Fear/0002 Fear\n")
    out = tmp_path / "lists"
    rc, text, _ = _run(capsys, "prepare", "lists", "ferv39k", "--labels", str(ferv / "4_setups"),
                       "--media", str(ferv), "--out", str(out))
    assert rc == 0, text
    assert f"using {crops} (one level down" in text and f"split files: using {setups}" in text
    assert (out / "FERV39K_train.txt").read_text().splitlines() == ["Action/Sad/0010 8 1", "Talkshow/Happy/0001 5 0"]
    assert (out / "FERV39K_test.txt").read_text().splitlines() == ["Talkshow/Fear/0002 6 6"]
    rc, _, err = _run(capsys, "prepare", "lists", "ferv39k", "--labels", str(setups), "--media", str(crops),
                      "--out", str(out), "--folds", "1")
    assert rc == 2 and "no folds" in err


def test_mafw_mp4_clips_and_no_caption_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mafw = tmp_path / "MAFW"
    (mafw / "data" / "clips").mkdir(parents=True)
    for clip in ("00025", "00100", "07000"):
        write_video(mafw / "data" / "clips" / f"{clip}.mp4", 6, 32, 32)
    split_root = mafw / "Train & Test Set"
    for variant in ("single/no_caption", "compound/no_caption"):
        fold = split_root / variant / "set_1"
        fold.mkdir(parents=True)
        (fold / "train.txt").write_text("00025.mp4 anger\n00100.mp4 disappointment\n")
        (fold / "test.txt").write_text("07000.mp4 happiness\n")
    out = tmp_path / "lists"
    rc, text, _ = _run(capsys, "prepare", "lists", "mafw", "--labels", str(split_root), "--media",
                       str(mafw / "data"), "--out", str(out))
    assert rc == 0, text
    assert f"split files: using {split_root / 'single' / 'no_caption'}" in text
    assert f"using {mafw / 'data' / 'clips'} (one level down" in text
    assert (out / "MAFW_set_1_train.txt").read_text().splitlines() == ["00025.mp4 6 3", "00100.mp4 6 10"]
    assert (out / "MAFW_set_1_test.txt").read_text().splitlines() == ["07000.mp4 6 0"]


def test_empty_split_or_most_clips_missing_fail_and_write_nothing(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    frames = tmp_path / "clip_224x224"
    _dfew_frames(frames, range(1, 3))
    labels = _dfew_labels(tmp_path, {1: ("1,1\n2,2\n", "")})  # the test split file is header-only
    out = tmp_path / "lists"
    rc, _, err = _run(capsys, "prepare", "lists", "dfew", "--labels", str(labels), "--media", str(frames),
                      "--out", str(out))
    assert rc == 1 and not out.exists()
    first = err.splitlines()[0]
    assert first.startswith("dkclip prepare: error: nothing written: DFEW_set_1_test: the split file")
    assert "lists no clips" in first and "hint:" in err

    # 3 of the 4 training clips are not on disk: an error naming an example and what the folder holds
    labels = _dfew_labels(tmp_path / "b", {1: ("1,1\n7,2\n8,3\n9,3\n", "2,2\n")})
    rc, _, err = _run(capsys, "prepare", "lists", "dfew", "--labels", str(labels), "--media", str(frames),
                      "--out", str(out))
    assert rc == 1 and not out.exists()
    assert "DFEW_set_1_train: 3 of its 4 clips are missing or empty" in err and "00007" in err
    assert f"{frames} holds: 00001, 00002" in err

    # a media folder that holds none of the clips, even below it
    rc, _, err = _run(capsys, "prepare", "lists", "dfew", "--labels", str(labels), "--media", str(tmp_path / "b"),
                      "--out", str(out))
    assert rc == 1 and not out.exists() and "none of its" in err


def test_strict_writes_nothing_and_findings_are_written_otherwise(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    _dfew_frames(frames, range(1, 5))
    labels = _dfew_labels(tmp_path, {4: ("1,1\n2,2\n3,3\n9,3\n", "4,4\n")})
    out = tmp_path / "lists"
    with pytest.raises(DataError, match=r"strict mode\), nothing written: DFEW_set_4_train: 1 clips missing"):
        prepare_dfew(str(labels), str(frames), str(out), strict=True)
    assert not out.exists()
    report = prepare_dfew(str(labels), str(frames), str(out))
    assert report.splits[0].written == 3 and "set_4.csv:5" in report.findings[0]
    last = report.summary().splitlines()[-1]
    assert last == "3 finding(s); the lists were written (strict mode makes findings fatal)"


def test_duplicate_rows_reported_and_conflicting_labels_refused(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    _dfew_frames(frames, range(1, 5))
    labels = _dfew_labels(tmp_path, {1: ("1,1\n2,2\n00001,1\n3,3\n", "4,4\n2,2\n")})
    report = prepare_dfew(str(labels), str(frames), str(tmp_path / "o"))
    train, test = report.splits
    assert train.written == 3 and train.duplicates == ["00001 at lines 2, 4"]
    assert "1 duplicate rows (the first kept), left out: 00001 at lines 2, 4" in train.findings
    assert "1 clips are also in DFEW_set_1_train: 00002" in test.findings
    assert (tmp_path / "o" / "DFEW_set_1_train.txt").read_text().count("00001 ") == 1
    _dfew_labels(tmp_path, {1: ("1,1\n2,2\n1,5\n", "4,4\n")})
    with pytest.raises(AnnotationError, match=r"set_1.csv:4: clip listed again with another label \(line 2"):
        prepare_dfew(str(labels), str(frames), str(tmp_path / "o"))


def test_default_folds_and_incomplete_fold(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    _dfew_frames(frames, range(1, 3))
    labels = _dfew_labels(tmp_path, {5: ("1,1\n", "2,2\n")})
    assert prepare_dfew(str(labels), str(frames), str(tmp_path / "o")).folds == [5]
    (labels / "train(single-labeled)" / "set_2.csv").write_text("video_name,label\n1,1\n")
    with pytest.raises(DataError, match=r"fold 2 is incomplete: .*test\(single-labeled\)/set_2.csv not found"):
        prepare_dfew(str(labels), str(frames), str(tmp_path / "o"))
    with pytest.raises(DataError, match="expected split file not found"):
        prepare_dfew(str(labels), str(frames), str(tmp_path / "o"), folds=[3])


def test_check_reports_duplicates_and_fails_on_an_empty_list(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    frames = tmp_path / "frames"
    _dfew_frames(frames, range(1, 3))
    listed = tmp_path / "dup.txt"
    listed.write_text("00001 4 0\n00002 4 1\n00001 4 0\n# note\n00001 4 0\n00002 4 1\n")
    rc, text, _ = _run(capsys, "prepare", "check", str(listed), "--root", str(frames))
    assert rc == 1
    assert "5 clips; 2 paths listed more than once (3 extra lines;" in text
    assert f"{frames / '00001'} at lines 1, 3, 5; {frames / '00002'} at lines 2, 6" in text
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n\n")
    rc, text, _ = _run(capsys, "prepare", "check", str(empty))
    assert rc == 1 and "the list is empty" in text


def test_check_refuses_no_classes(tmp_path: Path) -> None:
    """--num-classes 0 reported every label out of range instead of saying what was wrong."""
    from dkclip.errors import UsageError

    listed = tmp_path / "l.txt"
    listed.write_text("a/b 10 1\n")
    with pytest.raises(UsageError, match="--num-classes must be at least 1"):
        check_list(str(listed), num_classes=0)
