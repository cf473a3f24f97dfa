"""``dkclip prepare check``: a list file checked against the disk, whatever made it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ...errors import UsageError
from ..annotations import load_annotations
from ..errors import DataError
from ..media import AutoReader
from .report import shown


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
                         f"{shown(self.duplicates)}); training refuses them unless data.allow_duplicates=true")
        return "; ".join(parts)


def check_list(list_file: str, *, root: str | None = None, rewrites: Iterable[str] | None = None,
               fmt: str = "auto", num_classes: int | None = None) -> ListCheck:
    """Check every clip of a list: the media exists and is non-empty, the label is in range, no path is listed
    twice, and the listed num_frames matches the disk (videos are counted from their headers, or by demuxing).
    An empty list is not ok."""
    if num_classes is not None and num_classes < 1:  # every label was reported out of range
        raise UsageError(f"--num-classes must be at least 1, got {num_classes}")
    reader = AutoReader()
    records = load_annotations(list_file, fmt=fmt, root=root, rewrites=rewrites)
    out = ListCheck(records=len(records))
    lines: dict[str, list[int]] = {}
    for rec in records:
        lines.setdefault(rec.path, []).append(rec.line_no)
    for path, found in lines.items():
        if len(found) > 1:
            at = ", ".join(map(str, found[:5])) + (" ..." if len(found) > 5 else "")
            out.duplicates.append(f"{path} at lines {at}")
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
