"""The conversion every layout shares: read the split files, find each clip's media and count its frames, check
every split, and write the lists only when all of them pass."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ...fileio import atomic_write_text
from ..annotations import format_list_line
from ..errors import AnnotationError, DataError, MediaError
from ..media import VideoFileReader, list_frame_files
from .locate import MediaIndex, locate_media_root
from .report import PrepareReport, SplitResult, shown
from .rows import SplitRow

logger = logging.getLogger(__name__)

# A split with more than this fraction of its clips missing or empty on disk is an error, not a finding.
MOST_MISSING = 0.5


@dataclass(frozen=True)
class Layout:
    """What the shared conversion needs to know about one official release."""

    name: str  # the registry name ("dfew")
    num_classes: int
    # Media folders of the release, in the order preferred when several hold the clips equally well.
    preferred_media: tuple[str, ...] = ()
    # Published sizes and per-class counts by list name (docs/method.md §4.1–4.3); a difference is a finding.
    sizes: Mapping[str, int] = field(default_factory=dict)
    class_counts: Mapping[str, tuple[int, ...]] = field(default_factory=dict)


Job = tuple[str, Callable[[str], list[SplitRow]], str]  # (list name, reader of the split file, split file)


def _count(path: str, videos: VideoFileReader) -> int:
    if os.path.isdir(path):
        return len(list_frame_files(path))
    return videos.count(path)


def _dedupe(rows: list[SplitRow]) -> tuple[list[SplitRow], list[str]]:
    """Rows without repeats (the first kept), and a description of each repeat; a clip listed again with another
    label is an error."""
    first: dict[str, SplitRow] = {}
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


def _build_split(layout: Layout, name: str, src: str, rows: list[SplitRow], index: MediaIndex, out_dir: str,
                 absolute: bool, videos: VideoFileReader) -> SplitResult:
    num_classes = layout.num_classes
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
            result.findings.append(f"{len(items)} {what}, left out: {shown(items)}")
    expected = layout.sizes.get(name)
    if expected is not None and len(unique) != expected:
        result.findings.append(f"split file has {len(unique)} clips, the published split has {expected}")
    counts = layout.class_counts.get(name)
    got = [sum(r.label == k for r in unique) for k in range(num_classes)]
    if counts is not None and len(unique) == expected and tuple(got) != counts:
        result.findings.append(f"class counts {got} differ from the published {list(counts)}")
    return result


def _overlaps(splits: list[SplitResult], rows: dict[str, list[SplitRow]]) -> None:
    """A clip in both the train and the test split of one fold is a finding of the test split."""
    for s in splits:
        if not s.name.endswith("_test"):
            continue
        train = s.name.removesuffix("_test") + "_train"
        if train not in rows:
            continue
        shared = sorted({r.clip for r in rows[s.name]} & {r.clip for r in rows[train]})
        if shared:
            s.findings.append(f"{len(shared)} clips are also in {train}: {shown(shared)}")


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


def _folder_hint(media_root: str, example: SplitRow | None) -> str:
    try:
        entries = sorted(os.listdir(media_root))
    except OSError:
        entries = []
    listing = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "") if entries else "nothing"
    expected = ""
    if example is not None:
        stem = os.path.join(media_root, example.clip)
        expected = f"each clip must be a frame folder or a video named by its id, e.g. {stem}/ or {stem}.avi; "
    return f"{expected}give the folder that holds them (--media; {media_root} holds: {listing})"


def _need(path: str) -> str:
    if not os.path.exists(path):
        raise DataError(f"expected split file not found: {path}")
    return path


def convert(layout: Layout, jobs: list[Job], labels_dir: str, frames_root: str, out_dir: str, *, absolute: bool,
            strict: bool, note: str | None, folds: list[int]) -> PrepareReport:
    """Read every split file, find the media, check every split, then (only if all passed) write the lists.
    ``note`` says which split-file folder was chosen, when it was not the one given."""
    if not os.path.isdir(frames_root):
        raise DataError(f"media folder not found: {frames_root}",
                        hint="give the folder of the clips' frame folders or videos")
    rows = {name: read(_need(src)) for name, read, src in jobs}
    every = [r for name, _, _ in jobs for r in rows[name]]
    media_root, media_note = locate_media_root(frames_root, every, layout.preferred_media)
    notes = [n for n in (note, media_note) if n]
    for line in notes:
        logger.debug("%s", line)
    report = PrepareReport(layout.name, labels_dir, media_root, absolute, folds, notes)
    index, videos = MediaIndex(media_root), VideoFileReader()
    for name, _, src in jobs:
        report.splits.append(_build_split(layout, name, src, rows[name], index, out_dir, absolute, videos))
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
