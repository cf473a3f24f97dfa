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
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..model.au_evidence import AUEvidence
    from ..model.dkclip import DKClip
    from ..predict.outputs import WindowResult
    from ..predict.predictor import PredictionResult, Predictor
    from ..predict.sources import SourceInfo

logger = logging.getLogger(__name__)

_VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..predict.defaults import (
        DEFAULT_CROP_SCALE,
        DEFAULT_DETECT_EVERY,
        DEFAULT_MAX_GAP,
        DEFAULT_MIN_FACE_SIZE,
        DEFAULT_STRIDE,
        DEFAULT_THRESHOLD,
        DEFAULT_WINDOW,
        HEADS,
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
                   help="write an annotated video (a file for one input, a folder for several)")
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


# ---------------------------------------------------------------------- model and predictor
def build_model(args: argparse.Namespace) -> DKClip:
    from ..errors import UsageError
    from ..predict.models import DEFAULT_MODEL_WARNING, default_model, zero_shot_model

    if args.zero_shot:
        if args.model:
            raise UsageError("--zero-shot runs CLIP itself: give --clip-weights, not --model")
        if not args.clip_weights:
            raise UsageError("--zero-shot needs --clip-weights FILE (a CLIP checkpoint)")
        return zero_shot_model(args.clip_weights, args.prompts, args.arch)
    if args.clip_weights:
        raise UsageError("--clip-weights is for --zero-shot; a trained model is given with --model")
    if args.model:
        from ..predict.models import load_trained

        return load_trained(args.model)
    print(f"warning: {DEFAULT_MODEL_WARNING}", file=sys.stderr)
    return default_model()


def build_au_evidence(args: argparse.Namespace, model: DKClip) -> AUEvidence | bool:
    """The AU evidence the predictor scores with (see ``--no-aus`` and ``--au-calibration``)."""
    import json

    from ..errors import UsageError
    from ..model.au_evidence import AUEvidence

    if args.no_aus:
        if args.au_calibration:
            raise UsageError("--au-calibration calibrates the AU columns that --no-aus leaves out: give one")
        return False
    default_model = not args.model and not args.zero_shot
    if args.au_calibration is None:
        if default_model:
            from ..predict.models import default_au_evidence

            return default_au_evidence(model)
        return True
    evidence = AUEvidence.from_model(model)
    if args.au_calibration == "synthetic":
        from ..ablation.au_study import synthetic_calibration

        return synthetic_calibration(model, evidence)
    path = Path(args.au_calibration)
    try:
        data = json.loads(path.read_text())
        return evidence.load_calibration(data)
    except FileNotFoundError:
        raise UsageError(f"--au-calibration: no such file: {path}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"--au-calibration: {path}: not JSON (line {exc.lineno}: {exc.msg})") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"--au-calibration: {path}: not an AU calibration ({exc})",
                         hint="write one with dkclip.AUEvidence.calibration() or "
                              "dkclip.ablation.au_study.write_calibration") from None


def build_predictor(args: argparse.Namespace, model: DKClip, device: Any = None) -> Predictor:
    from ..predict.predictor import Predictor

    options = {"max_faces": args.max_faces, "min_face_size": args.min_face_size, "threshold": args.threshold}
    return Predictor(model, detector=args.detector, window=args.window, stride=args.stride,
                     detect_every=args.detect_every, head=args.head, align=args.align, crop_scale=args.crop_scale,
                     max_gap=args.max_gap, min_track=args.min_track, batch_size=args.batch_size,
                     device=device or args.device, fps=args.fps, detector_options=options,
                     aus=build_au_evidence(args, model))


# ---------------------------------------------------------------------- outputs
def output_names(paths: list[Path]) -> list[str]:
    """A distinct folder name per input (its file or folder name without extension; _2, _3 for repeats)."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for p in paths:
        base = p.stem if p.suffix else p.name
        base = base or "input"
        n = seen.get(base, 0) + 1
        seen[base] = n
        names.append(base if n == 1 else f"{base}_{n}")
    return names


def write_result(result: PredictionResult, args: argparse.Namespace, name: str | None) -> None:
    if args.out:
        out = Path(args.out) / name if name else Path(args.out)
        result.save(out, plot=not args.no_plot)
    if args.render:
        target = Path(args.render) / f"{name}.mp4" if name else Path(args.render)
        result.render(target)


def _print_summary(result: PredictionResult, args: argparse.Namespace, seconds: float) -> None:
    if args.quiet:
        return
    n = result.video.get("frames", 0)
    print(result.summary())
    print(f"  ({n} frames in {seconds:.1f} s, {n / max(seconds, 1e-9):.0f} frames/s)")


def live_line(result: WindowResult, info: SourceInfo, class_names: list[str]) -> str:
    """One rolling prediction: window span, face, top classes."""
    j = result.job
    order = result.probs.argsort()[::-1][:3]
    top = " | ".join(f"{class_names[i]} {result.probs[i]:.2f}" for i in order)
    erased = int((~result.kept).sum())
    return (f"[{j.start_time:7.2f}-{j.end_time:7.2f} s] face {j.face_id}: {top}"
            + (f"  ({erased} snippet{'s' if erased != 1 else ''} erased)" if erased else ""))


# ---------------------------------------------------------------------- run
def _run_live(args: argparse.Namespace, predictor: Predictor) -> int:
    names = predictor.class_names

    def on_window(result: WindowResult, info: SourceInfo) -> None:
        print(live_line(result, info, names), flush=True)

    result = predictor.predict_live(args.live, on_window=on_window, max_seconds=args.max_seconds)
    if not args.quiet:
        print(result.summary())
    write_result(result, args, None)
    return 0


def _run_batch(args: argparse.Namespace, predictor: Predictor, paths: list[Path], names: list[str | None],
               rank: int = 0, world: int = 1) -> list[dict[str, Any]]:
    from ..errors import DKClipError

    rows = []
    for i in range(rank, len(paths), world):
        path, name = paths[i], names[i]
        row: dict[str, Any] = {"input": str(path), "output": name or "", "status": "ok", "faces": 0, "windows": 0,
                               "error": ""}
        start = time.perf_counter()
        try:
            result = predictor.predict(path)
            write_result(result, args, name)
        except (DKClipError, OSError) as exc:
            message = str(exc).strip() or type(exc).__name__
            if isinstance(exc, OSError) and exc.filename is not None and str(exc.filename) not in message:
                message = f"{message}: {exc.filename}"
            if len(paths) == 1:
                raise
            print(f"dkclip predict: error: {message} (skipped)", file=sys.stderr, flush=True)
            row.update(status="failed", error=message)
        else:
            _print_summary(result, args, time.perf_counter() - start)
            row.update(faces=result.num_faces, windows=len(result.windows))
        rows.append((i, row))
    return [r for _, r in sorted(rows, key=lambda x: x[0])]


def run(args: argparse.Namespace) -> int:
    import os

    from ..errors import UsageError
    from ..predict.sources import expand_inputs

    if args.live and args.inputs:
        raise UsageError("--live reads one live input: give it without INPUT files")
    if not args.live and not args.inputs:
        raise UsageError("name at least one INPUT (video, frame folder, image, directory or list file), or --live")
    if args.live:
        model = build_model(args)
        return _run_live(args, build_predictor(args, model))

    paths = expand_inputs(args.inputs)
    if not paths:
        raise UsageError(f"no videos, frame folders or images found in {' '.join(args.inputs)}")
    several = len(paths) > 1
    if several and args.render and Path(args.render).suffix.lower() in _VIDEO_SUFFIXES:
        raise UsageError(f"--render {args.render}: with {len(paths)} inputs, --render names a folder")
    names: list[str | None] = list(output_names(paths)) if several else [None]

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        return _run_distributed(args, paths, names)
    predictor = build_predictor(args, build_model(args))
    rows = _run_batch(args, predictor, paths, names)
    return _finish(args, rows, several)


def _run_distributed(args: argparse.Namespace, paths: list[Path], names: list[str | None]) -> int:
    import torch.distributed as dist

    from ..engine.distributed import cleanup, init_distributed

    info = init_distributed(args.device or "auto")
    try:
        predictor = build_predictor(args, build_model(args), device=info.device)
        rows = _run_batch(args, predictor, paths, names, info.rank, info.world_size)
        gathered: list[Any] = [None] * info.world_size
        dist.all_gather_object(gathered, rows)
        merged = sorted((r for part in gathered for r in part), key=lambda r: paths.index(Path(r["input"])))
        if info.is_main:
            return _finish(args, merged, len(paths) > 1)
        return 1 if any(r["status"] != "ok" for r in merged) else 0
    finally:
        cleanup()


def _finish(args: argparse.Namespace, rows: list[dict[str, Any]], several: bool) -> int:
    failed = [r for r in rows if r["status"] != "ok"]
    if several and args.out:
        import csv
        import io

        from ..fileio import atomic_write_text

        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=["input", "output", "status", "faces", "windows", "error"])
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(Path(args.out) / "index.csv", text.getvalue())
    if failed:
        print(f"dkclip predict: {len(failed)} of {len(rows)} inputs failed: "
              f"{', '.join(Path(r['input']).name for r in failed)}", file=sys.stderr)
        return 1
    return 0
