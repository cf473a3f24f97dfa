"""A row of an official split file (one clip and its label) and the reading every layout shares."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import AnnotationError

# The seven basic classes in our label order (docs/method.md §4.3), as DFEW and FERV39K name them.
BASIC7: tuple[str, ...] = ("Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear")


@dataclass(frozen=True)
class SplitRow:
    clip: str  # the clip's name relative to the media root, without extension ("00001", "Action/Sad/0010")
    label: int
    source: str
    line_no: int
    aliases: tuple[str, ...] = ()  # other names the clip may have on disk (DFEW's bare number)

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line_no}"


def read_lines(path: str) -> Iterable[tuple[int, str]]:
    """(line number, stripped line) of each non-blank line of a UTF-8 split file."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        raise AnnotationError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})", source_file=path) from None
    for line_no, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield line_no, line.strip()


def split_two(line: str) -> list[str]:
    """``<clip> <label>`` or ``<clip>,<label>``: split at the last comma, else at the last whitespace."""
    return [f.strip() for f in (line.rsplit(",", 1) if "," in line else line.rsplit(None, 1))]
