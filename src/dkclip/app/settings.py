"""What the page's controls ask for, as one value: the :class:`RunSettings` of a prediction.

Torch-free, so that ``dkclip app --help`` can show the defaults at once. The same settings give the
:class:`~dkclip.predict.Predictor` keywords (:meth:`RunSettings.predictor_options`) and the ``dkclip predict``
command line that writes the same files (:meth:`RunSettings.cli_args`), shown on the page so that a result can be
reproduced (and compared byte for byte, as the app's test does) without the browser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..predict.defaults import (
    DEFAULT_CROP_SCALE,
    DEFAULT_DETECT_EVERY,
    DEFAULT_MIN_FACE_SIZE,
    DEFAULT_STRIDE,
    DEFAULT_THRESHOLD,
    DEFAULT_WINDOW,
    HEADS,
)

DETECTORS = ("mtcnn", "none")


def _number(value: Any, what: str, digits: int = 3) -> float:
    """A form value as a float rounded to ``digits`` decimals: sliders send 0.30000000000000004, and the value
    recorded in windows.json must be the one the equivalent command line parses (0.3)."""
    try:
        number = round(float(value), digits)
    except (TypeError, ValueError):
        raise UsageError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise UsageError(f"{what} must be a finite number, got {value!r}")
    return number


def _integer(value: Any, what: str) -> int:
    number = _number(value, what, digits=6)
    if number != int(number):
        raise UsageError(f"{what} must be a whole number, got {value!r}")
    return int(number)


@dataclass(frozen=True)
class RunSettings:
    """The prediction settings a user can change on the page (the rest are ``dkclip predict``'s defaults)."""

    window: float = DEFAULT_WINDOW
    stride: float = DEFAULT_STRIDE
    head: str = "global"
    detector: str = "mtcnn"
    detect_every: int = DEFAULT_DETECT_EVERY
    min_face_size: int = DEFAULT_MIN_FACE_SIZE
    threshold: float = DEFAULT_THRESHOLD
    max_faces: int = 0  # 0: every face found
    crop_scale: float = DEFAULT_CROP_SCALE

    @classmethod
    def from_form(cls, *, window: Any, stride: Any, head: Any, detector: Any, detect_every: Any,
                  min_face_size: Any, threshold: Any, max_faces: Any, crop_scale: Any) -> RunSettings:
        """Settings from the page's values (strings or numbers), normalised and checked; a value out of range is a
        :class:`~dkclip.errors.UsageError` in plain words (the Predictor checks the rest)."""
        if head not in HEADS:
            raise UsageError(f"head must be one of {', '.join(HEADS)}, got {head!r}")
        if detector not in DETECTORS:
            raise UsageError(f"detector must be one of {', '.join(DETECTORS)}, got {detector!r}")
        settings = cls(window=_number(window, "window"), stride=_number(stride, "stride"), head=str(head),
                       detector=str(detector), detect_every=_integer(detect_every, "detect every"),
                       min_face_size=_integer(min_face_size, "smallest face"),
                       threshold=_number(threshold, "detection threshold"),
                       max_faces=_integer(max_faces or 0, "most faces"),
                       crop_scale=_number(crop_scale, "crop scale"))
        if settings.max_faces < 0:
            raise UsageError(f"most faces must be 0 (all) or more, got {settings.max_faces}")
        return settings

    def detector_options(self) -> dict[str, Any]:
        """The detector's options as ``dkclip predict`` passes them (none for ``detector="none"``)."""
        if self.detector == "none":
            return {}
        return {"max_faces": self.max_faces or None, "min_face_size": self.min_face_size,
                "threshold": self.threshold}

    def predictor_options(self) -> dict[str, Any]:
        """Keywords of :class:`dkclip.predict.Predictor` (besides the model, device and AU evidence)."""
        return {"detector": self.detector, "window": self.window, "stride": self.stride,
                "detect_every": self.detect_every, "head": self.head, "crop_scale": self.crop_scale,
                "detector_options": self.detector_options()}

    def detection_key(self) -> tuple[Any, ...]:
        """What a frame's detections depend on: detections cached under one key are valid for the same key.
        (``detect_every`` only chooses the frames, so it is not part of it.)"""
        return (self.detector, *sorted(self.detector_options().items()))

    def cli_args(self) -> list[str]:
        """The ``dkclip predict`` options that give the same prediction."""
        args = ["--window", repr(self.window), "--stride", repr(self.stride), "--head", self.head,
                "--detector", self.detector, "--crop-scale", repr(self.crop_scale)]
        if self.detector != "none":
            args += ["--detect-every", str(self.detect_every), "--min-face-size", str(self.min_face_size),
                     "--threshold", repr(self.threshold)]
            if self.max_faces:
                args += ["--max-faces", str(self.max_faces)]
        return args

    def changed_from(self, other: RunSettings | None) -> list[str]:
        """Names of the settings that differ from ``other`` (for the page's "what was rerun" line)."""
        if other is None:
            return []
        return [name for name in self.__dataclass_fields__ if getattr(self, name) != getattr(other, name)]
