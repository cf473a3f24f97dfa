"""``dkclip train CONFIG [--set key=value ...] [--resume RUN]``: the paper's recipe, one command per fold.

Runs single-process on CPU or GPU, and unchanged under ``torchrun --nproc_per_node=N`` (DDP when WORLD_SIZE > 1).
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a DK-CLIP model (also under torchrun)")
    p.add_argument("config", nargs="?", default=None,
                   help="a shipped config name (see --list-configs) or a YAML path; not needed with --resume")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="dotted override, e.g. --set optim.lr=2e-6 (repeatable)")
    p.add_argument("--resume", default=None, metavar="RUN", help="continue a run (its directory or last.pt)")
    p.add_argument("--list-configs", action="store_true", help="print the shipped configs and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..engine.config import list_configs, load_config
    from ..engine.trainer import resolve_resume, train
    from ..errors import UsageError

    if args.list_configs:
        print("\n".join(list_configs()))
        return 0
    if args.resume:
        if args.config is not None:
            raise UsageError("--resume continues a run with its own saved config; drop CONFIG (run-control "
                             "settings such as run.max_steps or data.workers can still be changed with --set)")
        run_dir, _ = resolve_resume(args.resume)
        cfg = load_config(run_dir / "config.yaml", args.overrides)
        name = run_dir.name
    else:
        if args.config is None:
            raise UsageError("give a config name or path (or --resume RUN); --list-configs shows the shipped ones")
        cfg = load_config(args.config, args.overrides)
        name = str(args.config).rsplit("/", 1)[-1].removesuffix(".yaml")
    train(cfg, config_name=name, resume=args.resume)
    return 0
