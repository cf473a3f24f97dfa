"""Converters from the official DFEW / FERV39K / MAFW split files to our list format, with checks.

Output: one ``<path> <num_frames> <label>`` line per clip (:mod:`dkclip.data.annotations`), labels 0-based in the
class orders of docs/method.md §4.3, ``num_frames`` counted on disk. Paths are written relative to the media root
(train with ``data.root=<media root>``), or absolute with ``absolute=True``.

Split files (the layouts of the official releases; ``labels_dir``):

**DFEW** — ``EmoLabel_DataSplit/``, holding ``train(single-labeled)/set_{1..5}.csv`` and
``test(single-labeled)/set_{1..5}.csv``. Each CSV has a header ``video_name,label``; ``video_name`` is the
clip number (``1`` or ``00001``), ``label`` is 1-based (1 Happy, 2 Sad, 3 Neutral, 4 Angry, 5 Surprise,
6 Disgust, 7 Fear), so ours is ``label - 1``. Writes ``DFEW_set_{k}_{train,test}.txt``.

**FERV39K** — ``4_setups/All_scenes/`` with ``train_All.csv`` and ``test_All.csv``: one clip per line,
``<Scene>/<Class>/<clip> <Class>`` (space or comma separated; a header line is skipped). The label comes from the
class name (Happy, Sad, Neutral, Angry, Surprise, Disgust, Fear) and must agree with the path's class folder.
Writes ``FERV39K_{train,test}.txt``.

**MAFW** — ``Train & Test Set/single/no_caption/`` with ``set_{1..5}/{train,test}.txt``: one clip per line,
``<clip>.mp4 <emotion>`` with MAFW's English names. Our order is DFER-CLIP's (docs/method.md §4.3):
happiness, sadness, neutral, anger, surprise, disgust, fear, contempt, anxiety, helplessness,
disappointment. A numeric label is read as 1-based in MAFW's own order (anger, disgust, fear, happiness,
neutral, sadness, surprise, contempt, anxiety, helplessness, disappointment) and remapped. Writes
``MAFW_set_{k}_{train,test}.txt``.

A ``labels_dir`` that is a parent of the expected folder (``DFEW/``, ``FERV39K/4_setups``, ``MAFW/Train & Test
Set``) is searched up to three levels down, and the report says which folder was used. Without ``folds``, the
folds whose two split files exist are converted.

Media (``media_root``): each clip is a frame folder ``<clip>/`` (jpg/png) or one video ``<clip>.<ext>`` (mp4, avi,
mov, mkv, webm), named by the clip's id (DFEW: the zero-padded number, ``id_width``, or the bare number; FERV39K:
``<Scene>/<Class>/<clip>``; MAFW: the 5-digit id). So DFEW's ``Clip/clip_224x224/`` (frame folders),
``Clip/clip_224x224_avi/`` (one ``.avi`` per id) and ``Clip/clip_224x224_16f/``, FERV39K's ``2_ClipsforFaceCrop/``
and MAFW's ``data/faces/``, ``data/frames/`` or ``data/clips/`` (mp4) all work. When fewer than half of a sample
of the clips are found under ``media_root``, its subfolders are searched (three levels down at most), e.g. the
double-nested ``clip_224x224/clip_224x224/`` of public DFEW copies, ``DFEW/Clip/`` or ``DFEW/``; the folder holding the
most clips is used (ties: the official release's usual choice, :data:`PREFERRED_MEDIA`) and the report says so.

Checks (a :class:`PrepareReport`): nothing is written unless every split passes these —

- a split file with no clip, a split of which no clip is found, or one with more than half of its clips missing
  or empty on disk (:data:`MOST_MISSING`) is an error naming the split, the media root and an example, with a
  hint;
- with ``strict=True``, any finding below is an error too.

Findings (reported; the lists are written): clips whose media is missing, empty or unreadable (left out, with the
split file's line), duplicate rows (the first kept), clips in both the train and test split of a fold, split sizes
and, where known, per-class counts that differ from the published numbers (docs/method.md §4.1–4.3). A clip listed
twice with different labels is always an error.
"""

from __future__ import annotations

import csv
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial

from ..fileio import atomic_write_text
from .annotations import format_list_line
from .errors import AnnotationError, DataError, MediaError
from .media import VIDEO_EXTENSIONS, VideoFileReader, list_frame_files

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

# A split with more than this fraction of its clips missing or empty on disk is an error, not a finding.
MOST_MISSING = 0.5
# Media folders of the official releases, in the order preferred when several hold the clips equally well
# (the paper's authors trained on DFEW's frame folders; DFER-CLIP's MAFW lists point at data/faces).
PREFERRED_MEDIA: dict[str, tuple[str, ...]] = {
    "dfew": ("clip_224x224", "clip_224x224_avi", "clip_224x224_16f", "original"),
    "ferv39k": ("2_ClipsforFaceCrop",),
    "mafw": ("faces", "frames", "clips"),
}
# Clips sampled to decide where the media is; folders with more subfolders than this hold clips, not the parts
# of a release, and are not searched below.
_SAMPLE = 200
_MAX_SUBFOLDERS = 64


@dataclass
class SplitResult:
    """One list: its name, the clips written, and what was left out or looked wrong."""

    name: str
    path: str
    source: str = ""  # the official split file it comes from
    rows: int = 0  # clip rows in the split file
    written: int = 0
    class_counts: list[int] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)  # "frame folders" / "videos" written
    missing: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list, repr=False)  # the list file's lines


@dataclass
class PrepareReport:
    dataset: str = ""
    labels_dir: str = ""
    media_root: str = ""
    absolute: bool = False
    folds: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was chosen on the user's behalf
    splits: list[SplitResult] = field(default_factory=list)

    @property
    def findings(self) -> list[str]:
        return [f"{s.name}: {f}" for s in self.splits for f in s.findings]

    def summary(self) -> str:
        lines = list(self.notes)
        for s in self.splits:
            status = "ok" if not s.findings else f"{len(s.findings)} finding(s)"
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(s.kinds.items()))
            lines.append(f"{s.name}: {s.written} clips ({kinds or 'none'}), classes {s.class_counts} -> {s.path} "
                         f"[{status}]")
            lines.extend(f"  - {f}" for f in s.findings)
        if self.splits and not self.absolute:
            lines.append(f"paths are relative to {self.media_root}: train with --set data.root={self.media_root}")
        if self.findings:
            lines.append(f"{len(self.findings)} finding(s); the lists were written (strict mode makes findings fatal)")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Row:
    clip: str  # the clip's name relative to the media root, without extension ("00001", "Action/Sad/0010")
    label: int
    source: str
    line_no: int
    aliases: tuple[str, ...] = ()  # other names the clip may have on disk (DFEW's bare number)

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line_no}"


# ------------------------------------------------------------------------------------------- split files
def _lines(path: str) -> Iterable[tuple[int, str]]:
    try:
        with open(path, encoding="utf-8-sig") as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        raise AnnotationError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})", source_file=path) from None
    for line_no, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield line_no, line.strip()


def read_dfew_split(csv_path: str, id_width: int = 5) -> list[_Row]:
    rows = []
    try:
        with open(csv_path, encoding="utf-8-sig", newline="") as fh:
            records = list(csv.reader(fh))
    except UnicodeDecodeError as exc:
        raise AnnotationError(f"{csv_path}: not UTF-8 text ({exc.reason} at byte {exc.start})",
                              source_file=csv_path) from None
    for line_no, fields in enumerate(records, start=1):
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
        padded, bare = vid.zfill(id_width), str(int(vid))
        rows.append(_Row(padded, label, csv_path, line_no, tuple(a for a in {bare, vid} if a != padded)))
    return rows


def _split_two(line: str) -> list[str]:
    return [f.strip() for f in (line.rsplit(",", 1) if "," in line else line.rsplit(None, 1))]


def read_ferv39k_split(csv_path: str) -> list[_Row]:
    by_name = {n.lower(): i for i, n in enumerate(BASIC7)}
    rows = []
    for line_no, line in _lines(csv_path):
        fields = _split_two(line)
        clip = fields[0].replace("\\", "/").strip("/")
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


# ------------------------------------------------------------------------------------------------- media
class _MediaIndex:
    """Finds clips under a root, as a frame folder ``<clip>/`` or a video ``<clip>.<ext>`` (a folder wins), listing
    each folder once."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._folders: dict[str, dict[str, str]] = {}

    def _entries(self, parent: str) -> dict[str, str]:
        found = self._folders.get(parent)
        if found is None:
            found = {}
            try:
                with os.scandir(os.path.join(self.root, parent)) as it:
                    for entry in it:
                        stem, ext = os.path.splitext(entry.name)
                        if entry.is_dir():
                            found[entry.name] = entry.name
                        elif ext.lower() in VIDEO_EXTENSIONS:
                            found.setdefault(stem, entry.name)
            except OSError:
                pass
            self._folders[parent] = found
        return found

    def find(self, row: _Row) -> str | None:
        """The clip's path relative to the root, or None."""
        for name in (row.clip, *row.aliases):
            parent, _, stem = name.rpartition("/")
            entry = self._entries(parent).get(stem)
            if entry is not None:
                return f"{parent}/{entry}" if parent else entry
        return None

    def hits(self, rows: Sequence[_Row]) -> int:
        return sum(self.find(r) is not None for r in rows)


def _subfolders(path: str) -> list[str]:
    try:
        with os.scandir(path) as it:
            return sorted(e.path for e in it if e.is_dir() and not e.name.startswith("."))
    except OSError:
        return []


def _sample(rows: Sequence[_Row], n: int = _SAMPLE) -> list[_Row]:
    """Up to ``n`` distinct clips spread over ``rows``."""
    unique = list({r.clip: r for r in rows}.values())
    step = max(1, len(unique) // n)
    return unique[::step][:n]


def locate_media_root(root: str, rows: Sequence[_Row], preferred: Sequence[str] = (),
                      depth: int = 3) -> tuple[str, str | None]:
    """The folder that holds the clips: ``root`` itself when it holds at least half of a sample of them, otherwise
    the subfolder (at most ``depth`` levels down) holding the most; returns (folder, a note saying what was chosen
    or None)."""
    sample = _sample(rows)
    at_root = _MediaIndex(root).hits(sample)
    if not sample or 2 * at_root >= len(sample):
        return root, None
    candidates: list[tuple[int, int, str]] = []  # (hits, level, folder)
    frontier = [root]
    for level in range(1, depth + 1):
        below: list[str] = []
        for folder in frontier:
            subs = _subfolders(folder)
            if len(subs) > _MAX_SUBFOLDERS:
                continue
            for sub in subs:
                hits = _MediaIndex(sub).hits(sample)
                if hits > at_root:
                    candidates.append((hits, level, sub))
                below.append(sub)
        frontier = below
    if not candidates:
        return root, None
    best = max(h for h, _, _ in candidates)
    rank = {name: i for i, name in enumerate(preferred)}
    hits, level, chosen = min((c for c in candidates if c[0] == best),
                              key=lambda c: (rank.get(os.path.basename(c[2]), len(rank)), c[1], c[2]))
    others = [f for h, _, f in candidates if f != chosen and 2 * h >= len(sample)]
    where = "one level down" if level == 1 else f"{level} levels down"
    note = (f"media: {root} holds {at_root} of {len(sample)} sampled clips; using {chosen} ({where}, "
            f"{hits} of {len(sample)} found)")
    if others:
        note += f"; also holding the clips: {', '.join(others)} (pass one as the media folder to use it instead)"
    return chosen, note


def _count(path: str, videos: VideoFileReader) -> int:
    if os.path.isdir(path):
        return len(list_frame_files(path))
    return videos.count(path)


def _shown(items: Sequence[str], n: int = 3) -> str:
    return "; ".join(items[:n]) + (" ..." if len(items) > n else "")


def _dedupe(rows: list[_Row]) -> tuple[list[_Row], list[str]]:
    """Rows without repeats (the first kept), and a description of each repeat; a clip listed again with another
    label is an error."""
    first: dict[str, _Row] = {}
    kept, repeats = [], []
    for row in rows:
        prev = first.get(row.clip)
        if prev is None:
            first[row.clip] = row
            kept.append(row)
            continue
        if prev.label != row.label:
            raise AnnotationError.at(row.source, row.line_no, row.clip,
                                     f"clip listed again with another label (line {prev.line_no}: label "
                                     f"{prev.label}, this line: {row.label}, 0-based)")
        repeats.append(f"{row.clip} at lines {prev.line_no}, {row.line_no}")
    return kept, repeats


def _build_split(name: str, src: str, rows: list[_Row], index: _MediaIndex, out_dir: str, num_classes: int,
                 absolute: bool, videos: VideoFileReader) -> SplitResult:
    result = SplitResult(name, os.path.join(out_dir, f"{name}.txt"), source=src, rows=len(rows),
                         class_counts=[0] * num_classes)
    unique, result.duplicates = _dedupe(rows)
    for row in unique:
        rel = index.find(row)
        if rel is None:
            result.missing.append(f"{os.path.join(index.root, row.clip)} ({row.where})")
            continue
        full = os.path.join(index.root, rel)
        try:
            n = _count(full, videos)
        except MediaError as exc:
            result.empty.append(f"{full} ({exc.reason}; {row.where})")
            continue
        if n == 0:
            result.empty.append(f"{full} (no frames; {row.where})")
            continue
        result.lines.append(format_list_line(os.path.abspath(full) if absolute else rel, n, row.label))
        result.class_counts[row.label] += 1
        result.kinds["frame folders" if os.path.isdir(full) else "videos"] += 1
    result.written = len(result.lines)
    for what, items in (("clips missing", result.missing), ("clips empty or unreadable", result.empty),
                        ("duplicate rows (the first kept)", result.duplicates)):
        if items:
            result.findings.append(f"{len(items)} {what}, left out: {_shown(items)}")
    expected = EXPECTED_SIZES.get(name)
    if expected is not None and len(unique) != expected:
        result.findings.append(f"split file has {len(unique)} clips, the published split has {expected}")
    counts = EXPECTED_CLASS_COUNTS.get(name)
    got = [sum(r.label == k for r in unique) for k in range(num_classes)]
    if counts is not None and len(unique) == expected and tuple(got) != counts:
        result.findings.append(f"class counts {got} differ from the published {list(counts)}")
    return result


def _overlaps(splits: list[SplitResult], rows: dict[str, list[_Row]]) -> None:
    """A clip in both the train and the test split of one fold is a finding of the test split."""
    for s in splits:
        if not s.name.endswith("_test"):
            continue
        train = s.name.removesuffix("_test") + "_train"
        if train not in rows:
            continue
        shared = sorted({r.clip for r in rows[s.name]} & {r.clip for r in rows[train]})
        if shared:
            s.findings.append(f"{len(shared)} clips are also in {train}: {_shown(shared)}")


def _fatal(splits: list[SplitResult], media_root: str) -> list[str]:
    problems = []
    for s in splits:
        unique = s.rows - len(s.duplicates)
        lost = len(s.missing) + len(s.empty)
        if s.rows == 0:
            problems.append(f"{s.name}: the split file {s.source} lists no clips")
        elif s.written == 0:
            problems.append(f"{s.name}: none of its {unique} clips was found under {media_root} "
                            f"(e.g. {(s.missing or s.empty)[0]})")
        elif lost > MOST_MISSING * unique:
            problems.append(f"{s.name}: {lost} of its {unique} clips are missing or empty under {media_root} "
                            f"(e.g. {(s.missing or s.empty)[0]})")
    return problems


def _folder_hint(media_root: str, example: _Row | None) -> str:
    try:
        entries = sorted(os.listdir(media_root))
    except OSError:
        entries = []
    shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "") if entries else "nothing"
    expected = ""
    if example is not None:
        stem = os.path.join(media_root, example.clip)
        expected = f"each clip must be a frame folder or a video named by its id, e.g. {stem}/ or {stem}.avi; "
    return f"{expected}give the folder that holds them (--media; {media_root} holds: {shown})"


def _need(path: str) -> str:
    if not os.path.exists(path):
        raise DataError(f"expected split file not found: {path}")
    return path


Job = tuple[str, Callable[[str], list[_Row]], str]  # (list name, reader of the split file, split file)


def _convert(dataset: str, jobs: list[Job], labels_dir: str, frames_root: str, out_dir: str, num_classes: int,
             absolute: bool, strict: bool, notes: list[str], folds: list[int]) -> PrepareReport:
    """Read every split file, find the media, check every split, then (only if all passed) write the lists."""
    if not os.path.isdir(frames_root):
        raise DataError(f"media folder not found: {frames_root}",
                        hint="give the folder of the clips' frame folders or videos")
    rows = {name: read(_need(src)) for name, read, src in jobs}
    every = [r for name, _, _ in jobs for r in rows[name]]
    media_root, note = locate_media_root(frames_root, every, PREFERRED_MEDIA.get(dataset, ()))
    notes = [*notes, *([note] if note else [])]
    for line in notes:
        logger.debug("%s", line)
    report = PrepareReport(dataset, labels_dir, media_root, absolute, folds, notes)
    index, videos = _MediaIndex(media_root), VideoFileReader()
    for name, _, src in jobs:
        report.splits.append(_build_split(name, src, rows[name], index, out_dir, num_classes, absolute, videos))
    _overlaps(report.splits, rows)
    problems = _fatal(report.splits, media_root)
    if problems:
        more = f" (and {len(problems) - 1} more split(s))" if len(problems) > 1 else ""
        exc = DataError(f"nothing written: {problems[0]}{more}",
                        hint=_folder_hint(media_root, every[0] if every else None))
        exc.details = [*notes, *problems]  # type: ignore[attr-defined]
        raise exc
    if strict and report.findings:
        found = report.findings
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        exc = DataError(f"prepare found problems (strict mode), nothing written: {found[0]}{more}",
                        hint="fix the data or drop --strict to write the lists without the clips left out")
        exc.details = found  # type: ignore[attr-defined]
        raise exc
    for s in report.splits:
        atomic_write_text(s.path, "\n".join(s.lines) + "\n")
    return report


# ------------------------------------------------------------------------------------- labels and folds
def locate_labels(labels_dir: str, is_labels: Callable[[str], bool], what: str, preferred: Sequence[str] = (),
                  depth: int = 3) -> tuple[str, str | None]:
    """The folder of the split files: ``labels_dir`` itself, or the subfolder (up to ``depth`` levels down) that
    ``is_labels``; returns (folder, a note saying what was chosen or None)."""
    if not os.path.isdir(labels_dir):
        raise DataError(f"split-file folder not found: {labels_dir}", hint=f"give the folder that holds {what}")
    if is_labels(labels_dir):
        return labels_dir, None
    frontier = [labels_dir]
    for _ in range(depth):
        found: list[str] = []
        below: list[str] = []
        for folder in frontier:
            subs = _subfolders(folder)
            if len(subs) > _MAX_SUBFOLDERS:
                continue
            below += subs
            found += [s for s in subs if is_labels(s)]
        if found:
            def rank(f: str) -> tuple[int, str]:
                rel = os.path.relpath(f, labels_dir).replace(os.sep, "/")
                return next((i for i, p in enumerate(preferred) if rel.endswith(p)), len(preferred)), f
            found.sort(key=rank)
            if len(found) > 1 and rank(found[0])[0] == rank(found[1])[0]:
                raise DataError(f"{labels_dir}: several folders hold {what}: {', '.join(found[:4])}",
                                hint="give the one to use")
            return found[0], f"split files: using {found[0]} (found below {labels_dir})"
        frontier = below
    raise DataError(f"{labels_dir}: no {what} here or up to {depth} levels below",
                    hint=f"give the folder that holds {what}")


def _folds(folds: Iterable[int] | None, paths: Callable[[int], list[str]], labels_dir: str) -> list[int]:
    """The folds to convert: the requested ones (each must have its split files), or every fold whose split files
    all exist."""
    if folds is not None:
        out = sorted(set(folds))
        if not out or any(not 1 <= k <= 5 for k in out):
            raise DataError(f"folds must be within 1..5, got {out}")
        return out
    found = []
    for k in range(1, 6):
        exists = [os.path.isfile(p) for p in paths(k)]
        if all(exists):
            found.append(k)
        elif any(exists):
            missing = [p for p, e in zip(paths(k), exists, strict=True) if not e]
            raise DataError(f"fold {k} is incomplete: {missing[0]} not found (its other split file exists)",
                            hint="restore the file, or choose the folds to convert (--folds)")
    if not found:
        raise DataError(f"{labels_dir}: no fold's split files found (looked for {paths(1)[0]}, ...)",
                        hint="give the folder of the official split files")
    return found


def prepare_dfew(labels_dir: str, frames_root: str, out_dir: str, *, folds: Iterable[int] | None = None,
                 id_width: int = 5, absolute: bool = False, strict: bool = False) -> PrepareReport:
    def split_file(d: str, split: str, k: int) -> str:
        return os.path.join(d, f"{split}(single-labeled)", f"set_{k}.csv")

    labels, note = locate_labels(labels_dir, lambda d: os.path.isdir(os.path.join(d, "train(single-labeled)")),
                                 "'train(single-labeled)/set_k.csv' (DFEW's EmoLabel_DataSplit)")
    chosen = _folds(folds, lambda k: [split_file(labels, s, k) for s in ("train", "test")], labels)
    jobs: list[Job] = [(f"DFEW_set_{k}_{split}", partial(read_dfew_split, id_width=id_width),
                        split_file(labels, split, k)) for k in chosen for split in ("train", "test")]
    return _convert("dfew", jobs, labels, frames_root, out_dir, len(BASIC7), absolute, strict,
                    [note] if note else [], chosen)


def prepare_ferv39k(labels_dir: str, frames_root: str, out_dir: str, *, absolute: bool = False,
                    strict: bool = False) -> PrepareReport:
    labels, note = locate_labels(labels_dir, lambda d: os.path.isfile(os.path.join(d, "train_All.csv")),
                                 "train_All.csv and test_All.csv (FERV39K's 4_setups/All_scenes)")
    jobs: list[Job] = [(f"FERV39K_{split}", read_ferv39k_split, os.path.join(labels, f"{split}_All.csv"))
                       for split in ("train", "test")]
    return _convert("ferv39k", jobs, labels, frames_root, out_dir, len(BASIC7), absolute, strict,
                    [note] if note else [], [])


def prepare_mafw(labels_dir: str, frames_root: str, out_dir: str, *, folds: Iterable[int] | None = None,
                 absolute: bool = False, strict: bool = False) -> PrepareReport:
    def split_file(d: str, split: str, k: int) -> str:
        return os.path.join(d, f"set_{k}", f"{split}.txt")

    labels, note = locate_labels(
        labels_dir, lambda d: any(os.path.isfile(split_file(d, "train", k)) for k in range(1, 6)),
        "'set_k/train.txt' (MAFW's 'Train & Test Set/single/no_caption')", preferred=("single/no_caption",))
    chosen = _folds(folds, lambda k: [split_file(labels, s, k) for s in ("train", "test")], labels)
    jobs: list[Job] = [(f"MAFW_set_{k}_{split}", read_mafw_split, split_file(labels, split, k))
                       for k in chosen for split in ("train", "test")]
    return _convert("mafw", jobs, labels, frames_root, out_dir, len(MAFW11), absolute, strict,
                    [note] if note else [], chosen)


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
    # One entry per path listed more than once: "<path> at lines 3, 7" (the first line numbers).
    duplicates: list[str] = field(default_factory=list)
    duplicate_lines: int = 0  # lines beyond the first of each duplicated path

    @property
    def ok(self) -> bool:
        return self.records > 0 and not (self.missing or self.empty or self.bad_label or self.duplicates)

    def summary(self) -> str:
        if self.records == 0:
            return "0 clips: the list is empty (only blank or # lines)"
        parts = [f"{self.records} clips"]
        for what, items in (("missing", self.missing), ("empty or zero-length", self.empty),
                            ("label out of range", self.bad_label),
                            ("num_frames differs from the disk", self.mismatched)):
            if items:
                parts.append(f"{len(items)} {what} (e.g. {items[0]})")
        if self.duplicates:
            parts.append(f"{len(self.duplicates)} paths listed more than once ({self.duplicate_lines} extra lines; "
                         f"{_shown(self.duplicates)}); training refuses them unless data.allow_duplicates=true")
        return "; ".join(parts)


def check_list(list_file: str, *, root: str | None = None, rewrites: Iterable[str] | None = None,
               fmt: str = "auto", num_classes: int | None = None) -> ListCheck:
    """Check every clip of a list: the media exists and is non-empty, the label is in range, no path is listed
    twice, and the listed num_frames matches the disk (videos are counted from their headers, or by demuxing).
    An empty list is not ok."""
    from .annotations import load_annotations
    from .media import AutoReader

    reader = AutoReader()
    records = load_annotations(list_file, fmt=fmt, root=root, rewrites=rewrites)
    out = ListCheck(records=len(records))
    lines: dict[str, list[int]] = {}
    for rec in records:
        lines.setdefault(rec.path, []).append(rec.line_no)
    for path, found in lines.items():
        if len(found) > 1:
            shown = ", ".join(map(str, found[:5])) + (" ..." if len(found) > 5 else "")
            out.duplicates.append(f"{path} at lines {shown}")
            out.duplicate_lines += len(found) - 1
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
