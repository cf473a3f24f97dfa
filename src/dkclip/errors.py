"""The exceptions dkclip raises for expected mistakes: bad input, bad configuration, files of the wrong kind.

Everything an ordinary user can cause derives from :class:`DKClipError`. The command line catches exactly
these (and ``OSError``) at one place (:mod:`dkclip.cli`) and prints one line naming the file, line or key and
what to do; anything else is a bug and keeps its traceback. ``exit_code`` is what the command line returns:
2 for usage and configuration mistakes, 1 for the rest.

Each class also derives from the built-in exception a caller would have caught before this hierarchy existed
(``ValueError``, ``RuntimeError``), so library users' ``except ValueError`` keeps working.
"""

from __future__ import annotations


class DKClipError(Exception):
    """Root of dkclip's expected errors."""

    exit_code: int = 1
    # An optional second sentence printed by the CLI: what to do about it.
    hint: str = ""

    def __init__(self, message: str = "", *, hint: str = "") -> None:
        super().__init__(message)
        if hint:
            self.hint = hint


class UsageError(DKClipError, ValueError):
    """A command or function was called with arguments that do not fit together."""

    exit_code = 2


class ConfigError(DKClipError, ValueError):
    """A configuration problem, naming the key (and file) at fault."""

    exit_code = 2


class CheckpointError(DKClipError, ValueError):
    """A weights or checkpoint file that cannot be used: unreadable, corrupt, or of another kind."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint does not fit the requested architecture."""

    def __init__(self, message: str = "", *, details: list[str] | None = None, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.details = list(details or [])


class WeightsIntegrityError(CheckpointError):
    """A registered pretrained weights file whose size or SHA-256 differs from the registry's."""


class TrainingDiverged(DKClipError, RuntimeError):
    """The loss became NaN or infinite."""


class PredictionError(DKClipError):
    """A video or image that the predictor cannot use."""
