"""``dkclip demo``: the main job on the embedded default, end to end on the CPU.

1. synthesises the default synthetic FACS face-video dataset (``dkclip synth``; reused when already there),
2. trains ``dkclip-tiny`` with the ``synthetic_tiny`` config on fold 1,
3. evaluates on the held-out identities of fold 1 and prints the per-class / UAR / WAR table and the run
   directory (config, checkpoints, metrics, confusion matrix PNG),
4. renders one synthetic multi-face scene (640×360, faces that move, enter and leave) and runs
   ``dkclip predict`` on it with the model just trained (MTCNN, tracking, windows), printing the per-face
   summary and where the timeline picture is.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TypedDict

logger = logging.getLogger(__name__)

DEFAULT_DATA = "data/synth"


class _SynthArgs(TypedDict):
    num_classes: int
    clips_per_class: int
    seed: int
    frames: tuple[int, int]
    folds: int


# The dataset the demo trains on: the generator's defaults, fixed here so the demo is reproducible.
SYNTH_ARGS: _SynthArgs = {"num_classes": 7, "clips_per_class": 20, "seed": 0, "frames": (16, 48), "folds": 5}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="synthesise data, train dkclip-tiny on the CPU and evaluate (the main job)")
    p.add_argument("--data", default=DEFAULT_DATA, help=f"synthetic dataset folder (default {DEFAULT_DATA})")
    p.add_argument("--output-dir", default="runs", help="where the run directory goes (default runs/)")
    p.add_argument("--fold", type=int, default=1, help="fold to hold out (default 1)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override the synthetic_tiny config, e.g. --set schedule.epochs=2")
    p.set_defaults(func=run)


def ensure_dataset(root: Path) -> None:
    """Generate the demo dataset into ``root``, or reuse it when ``root`` already holds exactly that dataset.

    A folder holding anything else is never overwritten: the demo stops and says so.
    """
    from ..errors import UsageError
    from ..synth import GENERATOR_VERSION, generate_dataset

    meta_file = root / "meta.json"
    if meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        found = (meta.get("generator_version"), meta.get("seed"), meta.get("num_classes"),
                 meta.get("counts", {}).get("clips_per_class", [None])[0], meta.get("frames_per_clip"),
                 meta.get("folds"))
        wanted = (GENERATOR_VERSION, SYNTH_ARGS["seed"], SYNTH_ARGS["num_classes"], SYNTH_ARGS["clips_per_class"],
                  list(SYNTH_ARGS["frames"]), SYNTH_ARGS["folds"])
        if found == wanted:
            logger.info("reusing the synthetic dataset in %s", root)
            return
        raise UsageError(f"{root} holds another synthetic dataset ({meta_file})",
                         hint="pass --data to use another folder, or delete it to regenerate the demo dataset")
    if root.exists() and any(root.iterdir()):
        raise UsageError(f"{root} is not empty and holds no synthetic dataset", hint="pass --data DIR")
    logger.info("synthesising the demo dataset in %s", root)
    generate_dataset(root, overwrite=True, **SYNTH_ARGS)


# The scene of step 4 (dkclip.synth.scenes): 6 s at 30 fps, two people, each with their own expressions.
DEMO_SCENE = {"seed": 3, "index": 0, "num_faces": 2, "seconds": 6.0}


def predict_scene(run_dir: Path) -> Path:
    """Step 4: ``dkclip predict`` with the trained model on one synthetic scene, through the command's own code
    (the same parser and run function as on the command line). Writes into ``run_dir/predict``; returns the
    timeline picture."""
    from ..synth.scenes import SceneSpec, write_scene
    from . import predict as predict_command

    out = run_dir / "predict"
    out.mkdir(parents=True, exist_ok=True)
    spec = SceneSpec(scene_id="scene", seed=int(DEMO_SCENE["seed"]), index=int(DEMO_SCENE["index"]),
                     num_faces=int(DEMO_SCENE["num_faces"]), num_frames=round(30 * DEMO_SCENE["seconds"]), fps=30)
    write_scene(spec, out)
    video = out / "scene.mp4"
    # The model was trained on synthetic faces only: its AU columns are calibrated on rendered ones.
    argv = [str(video), "--model", str(run_dir), "--out", str(out), "--au-calibration", "synthetic"]
    parser = argparse.ArgumentParser(prog="dkclip")
    predict_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["predict", *argv])
    print(f"\n$ dkclip predict {' '.join(argv)}", flush=True)
    code = args.func(args)
    if code != 0:
        from ..errors import PredictionError

        raise PredictionError(f"dkclip predict failed on the demo scene {video}")
    truth = json.loads((out / "scene.json").read_text())
    for face in truth["faces"]:
        segments = ", ".join(f"{ep['class_name']} {ep['start'] / 30:.1f}-{ep['end'] / 30:.1f} s"
                             for ep in face["episodes"])
        print(f"  truth (scene.json), person {face['face'] + 1}: {segments} (each episode starts and ends neutral)")
    timeline = out / "timeline.png"
    print(f"timeline: {timeline}")
    print(f"action units (AU01...AU26 columns of frames.csv, calibrated on rendered faces): {out / 'aus.png'}")
    return timeline


def run(args: argparse.Namespace) -> int:
    from ..engine.run_config import load_config
    from ..engine.trainer import train

    root = Path(args.data)
    ensure_dataset(root)
    overrides = [
        f"data.root={root}",
        f"data.train_list={root / f'set_{args.fold}_train.txt'}",
        f"data.test_list={root / f'set_{args.fold}_test.txt'}",
        f"run.output_dir={args.output_dir}",
        *args.overrides,
    ]
    cfg = load_config("synthetic_tiny", overrides)
    run_dir = train(cfg, config_name="demo")
    predict_scene(run_dir)
    return 0
