"""``dkclip evaluate MODEL``: full-set UAR/WAR, per-class recall and confusion matrices of a trained model."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained model on a list file")
    p.add_argument("model", help="a run directory, its best/ directory, or a last.pt checkpoint; with "
                                 "--zero-shot, a model name (e.g. dkclip-tiny)")
    p.add_argument("--config", default=None,
                   help="config for the data settings (default: the run's config.yaml when MODEL is in a run)")
    p.add_argument("--list", dest="list_file", default=None, help="list file to evaluate (default: data.test_list)")
    p.add_argument("--frames", type=int, default=None,
                   help="frames per clip (default: the model's own test T, from its config)")
    p.add_argument("--clips", type=int, default=None, help="temporal views per clip (multi-view test)")
    p.add_argument("--crops", type=int, choices=(1, 3), default=None, help="spatial crops per view")
    p.add_argument("--out", default=None, help="output directory (default: RUN/eval-<list name>, or "
                                               "./eval-<list name> for a model outside a run; with --zero-shot, "
                                               "./zero-shot-<list name>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    zs = p.add_argument_group("zero-shot (no training: frame-averaged CLIP features against prompt sets)")
    zs.add_argument("--zero-shot", action="store_true", help="evaluate CLIP zero-shot with the Table 6 prompt sets")
    zs.add_argument("--pretrained", default=None, help="a registered weights tag of the model (e.g. synthclip)")
    zs.add_argument("--clip-weights", default=None,
                    help="a local CLIP checkpoint ('default' is a deprecated alias of the model's shipped weights)")
    zs.add_argument("--trust-torchscript", action="store_true",
                    help="read a TorchScript --clip-weights archive with torch.jit.load, which runs code from the "
                         "file (default: read as data only)")
    zs.add_argument("--prompt-sets", default=None,
                    help="comma-separated prompt sets (default: <set>_classnames, <set>_paper, <set>, <set>_and)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..engine.run_config import load_config

    model_path = Path(args.model)
    config = args.config
    if config is None and not args.zero_shot:
        for candidate in (model_path / "config.yaml", model_path.parent / "config.yaml"):
            if candidate.is_file():
                config = candidate
                break
    overrides = list(args.overrides)
    if args.clips is not None:
        overrides.append(f"eval.num_clips={args.clips}")
    if args.crops is not None:
        overrides.append(f"eval.num_crops={args.crops}")
    cfg = load_config(config, overrides)
    if args.config is None and config is not None:
        from ..engine.rundir import rebase_relative_paths

        # A run saved before its paths were made absolute: find its data where it was trained from.
        for moved in rebase_relative_paths(cfg, Path(config).parent):
            logger.info("relative path of the run's config found from the directory it was started in: %s", moved)
    if args.zero_shot:
        from ..tasks.zero_shot import zero_shot

        sets = args.prompt_sets.split(",") if args.prompt_sets else None
        zero_shot(args.model, args.clip_weights, cfg, args.list_file, sets, args.out, pretrained=args.pretrained,
                  trust_torchscript=args.trust_torchscript or cfg.model.trust_torchscript)
        return 0
    from ..tasks.evaluate import evaluate

    evaluate(model_path, cfg, args.list_file, args.out, num_frames=args.frames)
    return 0
