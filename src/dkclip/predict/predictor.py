"""The Python API: :class:`Predictor` runs a model over videos; :class:`PredictionResult` holds what it found.

    import dkclip
    from dkclip.predict import Predictor

    predictor = Predictor(dkclip.load_model("runs/x/best"), detector="mtcnn")
    result = predictor.predict("my_video.mp4")
    result.frames        # per frame and face: box, id, smoothed class probabilities, label (pandas)
    result.windows       # per window and face: probabilities, label, NRM snippet scores a* and kept flags
    result.au_names      # ["AU01", "AU02", ...]: the action-unit evidence columns both tables end with
    result.plot("timeline.png"); result.save("out/")

The model side is batched across tracks and windows: windows from every face are queued and run through the
model ``batch_size`` at a time (at once, in live mode, so that each window is printed as soon as it exists).
The model's own config says how its input is made (size, normalisation, T, N, class names).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..errors import DKClipError, UsageError
from ..factory import is_onnx_file, load_model
from .au_calibration import AUSetting, au_evidence_for
from .crops import Cropper, store_size
from .defaults import (
    DEFAULT_CROP_SCALE,
    DEFAULT_DETECT_EVERY,
    DEFAULT_MAX_GAP,
    DEFAULT_STRIDE,
    DEFAULT_WINDOW,
)
from .faces import FaceDetector, WholeFrameDetector
from .outputs import (
    WindowResult,
    face_summaries,
    frames_table,
    windows_table,
)
from .pipeline import WindowJob, WindowStream
from .result import PredictionResult
from .runner import ModelRunner
from .runtime import DEFAULT_RUNTIME, OnnxVideoRuntime, Runtime
from .sources import FrameSource, SourceInfo, check_fps, describe, open_live, open_source
from .tracking import Tracker

if TYPE_CHECKING:
    from ..model.dkclip import DKClip
    from ..model.onnx import OnnxModel

logger = logging.getLogger(__name__)


WindowCallback = Callable[[WindowResult, SourceInfo], None]


def resolve_detector(detector: FaceDetector | str | None, options: dict[str, Any] | None = None) -> FaceDetector:
    """A detector object from a name (``"none"``, or any name :func:`dkclip.predict.faces.build_detector`
    knows), passing ``options`` (thresholds, sizes) to it."""
    if detector is None or (isinstance(detector, str) and detector == "none"):
        return WholeFrameDetector()
    if not isinstance(detector, str):
        return detector
    try:
        from .faces import build_detector
    except ImportError:
        raise UsageError(f"face detector {detector!r} is not available in this installation",
                         hint="use --detector none for videos that are already face crops") from None
    opts = {k: v for k, v in (options or {}).items() if v is not None}
    return build_detector(detector, **opts)


class Predictor:
    """Dynamic facial expression recognition over videos, frame folders, images and live inputs.

    Args:
        model: a :class:`~dkclip.DKClip`, or a path :func:`dkclip.load_model` reads (an export, a run directory,
            ``best/``, ``last.pt``); None: the shipped dkclip-tiny (:func:`dkclip.predict.models.default_model`,
            synthetic faces only, with a warning).
        detector: a :class:`~dkclip.predict.faces.FaceDetector`, or its name (``"mtcnn"``; ``"none"`` when the
            frames already are face crops). ``detector_options`` go to the named detector (for MTCNN:
            ``min_face_size``, ``threshold``, ``max_faces``; defaults and their measurements in
            :class:`~dkclip.predict.faces.MTCNNDetector`); MTCNN runs on the model's device.
        window, stride: window length and step in seconds (2 s / 1 s: the lower end of DFEW's 2-5 s clips, so
            the model sees clips like its training clips, and 1 s time resolution with every frame covered by
            two windows, which smooths the per-frame curves).
        detect_every: run the detector on every k-th frame (5); boxes are interpolated between. Measured on a
            640x360 25 fps video of a moving face, two CPU cores, dkclip-tiny: MTCNN takes 13 ms a frame and
            everything else 2.8 ms, so detecting on every frame runs at 55 frames/s, every 5th at 160 and every
            10th at 230. At k=5 detection costs about as much as the rest (the knee), the interpolated box
            centre stays within 1.2% (median) / 4% (95th percentile) of the face size from per-frame
            detection, and a new face is picked up within 0.2 s. Ignored (1) for ``detector="none"``.
        head: ``"global"`` (the paper's), ``"local"`` (NRM-fused snippets) or ``"fused"`` (their mean), as
            :mod:`dkclip.model.heads` defines them for every command.
        align: rotate crops so the eyes are level (needs detector landmarks).
        crop_scale: crop side over the detector box's long side (1.3: DFEW-like framing, see crops.py).
        max_gap: a track missing for longer than this (s) ends; shorter misses are bridged (1 s: see
            :data:`DEFAULT_MAX_GAP`).
        min_track: tracks shorter than this (s; default one window) are dropped.
        batch_size: windows per forward pass.
        fps: frame rate of frame folders and images (default 25).
        aus: action-unit evidence (:mod:`dkclip.model.au_evidence`) as ``AU01``, ``AU02``, ... columns of both
            tables, read off the same forward pass; what it is calibrated with is decided by
            :func:`dkclip.predict.au_calibration.au_evidence_for`. True (default): scored against the model's
            own text tower, uncalibrated (0 = the AU phrase fits as well as a neutral-face phrase), except for
            the shipped default model, which comes with its calibration on rendered synthetic faces (0 =
            absent); a calibration file's path, or ``"synthetic"`` (calibrate on rendered faces now); an
            :class:`~dkclip.model.au_evidence.AUEvidence` of this model: used as it is; False: no AU columns.
            Its quality on real faces depends on the CLIP weights and is unmeasured.
        runtime: how the model runs (:mod:`dkclip.predict.runtime`): ``"torch"`` (exact), ``"torch-int8"``
            (the video encoder's linear layers in int8, CPU) or ``"onnx"`` (the video encoder in ONNX Runtime,
            CPU), or one already built for this model by :func:`dkclip.predict.runtime.build_runtime` (kept
            across predictors, as the app does). A model given as an ``.onnx`` file (``dkclip export --onnx``)
            always runs in ONNX Runtime.
            Overlapping windows share their snippets, and each snippet is encoded once.
    """

    def __init__(self, model: DKClip | OnnxModel | str | os.PathLike[str] | None = None, *,
                 detector: FaceDetector | str | None = "mtcnn",
                 window: float = DEFAULT_WINDOW, stride: float = DEFAULT_STRIDE,
                 detect_every: int = DEFAULT_DETECT_EVERY, head: str = "global", align: bool = False,
                 crop_scale: float = DEFAULT_CROP_SCALE, max_gap: float = DEFAULT_MAX_GAP,
                 min_track: float | None = None, batch_size: int = 8, device: str | torch.device | None = None,
                 fps: float | None = None, detector_options: dict[str, Any] | None = None,
                 iou_threshold: float = 0.3, aus: AUSetting = True,
                 runtime: str | Runtime | OnnxVideoRuntime = DEFAULT_RUNTIME) -> None:
        if model is None:
            from .models import DEFAULT_MODEL_API_WARNING, default_model

            logger.warning(DEFAULT_MODEL_API_WARNING)
            model = default_model()
        elif isinstance(model, str | os.PathLike) and is_onnx_file(model):
            model = load_model(model, onnx=True)
        elif isinstance(model, str | os.PathLike):
            from .models import load_trained

            model = load_trained(model)
        # Written so that nan fails each check too (every comparison with nan is False).
        if not (0 < window < math.inf and 0 < stride < math.inf):
            raise UsageError(f"window and stride must be positive numbers of seconds (got {window} s and {stride} s)")
        if stride > window:
            raise UsageError(f"stride ({stride} s) longer than the window ({window} s) would leave frames without "
                             "a prediction")
        if detect_every < 1 or batch_size < 1:
            raise UsageError("detect_every and batch_size must be at least 1")
        if not (0 < crop_scale < math.inf and 0 <= max_gap < math.inf):
            raise UsageError(f"crop_scale must be positive and max_gap not negative (got {crop_scale} and "
                             f"{max_gap} s)")
        if min_track is not None and not 0 <= min_track < math.inf:
            raise UsageError(f"min_track must be a number of seconds, not negative (got {min_track})")
        check_fps(fps)
        evidence = au_evidence_for(model, aus)
        self.evidence = evidence
        self.runner = ModelRunner(model, head, device, evidence, runtime)
        self.runtime = self.runner.runtime.name
        self.model = self.runner.model
        options = dict(detector_options or {})
        if detector == "mtcnn" and options.get("device") is None:
            options["device"] = str(self.runner.device)  # detect where the model runs (a GPU if there is one)
        self.detector = resolve_detector(detector, options)
        self.window = float(window)
        self.stride = float(stride)
        self.whole_frame = getattr(self.detector, "name", "") == "none"
        self.detect_every = 1 if self.whole_frame else int(detect_every)
        self.head = head
        self.align = align
        self.crop_scale = crop_scale
        self.max_gap = max_gap
        self.min_track = min_track
        self.batch_size = batch_size
        self.fps = fps
        self.iou_threshold = iou_threshold

    @property
    def class_names(self) -> list[str]:
        return list(self.model.config.class_labels)

    @property
    def settings(self) -> dict[str, Any]:
        cfg = self.model.config
        return {"model": cfg.name, "head": self.head, "window": self.window, "stride": self.stride,
                "num_frames": cfg.test_num_frames, "num_snippets": cfg.num_snippets,
                "detector": getattr(self.detector, "name", type(self.detector).__name__),
                "detect_every": self.detect_every, "crop_scale": self.crop_scale, "align": self.align,
                "runtime": self.runtime,
                "au_columns": self.au_names,
                "au_calibrated": bool(self.evidence is not None and self.evidence.calibrated)}

    @property
    def au_names(self) -> list[str]:
        """The AU evidence columns (``AU01``, ...); empty when AUs are not scored."""
        return self.evidence.names if self.evidence is not None else []

    # ------------------------------------------------------------------ running
    def predict(self, source: str | os.PathLike[str] | FrameSource, *, on_window: WindowCallback | None = None,
                realtime: bool = False, max_seconds: float | None = None) -> PredictionResult:
        """Predict over one input (video file, frame folder, image, or an opened :class:`FrameSource`).

        ``on_window`` is called with each window's result as soon as it is computed (the model then runs each
        window at once instead of batching); ``realtime`` paces a file at its own frame rate.
        """
        if isinstance(source, FrameSource):
            return self._run(source, on_window)
        with open_source(source, fps=self.fps, realtime=realtime, max_seconds=max_seconds) as src:
            return self._run(src, on_window)

    def predict_live(self, device_or_url: str, *, on_window: WindowCallback | None = None,
                     max_seconds: float | None = None, realtime: bool | None = None) -> PredictionResult:
        """Predict over a live input (camera, stream URL, or a file read at its own frame rate), calling
        ``on_window`` per window as it completes. Ctrl-C ends the input; what was seen is returned."""
        with open_live(device_or_url, realtime=realtime, max_seconds=max_seconds) as src:
            return self._run(src, on_window, interruptible=True)

    def predict_many(self, sources: Iterable[str | os.PathLike[str]]
                     ) -> Iterator[tuple[Path, PredictionResult | DKClipError | OSError]]:
        """Predict over several inputs; a failing one yields its error (naming the file) and the rest go on."""
        for src in sources:
            path = Path(src)
            try:
                yield path, self.predict(path)
            except (DKClipError, OSError) as exc:
                yield path, exc

    def _stream(self) -> WindowStream:
        cfg = self.model.config
        cropper = Cropper(store_size(cfg.image_size), self.crop_scale, self.align, whole_frame=self.whole_frame)
        tracker = Tracker(iou_threshold=self.iou_threshold, max_gap=self.max_gap)
        return WindowStream(self.detector, cropper, num_frames=cfg.test_num_frames, window=self.window,
                            stride=self.stride, detect_every=self.detect_every, short_clip=cfg.short_clip,
                            min_track=self.min_track, tracker=tracker, num_snippets=cfg.num_snippets)

    def _run(self, source: FrameSource, on_window: WindowCallback | None, interruptible: bool = False
             ) -> PredictionResult:
        stream = self._stream()
        results: list[WindowResult] = []
        pending: list[WindowJob] = []
        batch = 1 if on_window is not None else self.batch_size

        def flush(force: bool) -> None:
            while pending and (force or len(pending) >= batch):
                chunk = pending[:batch]
                del pending[:batch]
                done = self.runner(chunk)
                results.extend(done)
                if on_window is not None:
                    for r in done:
                        on_window(r, source.info)

        try:
            for frame in source:
                pending.extend(stream.feed(frame))
                flush(False)
        except KeyboardInterrupt:
            if not interruptible:
                raise
            logger.info("live input stopped (Ctrl-C): finishing the windows seen so far")
        pending.extend(stream.finish())
        flush(True)
        return self._result(source.info, stream, results)

    def _result(self, info: SourceInfo, stream: WindowStream, results: list[WindowResult]) -> PredictionResult:
        names = self.class_names
        cfg = self.model.config
        frames = frames_table(stream.frame_times, stream.kept, results, names, self.au_names)
        windows = windows_table(results, names, cfg.num_snippets, self.au_names)
        faces = face_summaries(frames, names, stream.frame_interval)
        video = describe(info)
        notes = []
        duration = stream.video_end
        if stream.short_video:
            notes.append(f"the video is {duration:.2f} s long, shorter than one {self.window:g} s window: "
                         "predicted over what exists (one window per face)")
        if not faces:
            what = "no face found" if not self.whole_frame else "no frames"
            notes.append(f"{what} in {info.path}" + (f" ({stream.dropped} face tracks shorter than "
                                                     f"{stream.min_track:g} s ignored)" if stream.dropped else ""))
        return PredictionResult(source=info.path, video=video, class_names=names, frames=frames, windows=windows,
                                faces=faces, settings=self.settings, notes=notes, window_results=results,
                                au_names=self.au_names)
