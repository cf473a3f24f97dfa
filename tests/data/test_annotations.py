"""List formats: every supported format, spaces in paths, prefix rewrites, and errors with line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from dkclip.data.annotations import PathRewrite, detect_format, format_list_line, load_annotations
from dkclip.data.errors import AnnotationError
from dkclip.errors import UsageError


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_list_format_with_spaces_root_and_comments(tmp_path: Path) -> None:
    src = write(tmp_path, "l.txt", "# a comment\nclips/a 40 3\n\nmy clips/with two spaces 12 0\n/abs/clip 7 6\n")
    recs = load_annotations(src, root="/data")
    assert [(r.path, r.num_frames, r.label, r.line_no) for r in recs] == [
        ("/data/clips/a", 40, 3, 2),
        ("/data/my clips/with two spaces", 12, 0, 4),
        ("/abs/clip", 7, 6, 5),  # absolute paths ignore the root, as os.path.join does
    ]
    assert recs[0].source_file == src and recs[0].where == f"{src}:2"


def test_prefix_rewrite_first_match_wins(tmp_path: Path) -> None:
    src = write(tmp_path, "l.txt", "/data/EECS-IoannisLab/datasets/DFEW/DFEW_Frame_Face/00001 61 2\nrel/x 3 1\n")
    rewrites = ["/data/EECS-IoannisLab/datasets/DFEW=/mnt/dfew", "/data=/nothing"]
    recs = load_annotations(src, root="/root", rewrites=rewrites)
    assert recs[0].path == "/mnt/dfew/DFEW_Frame_Face/00001"
    assert recs[1].path == "/root/rel/x"
    # A rewrite to a relative prefix is then joined to the root.
    recs = load_annotations(src, root="/root", rewrites=["/data/EECS-IoannisLab/datasets/DFEW/="])
    assert recs[0].path == "/root/DFEW_Frame_Face/00001"


@pytest.mark.parametrize("bad", ["x", "no_frames 12", "clip abc 3", "clip 12 happy", "clip -1 2"])
def test_list_errors_name_file_line_and_text(tmp_path: Path, bad: str) -> None:
    src = write(tmp_path, "bad.txt", f"ok 10 1\n{bad}\n")
    with pytest.raises(AnnotationError) as info:
        load_annotations(src, fmt="list")
    err = info.value
    assert err.line_no == 2 and err.source_file == src and err.text == bad
    assert f"{src}:2" in str(err) and repr(bad) in str(err)


def test_path_label_comma_and_space(tmp_path: Path) -> None:
    src = write(tmp_path, "p.csv", "/d/a b/clip1,3\n/d/clip2 5\n")
    recs = load_annotations(src, fmt="path_label")
    assert [(r.path, r.num_frames, r.label) for r in recs] == [("/d/a b/clip1", None, 3), ("/d/clip2", None, 5)]
    bad = write(tmp_path, "q.csv", "/d/a,3\n/d/b,x\n")
    with pytest.raises(AnnotationError, match=r"q.csv:2"):
        load_annotations(bad, fmt="path_label")


def test_header_csv_quotes_class_names_and_frames(tmp_path: Path) -> None:
    src = write(tmp_path, "g.csv", 'Label,extra,Path,num_frames\n2,z,"a, b/clip",16\nSad,z,c/d,\n')
    recs = load_annotations(src, root="/r", class_names=["Happy", "Sad", "Neutral"])
    assert [(r.path, r.num_frames, r.label, r.line_no) for r in recs] == [
        ("/r/a, b/clip", 16, 2, 2), ("/r/c/d", None, 1, 3)]
    with pytest.raises(AnnotationError, match=r"g.csv:3.*'Sad'"):
        load_annotations(src)  # a class name without class_names is an error, at its line
    nohead = write(tmp_path, "h.csv", "video,category\nx,1\n")
    with pytest.raises(AnnotationError, match=r"h.csv:1"):
        load_annotations(nohead, fmt="csv")


def test_detect_format() -> None:
    assert detect_format("a/b 10 2\n") == "list"
    assert detect_format("my dir/b 10 2\n") == "list"
    assert detect_format("a/b,2\n") == "path_label"
    assert detect_format("a/b 2\n") == "path_label"
    assert detect_format("# c\npath,label\nx,1\n") == "csv"


def test_rewrite_parse_and_roundtrip(tmp_path: Path) -> None:
    assert PathRewrite.parse("/a=/b") == PathRewrite("/a", "/b")
    with pytest.raises(UsageError, match="OLD=NEW"):  # a UsageError: the CLI prints one line, not a traceback
        PathRewrite.parse("/a")
    line = format_list_line("/x y/z", 12, 4)
    src = write(tmp_path, "r.txt", line + "\n")
    rec = load_annotations(src)[0]
    assert (rec.path, rec.num_frames, rec.label) == ("/x y/z", 12, 4)
