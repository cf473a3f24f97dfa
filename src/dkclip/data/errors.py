"""Exceptions of the data pipeline.

Every error says *where* the problem is: a list file and line for annotation problems, and additionally the
media path for decoding problems. Reproduction reports in this field usually start from a silently wrong list,
so the messages are built to be pasted into an issue as they are.

Each exception can be rebuilt from its message alone (the structured fields are keyword-only). This matters
because a DataLoader worker re-raises an exception in the main process as ``type(exc)(message)``; with a
positional multi-argument constructor it would degrade to a bare ``RuntimeError``.
"""

from __future__ import annotations

from ..errors import DKClipError


class DataError(DKClipError):
    """Base class of all data-pipeline errors."""


class AnnotationError(DataError):
    """A list file line that cannot be parsed (always raised, whatever the ``on_error`` policy).

    A malformed list is a broken input file, not a bad sample: skipping lines of it would silently change the
    split, so it is never tolerated.
    """

    def __init__(self, message: str, *, source_file: str = "", line_no: int = 0, text: str = "",
                 reason: str = "") -> None:
        super().__init__(message)
        self.source_file = source_file
        self.line_no = line_no
        self.text = text
        self.reason = reason

    @classmethod
    def at(cls, source_file: str, line_no: int, text: str, reason: str) -> AnnotationError:
        return cls(f"{source_file}:{line_no}: {reason}: {text!r}", source_file=str(source_file),
                   line_no=line_no, text=text, reason=reason)


class MediaError(DataError):
    """A media path that cannot be read: missing, empty folder, corrupt image or video, zero-length video."""

    def __init__(self, message: str, *, path: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.reason = reason

    @classmethod
    def at(cls, path: str, reason: str) -> MediaError:
        return cls(f"{reason}: {path}", path=str(path), reason=reason)


class SampleError(DataError):
    """A bad sample, located in its list file (raised under ``on_error="raise"``)."""

    def __init__(self, message: str, *, source_file: str = "", line_no: int = 0, path: str = "",
                 reason: str = "") -> None:
        super().__init__(message)
        self.source_file = source_file
        self.line_no = line_no
        self.path = path
        self.reason = reason

    @classmethod
    def at(cls, source_file: str, line_no: int, path: str, reason: str) -> SampleError:
        return cls(f"{source_file}:{line_no}: {reason}: {path}", source_file=str(source_file),
                   line_no=line_no, path=str(path), reason=reason)
