"""Annotation (list) files → :class:`VideoRecord` objects.

Three formats are read; ``load_annotations(..., fmt="auto")`` picks one from the file (see :func:`detect_format`).

``list`` — the X-CLIP / DK-CLIP / DFER-CLIP format (docs/method.md §4.1–4.2)::

    <frame_dir_or_video> <num_frames> <label>

One clip per line, whitespace separated, 0-based integer labels. The line is split *from the right*: the last
two fields must be integers and everything before them is the path, so paths may contain any number of spaces
(the authors' loader allowed only one). ``num_frames`` is what the list claims; the loader checks it against
the disk and uses the real count (see :mod:`dkclip.data.dataset`).

``path_label`` — the MAE-DFER style two-column list::

    <path>,<label>        or        <path> <label>

Split at the last comma if the line has one, otherwise at the last run of whitespace. There is no frame count;
it is taken from the disk.

``csv`` — a generic CSV with a header row (read with :mod:`csv`, so quoted fields may contain commas)::

    path,label[,num_frames]

Column names are case-insensitive; ``path`` may also be called ``video`` or ``frame_dir``, and ``num_frames``
``frames``. Extra columns are ignored. ``label`` is a 0-based integer, or a class name when ``class_names``
is given (matched case-insensitively).

Common rules: blank lines and lines whose first non-blank character is ``#`` are ignored. Each path is first
rewritten with the ``rewrites`` prefix pairs (``old=new``, the first matching prefix wins; the published lists
carry absolute paths of the authors' machines), then joined to ``root`` unless it is absolute. Every parse error
is an :class:`~dkclip.data.errors.AnnotationError` naming the file, the line number and the offending text.
Labels are *not* range-checked here: an out-of-range label is a bad sample, handled by the dataset's
``on_error`` policy.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import UsageError
from .errors import AnnotationError

ListFormat = Literal["auto", "list", "path_label", "csv"]
FORMATS: tuple[str, ...] = ("auto", "list", "path_label", "csv")

_INT = re.compile(r"^[+-]?\d+$")
_PATH_COLUMNS = ("path", "video", "frame_dir")
_FRAMES_COLUMNS = ("num_frames", "frames")


@dataclass(frozen=True)
class VideoRecord:
    """One clip of a list file. ``path`` is resolved (rewritten and joined to the root)."""

    path: str
    num_frames: int | None  # as listed; None when the format has no frame count
    label: int
    source_file: str
    line_no: int

    @property
    def where(self) -> str:
        """``file:line``, for messages."""
        return f"{self.source_file}:{self.line_no}"


@dataclass(frozen=True)
class PathRewrite:
    """Replace the prefix ``old`` of a listed path by ``new``."""

    old: str
    new: str

    @classmethod
    def parse(cls, spec: str) -> PathRewrite:
        """Parse ``old=new``. The split is at the first ``=``; ``new`` may be empty (strip the prefix)."""
        if "=" not in spec:
            raise UsageError(f"path rewrite must look like OLD=NEW, got {spec!r}")
        old, new = spec.split("=", 1)
        if not old:
            raise UsageError(f"path rewrite has an empty OLD prefix: {spec!r}")
        return cls(old, new)

    def apply(self, path: str) -> str | None:
        return self.new + path[len(self.old):] if path.startswith(self.old) else None


def _as_rewrites(rewrites: Iterable[PathRewrite | str] | None) -> list[PathRewrite]:
    return [r if isinstance(r, PathRewrite) else PathRewrite.parse(r) for r in (rewrites or ())]


def resolve_path(raw: str, root: str | os.PathLike[str] | None, rewrites: Sequence[PathRewrite]) -> str:
    """Rewrite the prefix of ``raw`` (first match wins), then join it to ``root`` unless it is absolute."""
    path = raw
    for rw in rewrites:
        new = rw.apply(path)
        if new is not None:
            path = new
            break
    if root is not None and not os.path.isabs(path):
        path = os.path.join(os.fspath(root), path)
    return path


def _content_lines(text: str) -> Iterable[tuple[int, str]]:
    for line_no, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield line_no, stripped


def _read_text(path: str | os.PathLike[str]) -> str:
    """The list's text; a missing file, a folder or a binary file (a video passed as a list, say) is an
    :class:`AnnotationError` naming the file, never a raw errno or codec message."""
    file = Path(path)
    if not file.exists():
        raise AnnotationError(f"{file}: list file not found", source_file=str(file), reason="missing")
    if file.is_dir():
        raise AnnotationError(f"{file}: is a folder, not a list file", source_file=str(file), reason="folder")
    data = file.read_bytes()
    if b"\0" in data[:4096]:
        raise AnnotationError(f"{file}: not a text list file (binary content; a video or image given as a list?)",
                              source_file=str(file), reason="binary")
    try:
        # utf-8-sig drops a BOM that spreadsheet exports put in front of the first path.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise AnnotationError(f"{file}:{line}: not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start}); "
                              "save the list as UTF-8", source_file=str(file), line_no=line,
                              reason="encoding") from None


def parse_list(text: str, source_file: str, *, root: str | os.PathLike[str] | None = None,
               rewrites: Iterable[PathRewrite | str] | None = None) -> list[VideoRecord]:
    """Parse the ``<path> <num_frames> <label>`` format (see the module docstring)."""
    rws = _as_rewrites(rewrites)
    records = []
    for line_no, line in _content_lines(text):
        fields = line.rsplit(None, 2)
        if len(fields) < 3:
            raise AnnotationError.at(source_file, line_no, line, "expected '<path> <num_frames> <label>'")
        raw, frames_s, label_s = fields
        if not _INT.match(frames_s):
            raise AnnotationError.at(source_file, line_no, line, f"num_frames {frames_s!r} is not an integer")
        if not _INT.match(label_s):
            raise AnnotationError.at(source_file, line_no, line, f"label {label_s!r} is not an integer")
        frames = int(frames_s)
        if frames < 0:
            raise AnnotationError.at(source_file, line_no, line, "num_frames is negative")
        records.append(VideoRecord(resolve_path(raw, root, rws), frames, int(label_s), source_file, line_no))
    return records


def parse_path_label(text: str, source_file: str, *, root: str | os.PathLike[str] | None = None,
                     rewrites: Iterable[PathRewrite | str] | None = None) -> list[VideoRecord]:
    """Parse the two-column ``<path>,<label>`` (or ``<path> <label>``) format."""
    rws = _as_rewrites(rewrites)
    records = []
    for line_no, line in _content_lines(text):
        fields = line.rsplit(",", 1) if "," in line else line.rsplit(None, 1)
        if len(fields) != 2 or not fields[0].strip():
            raise AnnotationError.at(source_file, line_no, line, "expected '<path>,<label>'")
        raw, label_s = fields[0].strip(), fields[1].strip()
        if not _INT.match(label_s):
            raise AnnotationError.at(source_file, line_no, line, f"label {label_s!r} is not an integer")
        records.append(VideoRecord(resolve_path(raw, root, rws), None, int(label_s), source_file, line_no))
    return records


def _column(header: list[str], names: Sequence[str]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def parse_csv(text: str, source_file: str, *, root: str | os.PathLike[str] | None = None,
              rewrites: Iterable[PathRewrite | str] | None = None,
              class_names: Sequence[str] | None = None) -> list[VideoRecord]:
    """Parse a CSV with a header row ``path,label[,num_frames]`` (see the module docstring)."""
    rws = _as_rewrites(rewrites)
    by_name = {n.lower(): i for i, n in enumerate(class_names or ())}
    lines = text.splitlines()
    rows = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    col_path = col_label = col_frames = None
    records = []
    for row in rows:
        line_no = rows.line_num
        raw_line = lines[line_no - 1] if line_no - 1 < len(lines) else ",".join(row)
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = row
            col_path, col_label = _column(row, _PATH_COLUMNS), _column(row, ("label",))
            col_frames = _column(row, _FRAMES_COLUMNS)
            if col_path is None or col_label is None:
                raise AnnotationError.at(source_file, line_no, raw_line,
                                         "CSV header must name a 'path' and a 'label' column")
            continue
        assert col_path is not None and col_label is not None
        needed = max(c for c in (col_path, col_label, col_frames) if c is not None)
        if len(row) <= needed:
            raise AnnotationError.at(source_file, line_no, raw_line,
                                     f"expected {len(header)} columns, got {len(row)}")
        raw, label_s = row[col_path].strip(), row[col_label].strip()
        if not raw:
            raise AnnotationError.at(source_file, line_no, raw_line, "empty path")
        if _INT.match(label_s):
            label = int(label_s)
        elif label_s.lower() in by_name:
            label = by_name[label_s.lower()]
        else:
            what = "is not an integer or a known class name" if by_name else "is not an integer"
            raise AnnotationError.at(source_file, line_no, raw_line, f"label {label_s!r} {what}")
        frames: int | None = None
        if col_frames is not None and row[col_frames].strip():
            frames_s = row[col_frames].strip()
            if not _INT.match(frames_s) or int(frames_s) < 0:
                raise AnnotationError.at(source_file, line_no, raw_line,
                                         f"num_frames {frames_s!r} is not a non-negative integer")
            frames = int(frames_s)
        records.append(VideoRecord(resolve_path(raw, root, rws), frames, label, source_file, line_no))
    return records


def detect_format(text: str, filename: str = "") -> str:
    """Guess the format from the first content line.

    A first line naming a ``path``-like and a ``label`` column is a ``csv`` header. A line whose last two
    whitespace fields are integers (and that has at least three fields) is ``list``. Anything else ending in
    ``,<int>`` or ``<space><int>`` is ``path_label``. Pass ``fmt`` explicitly where a two-column list has
    paths that end in `` <digits>``.
    """
    first = next((line for _, line in _content_lines(text)), "")
    try:
        header = next(csv.reader([first]))
    except (csv.Error, StopIteration):  # pragma: no cover - csv rarely fails on one line
        header = []
    if _column(header, _PATH_COLUMNS) is not None and _column(header, ("label",)) is not None:
        return "csv"
    fields = first.rsplit(None, 2)
    if len(fields) == 3 and _INT.match(fields[1]) and _INT.match(fields[2]) and "," not in fields[1]:
        return "list"
    return "path_label"


def load_annotations(source: str | os.PathLike[str], *, fmt: ListFormat | str = "auto",
                     root: str | os.PathLike[str] | None = None,
                     rewrites: Iterable[PathRewrite | str] | None = None,
                     class_names: Sequence[str] | None = None) -> list[VideoRecord]:
    """Read a list file in any supported format (see the module docstring)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown list format {fmt!r}; expected one of {FORMATS}")
    source_file = os.fspath(source)
    text = _read_text(source_file)
    if fmt == "auto":
        fmt = detect_format(text, source_file)
    if fmt == "list":
        return parse_list(text, source_file, root=root, rewrites=rewrites)
    if fmt == "path_label":
        return parse_path_label(text, source_file, root=root, rewrites=rewrites)
    return parse_csv(text, source_file, root=root, rewrites=rewrites, class_names=class_names)


def format_list_line(path: str, num_frames: int, label: int) -> str:
    """One line of our ``list`` format (the inverse of :func:`parse_list`)."""
    if "\n" in path:
        raise ValueError(f"path contains a newline: {path!r}")
    return f"{path} {num_frames} {label}"
