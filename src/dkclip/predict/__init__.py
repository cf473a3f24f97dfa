"""Dynamic expression recognition on any video: decoding, face detection and tracking, sliding windows over each
face track, the model's predictions per window and per frame, and the tables and pictures of the result.

The command line (``dkclip predict``) and the Python API (:class:`Predictor`) share this package; the model's
preprocessing (input size, normalisation, T, N, class names) comes from the model itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .predictor import PredictionResult, Predictor

__all__ = ["PredictionResult", "Predictor"]


def __getattr__(name: str) -> Any:
    # Lazy, so that the torch-free parts (predict.defaults for ``dkclip predict --help``) load without torch.
    if name in __all__:
        from . import predictor

        return getattr(predictor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
