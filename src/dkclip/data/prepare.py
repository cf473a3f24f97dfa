"""Converters from the official DFEW / FERV39K / MAFW split files to our list format, with checks.

Output: one ``<path> <num_frames> <label>`` line per clip (:mod:`dkclip.data.annotations`), labels 0-based in the
class orders of docs/method.md §4.3, ``num_frames`` counted on disk (image files in the clip's frame folder). Paths are
written relative to the frames root (train with ``root=<frames root>``), or absolute with ``absolute=True``.

Expected inputs (the layouts of the official releases):

**DFEW** — ``labels_dir`` is ``EmoLabel_DataSplit/``, holding ``train(single-labeled)/set_{1..5}.csv`` and
``test(single-labeled)/set_{1..5}.csv``. Each CSV has a header ``video_name,label``; ``video_name`` is the
clip number (``1`` or ``00001``), ``label`` is 1-based (1 Happy, 2 Sad, 3 Neutral, 4 Angry, 5 Surprise,
6 Disgust, 7 Fear), so ours is ``label - 1``. ``frames_root`` holds one folder per clip named by the
zero-padded number (``Clip/clip_224x224/00001/``; ``id_width=5``). Writes ``DFEW_set_{k}_{train,test}.txt``.

**FERV39K** — ``labels_dir`` is ``4_setups/All_scenes/`` with ``train_All.csv`` and ``test_All.csv``: one
clip per line, ``<Scene>/<Class>/<clip> <Class>`` (space or comma separated; a header line is skipped). The
label comes from the class name (Happy, Sad, Neutral, Angry, Surprise, Disgust, Fear) and must agree with the
path's class folder. ``frames_root`` is ``2_ClipsforFaceCrop/``. Writes ``FERV39K_{train,test}.txt``.

**MAFW** — ``labels_dir`` is ``Train & Test Set/single/no_caption/`` with ``set_{1..5}/{train,test}.txt``: one
clip per line, ``<clip>.mp4 <emotion>`` with MAFW's English names. Our order is DFER-CLIP's (docs/method.md §4.3):
happiness, sadness, neutral, anger, surprise, disgust, fear, contempt, anxiety, helplessness,
disappointment. A numeric label is read as 1-based in MAFW's own order (anger, disgust, fear, happiness,
neutral, sadness, surprise, contempt, anxiety, helplessness, disappointment) and remapped. ``frames_root``
holds ``<clip>/`` frame folders (``data/frames/`` or ``data/faces/``). Writes ``MAFW_set_{k}_{train,test}.txt``.

Checks (a :class:`PrepareReport`): clips whose frame folder is missing or empty are left out of the lists and
listed; split sizes and, where known, per-class counts are compared with the published numbers
(docs/method.md §4.1–4.3). ``strict=True`` turns any finding into an error.
"""

from __future__ import annotations

import csv
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from .annotations import format_list_line
from .errors import AnnotationError, DataError
from .media import list_frame_files

logger = logging.getLogger(__name__)

BASIC7: tuple[str, ...] = ("Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear")
MAFW11: tuple[str, ...] = ("happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear", "contempt",
                           "anxiety", "helplessness", "disappointment")
MAFW_OFFICIAL_ORDER: tuple[str, ...] = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise",
                                        "contempt", "anxiety", "helplessness", "disappointment")

# Published split sizes (docs/method.md §4.1–4.2; MAFW train sizes as logged by MAE-DFER's preprocessing).
EXPECTED_SIZES: dict[str, int] = {
    **{f"DFEW_set_{k}_test": n for k, n in zip(range(1, 6), (2341, 2341, 2340, 2339, 2336), strict=True)},
    **{f"DFEW_set_{k}_train": 11697 - n for k, n in zip(range(1, 6), (2341, 2341, 2340, 2339, 2336), strict=True)},
    **{f"MAFW_set_{k}_test": n for k, n in zip(range(1, 6), (1839, 1837, 1833, 1832, 1831), strict=True)},
    **{f"MAFW_set_{k}_train": n for k, n in zip(range(1, 6), (7333, 7335, 7339, 7340, 7341), strict=True)},
    "FERV39K_train": 31088,
    "FERV39K_test": 7847,
}
EXPECTED_CLASS_COUNTS: dict[str, tuple[int, ...]] = {
    "DFEW_set_1_test": (489, 379, 534, 435, 294, 29, 181),
    "MAFW_set_1_test": (249, 294, 228, 278, 215, 128, 125, 48, 184, 53, 37),
}


@dataclass
class SplitResult:
    """One written list: its name, the clips written, and what was left out or looked wrong."""

    name: str
    path: str
    written: int = 0
    class_counts: list[int] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)


@dataclass
class PrepareReport:
    splits: list[SplitResult] = field(default_factory=list)

    @property
    def findings(self) -> list[str]:
        return [f"{s.name}: {f}" for s in self.splits for f in s.findings]

    def summary(self) -> str:
        lines = []
        for s in self.splits:
            status = "ok" if not s.findings else f"{len(s.findings)} finding(s)"
            lines.append(f"{s.name}: {s.written} clips, classes {s.class_counts} -> {s.path} [{status}]")
            lines.extend(f"  - {f}" for f in s.findings)
        return "\n".join(lines)


@dataclass(frozen=True)
class _Row:
    clip: str  # folder path relative to the frames root
    label: int
    source: str
    line_no: int


def _count_frames(folder: str) -> int | None:
    """Number of frame images, or None when the folder does not exist."""
    try:
        return len(list_frame_files(folder))
    except DataError:
        return None


def _write_split(name: str, rows: list[_Row], frames_root: str, out_dir: str, num_classes: int,
                 absolute: bool) -> SplitResult:
    out_path = os.path.join(out_dir, f"{name}.txt")
    result = SplitResult(name, out_path, class_counts=[0] * num_classes)
    lines = []
    for row in rows:
        folder = os.path.join(frames_root, row.clip)
        n = _count_frames(folder)
        if n is None:
            result.missing.append(f"{row.source}:{row.line_no} {folder}")
            continue
        if n == 0:
            result.empty.append(f"{row.source}:{row.line_no} {folder}")
            continue
        lines.append(format_list_line(os.path.abspath(folder) if absolute else row.clip, n, row.label))
        result.class_counts[row.label] += 1
    os.makedirs(out_dir, exist_ok=True)
    Path(out_path).write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    result.written = len(lines)
    for what, items in (("frame folders missing", result.missing), ("frame folders empty", result.empty)):
        if items:
            shown = "; ".join(items[:3]) + (" ..." if len(items) > 3 else "")
            result.findings.append(f"{len(items)} {what}, left out: {shown}")
    expected = EXPECTED_SIZES.get(name)
    if expected is not None and len(rows) != expected:
        result.findings.append(f"split file has {len(rows)} clips, the published split has {expected}")
    counts = EXPECTED_CLASS_COUNTS.get(name)
    if counts is not None and len(rows) == expected and tuple(Counter(r.label for r in rows).get(k, 0)
                                                              for k in range(num_classes)) != counts:
        got = [Counter(r.label for r in rows).get(k, 0) for k in range(num_classes)]
        result.findings.append(f"class counts {got} differ from the published {list(counts)}")
    return result


def _lines(path: str) -> Iterable[tuple[int, str]]:
    text = Path(path).read_text(encoding="utf-8-sig", errors="replace")
    for line_no, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield line_no, line.strip()


def read_dfew_split(csv_path: str, id_width: int = 5) -> list[_Row]:
    rows = []
    with open(csv_path, encoding="utf-8-sig", newline="") as fh:
        for line_no, fields in enumerate(csv.reader(fh), start=1):
            if not fields or not "".join(fields).strip():
                continue
            text = ",".join(fields)
            if len(fields) < 2:
                raise AnnotationError.at(csv_path, line_no, text, "expected 'video_name,label'")
            vid, lab = fields[0].strip(), fields[1].strip()
            if line_no == 1 and not lab.isdigit():
                continue  # header
            if not vid.isdigit() or not lab.isdigit():
                raise AnnotationError.at(csv_path, line_no, text, "video_name and label must be integers")
            label = int(lab) - 1
            if not 0 <= label < 7:
                raise AnnotationError.at(csv_path, line_no, text, "DFEW label must be 1..7")
            rows.append(_Row(vid.zfill(id_width), label, csv_path, line_no))
    return rows


def _split_two(line: str) -> list[str]:
    return [f.strip() for f in (line.rsplit(",", 1) if "," in line else line.rsplit(None, 1))]


def read_ferv39k_split(csv_path: str) -> list[_Row]:
    by_name = {n.lower(): i for i, n in enumerate(BASIC7)}
    rows = []
    for line_no, line in _lines(csv_path):
        fields = _split_two(line)
        clip = fields[0].strip("/")
        parts = clip.split("/")
        if len(parts) < 3:
            if line_no == 1:
                continue  # header
            raise AnnotationError.at(csv_path, line_no, line, "expected '<Scene>/<Class>/<clip> <Class>'")
        folder_class = parts[-2].lower()
        if folder_class not in by_name:
            raise AnnotationError.at(csv_path, line_no, line, f"unknown class folder {parts[-2]!r}")
        if len(fields) == 2 and not fields[1].isdigit() and fields[1].lower() != folder_class:
            raise AnnotationError.at(csv_path, line_no, line,
                                     f"label {fields[1]!r} disagrees with the class folder {parts[-2]!r}")
        rows.append(_Row(clip, by_name[folder_class], csv_path, line_no))
    return rows


def read_mafw_split(txt_path: str) -> list[_Row]:
    ours = {n: i for i, n in enumerate(MAFW11)}
    rows = []
    for line_no, line in _lines(txt_path):
        fields = _split_two(line)
        if len(fields) != 2:
            raise AnnotationError.at(txt_path, line_no, line, "expected '<clip>.mp4 <emotion>'")
        clip, lab = os.path.splitext(fields[0])[0], fields[1].lower()
        if lab.isdigit():
            k = int(lab) - 1
            if not 0 <= k < len(MAFW_OFFICIAL_ORDER):
                raise AnnotationError.at(txt_path, line_no, line, "numeric MAFW label must be 1..11")
            lab = MAFW_OFFICIAL_ORDER[k]
        if lab not in ours:
            raise AnnotationError.at(txt_path, line_no, line, f"unknown MAFW emotion {fields[1]!r}")
        rows.append(_Row(clip, ours[lab], txt_path, line_no))
    return rows


def _need(path: str) -> str:
    if not os.path.exists(path):
        raise DataError(f"expected input not found: {path}")
    return path


def _convert(jobs: list[tuple[str, Callable[[str], list[_Row]], str]], frames_root: str, out_dir: str,
             num_classes: int, absolute: bool, strict: bool) -> PrepareReport:
    """Write one list file per job ``(name, reader, label file)``; label files are checked as they are read."""
    if not os.path.isdir(frames_root):
        raise DataError(f"frames root is not a folder: {frames_root}")
    report = PrepareReport()
    for name, read, src in jobs:
        result = _write_split(name, read(_need(src)), frames_root, out_dir, num_classes, absolute)
        report.splits.append(result)
        for finding in result.findings:
            logger.warning("%s: %s", name, finding)
    if strict and report.findings:
        raise DataError("prepare found problems (strict mode):\n" + "\n".join(report.findings))
    return report


def _folds(folds: Iterable[int]) -> list[int]:
    out = sorted(set(folds))
    if not out or any(not 1 <= k <= 5 for k in out):
        raise ValueError(f"folds must be within 1..5, got {out}")
    return out


def prepare_dfew(labels_dir: str, frames_root: str, out_dir: str, *, folds: Iterable[int] = range(1, 6),
                 id_width: int = 5, absolute: bool = False, strict: bool = False) -> PrepareReport:
    jobs: list[tuple[str, Callable[[str], list[_Row]], str]] = []
    for k in _folds(folds):
        for split in ("train", "test"):
            src = os.path.join(labels_dir, f"{split}(single-labeled)", f"set_{k}.csv")
            jobs.append((f"DFEW_set_{k}_{split}", partial(read_dfew_split, id_width=id_width), src))
    return _convert(jobs, frames_root, out_dir, len(BASIC7), absolute, strict)


def prepare_ferv39k(labels_dir: str, frames_root: str, out_dir: str, *, absolute: bool = False,
                    strict: bool = False) -> PrepareReport:
    jobs: list[tuple[str, Callable[[str], list[_Row]], str]] = []
    for split, fname in (("train", "train_All.csv"), ("test", "test_All.csv")):
        src = os.path.join(labels_dir, fname)
        jobs.append((f"FERV39K_{split}", read_ferv39k_split, src))
    return _convert(jobs, frames_root, out_dir, len(BASIC7), absolute, strict)


def prepare_mafw(labels_dir: str, frames_root: str, out_dir: str, *, folds: Iterable[int] = range(1, 6),
                 absolute: bool = False, strict: bool = False) -> PrepareReport:
    jobs: list[tuple[str, Callable[[str], list[_Row]], str]] = []
    for k in _folds(folds):
        for split in ("train", "test"):
            src = os.path.join(labels_dir, f"set_{k}", f"{split}.txt")
            jobs.append((f"MAFW_set_{k}_{split}", read_mafw_split, src))
    return _convert(jobs, frames_root, out_dir, len(MAFW11), absolute, strict)


PREPARERS: dict[str, Callable[..., PrepareReport]] = {
    "dfew": prepare_dfew, "ferv39k": prepare_ferv39k, "mafw": prepare_mafw,
}


@dataclass
class ListCheck:
    """The result of checking a list file against the disk."""

    records: int = 0
    missing: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    bad_label: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.empty or self.bad_label)

    def summary(self) -> str:
        parts = [f"{self.records} clips"]
        for what, items in (("missing", self.missing), ("empty or zero-length", self.empty),
                            ("label out of range", self.bad_label),
                            ("num_frames differs from the disk", self.mismatched)):
            if items:
                parts.append(f"{len(items)} {what} (e.g. {items[0]})")
        return "; ".join(parts)


def check_list(list_file: str, *, root: str | None = None, rewrites: Iterable[str] | None = None,
               fmt: str = "auto", num_classes: int | None = None) -> ListCheck:
    """Check every clip of a list: the media exists and is non-empty, the label is in range, and the listed
    num_frames matches the disk (videos are counted from their headers, or by demuxing)."""
    from .annotations import load_annotations
    from .media import AutoReader

    reader = AutoReader()
    records = load_annotations(list_file, fmt=fmt, root=root, rewrites=rewrites)
    out = ListCheck(records=len(records))
    for rec in records:
        if rec.label < 0 or (num_classes is not None and rec.label >= num_classes):
            out.bad_label.append(f"{rec.where} label {rec.label}")
        try:
            n = reader.count(rec.path)
        except DataError as exc:
            out.missing.append(f"{rec.where} {rec.path} ({exc})")
            continue
        if n == 0:
            out.empty.append(f"{rec.where} {rec.path}")
        elif rec.num_frames is not None and rec.num_frames != n:
            out.mismatched.append(f"{rec.where} {rec.path}: listed {rec.num_frames}, found {n}")
    return out
