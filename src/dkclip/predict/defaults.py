"""The predictor's defaults, in a module that imports nothing heavy, so that ``dkclip predict --help`` can show
them without loading torch. The measurements behind each are where it is used (cited beside each)."""

from __future__ import annotations

from ..constants import HEADS  # torch-free

__all__ = ["HEADS"]  # re-exported for the command line
# Windows of 2 s every 1 s, detection on every 5th frame (Predictor's docstring).
DEFAULT_WINDOW = 2.0
DEFAULT_STRIDE = 1.0
DEFAULT_DETECT_EVERY = 5
# Detection misses bridged (s): MTCNN loses synthetic faces for up to ~0.8 s in dark or unusual frames
# (benchmarks/predict_quality.py: at 0.5 s, 2 of 66 faces that never cross changed id; see docs/results-synthetic.md).
DEFAULT_MAX_GAP = 1.0
# Crop side over the detector box's long side (crops.py: DFEW-like framing).
DEFAULT_CROP_SCALE = 1.3
# MTCNN's defaults here, used by the Predictor and the command line alike (measurements: faces.MTCNNDetector).
DEFAULT_MIN_FACE_SIZE = 20
DEFAULT_THRESHOLD = 0.8
# How the model runs (predict/runtime.py): torch stays the default, being exact; int8 and ONNX are measured
# against it in docs/benchmarks.md.
RUNTIMES = ("torch", "torch-int8", "onnx")
DEFAULT_RUNTIME = "torch"
