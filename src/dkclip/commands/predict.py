"""``dkclip predict INPUT... --model MODEL``: who shows which expression when, in any video.

Prints a per-face summary for every input and, with ``--out``, writes ``frames.csv``, ``windows.csv``,
``windows.json`` and ``timeline.png`` (one sub-folder per input when there are several, plus ``index.csv``);
``--render`` writes an annotated copy of the video. ``--live`` reads a camera or stream and prints a rolling
prediction per window.

Inputs are videos, frame folders, images, directories (searched recursively) and list files. In a batch, an
input that cannot be read is reported by name and skipped; the exit code is then 1. Under torchrun each rank
takes its share of the inputs and rank 0 writes the merged index.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..predict.batch import InputReport
    from ..predict.models import ModelChoice
    from ..predict.outputs import WindowResult
    from ..predict.predictor import PredictionResult, Predictor
    from ..predict.sources import SourceInfo


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..predict.defaults import (
        DEFAULT_CROP_SCALE,
        DEFAULT_DETECT_EVERY,
        DEFAULT_MAX_GAP,
        DEFAULT_MIN_FACE_SIZE,
        DEFAULT_RUNTIME,
        DEFAULT_STRIDE,
        DEFAULT_THRESHOLD,
        DEFAULT_WINDOW,
        HEADS,
        RUNTIMES,
    )

    p = sub.add_parser("predict", help="predict expressions over time in videos (faces detected and tracked)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="video files, frame folders, images, directories (searched recursively) or list files")
    m = p.add_argument_group("model (default: the shipped dkclip-tiny, synthetic faces only)")
    m.add_argument("--model", default=None, help="a trained model: export folder, run directory, best/ or last.pt")
    m.add_argument("--zero-shot", action="store_true", help="CLIP zero-shot with AU prompts (needs --clip-weights)")
    m.add_argument("--clip-weights", default=None, help="CLIP weights file for --zero-shot")
    m.add_argument("--prompts", default="dfew", help="prompt set for --zero-shot: dfew, mafw, ... or an id,name CSV")
    m.add_argument("--arch", default=None, help="model architecture of --clip-weights (default: recognised)")
    m.add_argument("--head", choices=HEADS, default="global",
                   help="global (default, the paper's), local (NRM-fused snippets) or fused (their mean)")
    m.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when available)")
    m.add_argument("--batch-size", type=int, default=8, help="windows per forward pass (default 8)")
    m.add_argument("--runtime", choices=RUNTIMES, default=DEFAULT_RUNTIME,
                   help="torch (default, exact), torch-int8 (int8 video encoder, CPU, faster, approximate) or onnx "
                        "(ONNX Runtime, CPU); a --model FILE.onnx (dkclip export --onnx) always runs in ONNX Runtime")
    f = p.add_argument_group("faces")
    f.add_argument("--detector", default="mtcnn", help="mtcnn (default) or none (frames already are face crops)")
    f.add_argument("--detect-every", type=int, default=DEFAULT_DETECT_EVERY,
                   help=f"detect on every k-th frame, interpolate between (default {DEFAULT_DETECT_EVERY})")
    f.add_argument("--max-faces", type=int, default=None, help="at most this many faces per frame (largest first)")
    f.add_argument("--min-face-size", type=int, default=None,
                   help=f"smallest face the detector looks for, in pixels (default {DEFAULT_MIN_FACE_SIZE} for "
                        "mtcnn; larger is faster)")
    f.add_argument("--threshold", type=float, default=None,
                   help=f"detection confidence threshold (default {DEFAULT_THRESHOLD} for mtcnn)")
    f.add_argument("--align", action="store_true", help="level the eyes of every crop (5-point landmarks)")
    f.add_argument("--crop-scale", type=float, default=DEFAULT_CROP_SCALE,
                   help=f"crop side / face box side (default {DEFAULT_CROP_SCALE}: DFEW-like framing)")
    f.add_argument("--max-gap", type=float, default=DEFAULT_MAX_GAP,
                   help=f"bridge detection misses up to this many seconds (default {DEFAULT_MAX_GAP})")
    f.add_argument("--min-track", type=float, default=None,
                   help="ignore faces tracked for less than this many seconds (default: one window)")
    w = p.add_argument_group("windows")
    w.add_argument("--window", type=float, default=DEFAULT_WINDOW, help=f"seconds (default {DEFAULT_WINDOW})")
    w.add_argument("--stride", type=float, default=DEFAULT_STRIDE, help=f"seconds (default {DEFAULT_STRIDE})")
    w.add_argument("--fps", type=float, default=None, help="frame rate of frame folders and images (default 25)")
    o = p.add_argument_group("outputs")
    o.add_argument("--out", default=None, help="folder for frames.csv, windows.csv, windows.json, timeline.png")
    o.add_argument("--no-plot", action="store_true", help="skip timeline.png")
    o.add_argument("--render", default=None,
                   help="write an annotated video: a file (.mp4, .mov, .mkv, ...) for one input, or a folder "
                        "(<input name>.mp4 inside; one per input for several)")
    o.add_argument("--overwrite", action="store_true",
                   help="replace results of another input in --out (or a --render file); by default they are kept "
                        "and the run is refused")
    o.add_argument("--quiet", action="store_true", help="no per-face summaries")
    a = p.add_argument_group("action units (AU01, AU02, ... columns in frames.csv and windows.csv)")
    a.add_argument("--no-aus", action="store_true", help="leave out the action-unit evidence columns")
    a.add_argument("--au-calibration", default=None, metavar="FILE|synthetic",
                   help="where 0 falls: a JSON file (dkclip.AUEvidence.calibration()), or 'synthetic' to "
                        "calibrate on rendered synthetic faces now (meaningful for models of synthetic faces "
                        "only). Default: the shipped calibration for the default model, none (raw evidence: "
                        "0 = as well described as a neutral face) for any other")
    lv = p.add_argument_group("live")
    lv.add_argument("--live", default=None, metavar="DEVICE_OR_URL",
                    help="a camera (/dev/video0, 0) or stream URL; a file is read at its own frame rate")
    lv.add_argument("--max-seconds", type=float, default=None, help="stop a live input after this much video")
    p.set_defaults(func=run)


# ---------------------------------------------------------------------- from arguments to the library
def model_choice(args: argparse.Namespace) -> ModelChoice:
    from ..predict.models import ModelChoice

    return ModelChoice(model=args.model, zero_shot=args.zero_shot, clip_weights=args.clip_weights,
                       prompts=args.prompts, arch=args.arch)


def au_setting(args: argparse.Namespace) -> bool | str:
    """What ``--no-aus`` / ``--au-calibration`` ask for (decided by dkclip.predict.au_calibration.au_evidence_for)."""
    from ..errors import UsageError

    if args.no_aus:
        if args.au_calibration:
            raise UsageError("--au-calibration calibrates the AU columns that --no-aus leaves out: give one")
        return False
    return args.au_calibration if args.au_calibration is not None else True


def build_predictor(args: argparse.Namespace, choice: ModelChoice, device: Any = None) -> Predictor:
    from ..factory import is_onnx_file
    from ..predict.predictor import Predictor

    options = {"max_faces": args.max_faces, "min_face_size": args.min_face_size, "threshold": args.threshold}
    choice.check()
    # An ONNX video model (dkclip export --onnx) is opened by the Predictor itself; ModelChoice builds PyTorch ones.
    onnx_file = bool(choice.model and is_onnx_file(choice.model))
    model = choice.model if onnx_file else choice.build()
    return Predictor(model, detector=args.detector, window=args.window, stride=args.stride,
                     detect_every=args.detect_every, head=args.head, align=args.align, crop_scale=args.crop_scale,
                     max_gap=args.max_gap, min_track=args.min_track, batch_size=args.batch_size,
                     device=device or args.device, fps=args.fps, detector_options=options, aus=au_setting(args),
                     runtime=args.runtime)


# ---------------------------------------------------------------------- printing
def live_line(result: WindowResult, info: SourceInfo, class_names: list[str]) -> str:
    """One rolling prediction: window span, face, top classes."""
    j = result.job
    order = result.probs.argsort()[::-1][:3]
    top = " | ".join(f"{class_names[i]} {result.probs[i]:.2f}" for i in order)
    erased = int((~result.kept).sum())
    return (f"[{j.start_time:7.2f}-{j.end_time:7.2f} s] face {j.face_id}: {top}"
            + (f"  ({erased} snippet{'s' if erased != 1 else ''} erased)" if erased else ""))


def _print_summary(result: PredictionResult, seconds: float) -> None:
    n = result.video.get("frames", 0)
    print(result.summary())
    print(f"  ({n} frames in {seconds:.1f} s, {n / max(seconds, 1e-9):.0f} frames/s)")


def _print_failure(report: InputReport) -> None:
    print(f"dkclip predict: error: {report.error} (skipped)", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- run
def run(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from ..predict.batch import BatchInterrupted, predict_inputs
    from ..predict.models import DEFAULT_MODEL_WARNING
    from ..predict.runtime import resolve_device

    if args.live and args.inputs:
        raise UsageError("--live reads one live input: give it without INPUT files")
    if not args.live and not args.inputs:
        raise UsageError("name at least one INPUT (video, frame folder, image, directory or list file), or --live")
    choice = model_choice(args)
    choice.check()
    au_setting(args)
    resolve_device(args.device)  # an unusable --device fails now, before a model is loaded
    if choice.is_default:
        print(f"warning: {DEFAULT_MODEL_WARNING}", file=sys.stderr)
    if args.live:
        return _run_live(args, choice)
    try:
        outcome = predict_inputs(lambda device: build_predictor(args, choice, device), args.inputs, out=args.out,
                                 plot=not args.no_plot, render=args.render, overwrite=args.overwrite,
                                 device=args.device, on_result=None if args.quiet else _print_summary,
                                 on_failure=_print_failure)
    except BatchInterrupted as stop:
        print(f"dkclip predict: {stop.message}", file=sys.stderr)
        return stop.exit_code
    failed = outcome.failed
    if failed and outcome.is_main:
        print(f"dkclip predict: {len(failed)} of {len(outcome.reports)} inputs failed: "
              f"{', '.join(Path(r.input).name for r in failed)}", file=sys.stderr)
    return 1 if failed else 0


def _run_live(args: argparse.Namespace, choice: ModelChoice) -> int:
    """A camera or stream: one rolling line per window; Ctrl-C or SIGTERM ends the input, and what was seen is
    summarised and written."""
    from ..predict.output_folder import check_replace, save_result

    out = Path(args.out) if args.out else None
    check_replace(args.live, out, Path(args.render) if args.render else None, args.overwrite)
    predictor = build_predictor(args, choice)
    names = predictor.class_names
    result = predictor.predict_live(args.live, on_window=lambda r, info: print(live_line(r, info, names), flush=True),
                                    max_seconds=args.max_seconds)
    if not args.quiet:
        print(result.summary())
    save_result(result, out, plot=not args.no_plot, render=args.render, overwrite=args.overwrite)
    return 0
