"""Dynamic expression recognition on any video: decoding, face detection and tracking, sliding windows over each
face track, the model's predictions per window and per frame, and the tables and pictures of the result.

The command line (``dkclip predict``) and the Python API (:class:`Predictor`) share this package; the model's
preprocessing (input size, normalisation, T, N, class names) comes from the model itself.
"""

from .predictor import PredictionResult, Predictor

__all__ = ["PredictionResult", "Predictor"]
