"""``dkclip synth``: write the synthetic FACS face-video dataset (and/or its sample strip), or with ``--scenes``
multi-face scene videos with per-frame, per-face ground truth (for ``dkclip predict``)."""

from __future__ import annotations

import argparse
import sys


def _range(text: str, kind: type = float) -> tuple:
    """"A" or "A-B" (also "A,B") → (A, B)."""
    parts = text.replace(",", "-").split("-") if "-" in text.lstrip("-") or "," in text else [text]
    try:
        vals = tuple(kind(p) for p in parts if p != "")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or a range MIN-MAX, got {text!r}") from None
    if len(vals) == 1:
        vals = (vals[0], vals[0])
    if len(vals) != 2 or vals[0] > vals[1]:
        raise argparse.ArgumentTypeError(f"expected a number or a range MIN-MAX with MIN ≤ MAX, got {text!r}")
    return vals


def _int_range(text: str) -> tuple:
    return _range(text, int)


def _frame_size(text: str) -> tuple[int, int]:
    """"WxH" (also "W×H" or "W,H") → (W, H)."""
    parts = text.lower().replace("×", "x").replace(",", "x").split("x")
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a frame size WIDTHxHEIGHT such as 640x360, got {text!r}") from None
    return width, height


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth", help="generate the synthetic FACS face-video dataset",
        description="Procedurally drawn, AU-driven face videos in the DFEW layout (frame folders or mp4, "
                    "set_{k}_{train,test}.txt lists, prompts.csv, per-frame JSON ground truth, meta.json). "
                    "The same arguments always produce byte-identical files.")
    p.add_argument("--out", help="output directory (created; must be empty unless --overwrite)")
    p.add_argument("--classes", type=int, choices=(7, 11), default=7, help="7 basic (DFEW order) or 11 MAFW-like")
    p.add_argument("--clips-per-class", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--frames", type=_int_range, default=(16, 48), metavar="F|MIN-MAX",
                   help="frames per clip, fixed or a random range (default 16-48)")
    p.add_argument("--size", type=int, default=112, help="frame size in pixels (default 112)")
    p.add_argument("--preset", choices=("aligned", "wild"), default="aligned",
                   help="aligned: face-detector crops (default); wild: clutter, pose drift, lighting")
    p.add_argument("--folds", type=int, default=5, help="identity-disjoint folds (default 5)")
    p.add_argument("--identities", type=int, default=None, help="number of identities (default: ~4 clips each)")
    p.add_argument("--format", dest="fmt", choices=("frames", "mp4"), default="frames")
    p.add_argument("--workers", type=int, default=1, help="worker processes (output does not depend on it)")
    p.add_argument("--overwrite", action="store_true", help="replace a dataset already in --out")
    g = p.add_argument_group("noise (paper's noisy frames)")
    g.add_argument("--noise-clips", type=float, default=None, help="fraction of clips with noise runs (0.6)")
    g.add_argument("--noise-fraction", type=_range, default=None, metavar="F|MIN-MAX",
                   help="fraction of a noisy clip's frames that are noisy (0.25-0.5); 0 disables noise")
    g.add_argument("--noise-kinds", default=None, help="comma list of expression,occlusion,blur,dark (all)")
    g = p.add_argument_group("nuisance knobs (override the preset)")
    g.add_argument("--background", choices=("plain", "busy"), default=None)
    g.add_argument("--face-scale", type=_range, default=None, metavar="F|MIN-MAX", help="1.0 = detector crop")
    g.add_argument("--offset", type=float, default=None, help="static face offset range, fraction of frame")
    g.add_argument("--translation", type=float, default=None, help="pose drift amplitude, fraction of frame")
    g.add_argument("--rotation", type=float, default=None, help="in-plane rotation drift, degrees")
    g.add_argument("--scale-drift", type=float, default=None, help="relative scale drift")
    g.add_argument("--lighting", type=float, default=None, help="lighting variation strength 0..1")
    g.add_argument("--accessories", type=float, default=None, help="accessory probability scale")
    g.add_argument("--supersample", type=int, default=None, help="drawing supersampling factor (2)")
    g.add_argument("--jpeg-quality", type=int, default=None)
    g = p.add_argument_group(
        "multi-face scenes", "with --scenes N, write N scene videos (scene_XXX.mp4 + scene_XXX.json truth, meta.json) "
        "instead of the dataset; --seed, --classes, --workers, --overwrite, the noise flags, --background, "
        "--lighting, --accessories and --supersample apply to them too")
    g.add_argument("--scenes", type=int, default=None, metavar="N", help="number of scenes to write to --out")
    g.add_argument("--scene-size", type=_frame_size, default=(640, 360), metavar="WxH",
                   help="scene frame size (default 640x360)")
    g.add_argument("--scene-seconds", type=float, default=4.0, help="scene length in seconds (default 4)")
    g.add_argument("--scene-fps", type=int, default=30, help="scene frame rate (default 30)")
    g.add_argument("--max-faces", type=int, default=3, help="each scene shows 1..MAX faces (default 3)")
    g.add_argument("--allow-crossing", action="store_true",
                   help="let faces walk across each other (default: every face keeps its own lane)")
    g = p.add_argument_group("sample strip")
    g.add_argument("--strip", default=None, metavar="PNG", help="also write a strip of sample frames")
    g.add_argument("--strip-columns", type=int, default=6)
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace):
    from ..synth import preset_config

    kinds = None
    if args.noise_kinds is not None:
        kinds = tuple(k.strip() for k in args.noise_kinds.split(",") if k.strip())
    return preset_config(
        args.preset, size=args.size, noise_clips=args.noise_clips, noise_fraction=args.noise_fraction,
        noise_kinds=kinds, background=args.background, face_scale=args.face_scale, offset=args.offset,
        translation=args.translation, rotation=args.rotation, scale_drift=args.scale_drift,
        lighting=args.lighting, accessories=args.accessories, supersample=args.supersample,
        jpeg_quality=args.jpeg_quality,
    )


def run(args: argparse.Namespace) -> int:
    from ..errors import UsageError
    from ..synth import generate_dataset, make_strip

    if args.scenes is not None:
        return run_scenes(args)
    if args.out is None and args.strip is None:
        raise UsageError("give --out DIR (dataset) and/or --strip PNG")
    try:
        cfg = config_from_args(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.strip is not None:
        make_strip(args.strip, num_classes=args.classes, columns=args.strip_columns, seed=args.seed, config=cfg)
        print(f"wrote sample strip {args.strip}")
    if args.out is None:
        return 0

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty() and (done == total or done % 10 == 0):
            print(f"\r{done}/{total} clips", end="\n" if done == total else "", file=sys.stderr, flush=True)

    try:
        meta = generate_dataset(args.out, num_classes=args.classes, clips_per_class=args.clips_per_class,
                                seed=args.seed, frames=args.frames, folds=args.folds, identities=args.identities,
                                fmt=args.fmt, workers=args.workers, config=cfg, overwrite=args.overwrite,
                                progress=progress)
    except (ValueError, FileExistsError) as exc:
        raise UsageError(str(exc)) from None
    c = meta["counts"]
    print(f"wrote {c['clips']} clips ({c['frames']} frames, {meta['num_classes']} classes, {meta['identities']} "
          f"identities, {meta['folds']} folds) to {args.out} in {meta['seconds']:.1f} s "
          f"({meta['frames_per_s']:.0f} frames/s); {c['clips_with_quarter_noisy']} clips have ≥1/4 noisy frames")
    return 0


def run_scenes(args: argparse.Namespace) -> int:
    """``--scenes N``: write multi-face scene videos and their truth instead of the clip dataset."""
    from ..errors import UsageError
    from ..synth.scenes import generate_scenes

    if args.out is None:
        raise UsageError("--scenes needs --out DIR")
    if args.scene_seconds <= 0:
        raise UsageError(f"--scene-seconds must be positive, got {args.scene_seconds}")
    options = {"num_classes": args.classes, "allow_crossing": args.allow_crossing}
    if args.noise_kinds is not None:
        options["noise_kinds"] = tuple(k.strip() for k in args.noise_kinds.split(",") if k.strip())
    flags = {"noise_fraction": args.noise_fraction, "noise_episodes": args.noise_clips, "background": args.background,
             "lighting": args.lighting, "accessories": args.accessories, "supersample": args.supersample}
    options.update({k: v for k, v in flags.items() if v is not None})
    width, height = args.scene_size

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\r{done}/{total} scenes", end="\n" if done == total else "", file=sys.stderr, flush=True)

    try:
        meta = generate_scenes(args.out, args.scenes, seed=args.seed, width=width, height=height,
                               seconds=args.scene_seconds, fps=args.scene_fps, max_faces=args.max_faces,
                               workers=args.workers, overwrite=args.overwrite, progress=progress, **options)
    except (ValueError, FileExistsError) as exc:
        raise UsageError(str(exc)) from None
    c = meta["counts"]
    print(f"wrote {meta['num_scenes']} scenes ({c['frames']} frames of {width}×{height} at {meta['fps']} fps, "
          f"{c['faces']} faces, {c['face_frames']} face views) to {args.out} in {meta['seconds']:.1f} s "
          f"({meta['frames_per_s']:.0f} frames/s)")
    return 0
