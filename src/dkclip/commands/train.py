"""``dkclip train CONFIG [--set key=value ...] [--resume RUN]``: the paper's recipe, one command per fold.

Runs single-process on CPU or GPU, and unchanged under ``torchrun --nproc_per_node=N`` (DDP when WORLD_SIZE > 1).
"""

from __future__ import annotations

import argparse

from ..engine.protocols import PROTOCOLS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a DK-CLIP model (also under torchrun)", epilog=SET_SYNTAX,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", default=None,
                   help="a shipped config name (see --list-configs) or a YAML path; not needed with --resume")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="dotted override, e.g. --set optim.lr=2e-6 (repeatable; lists: see below)")
    p.add_argument("--protocol", choices=sorted(PROTOCOLS), default=None,
                   help="evaluation preset, set after CONFIG and before --set (recorded as eval.protocol): "
                        + "; ".join(f"{proto.name}: {proto.summary}" for proto in PROTOCOLS.values()))
    p.add_argument("--resume", default=None, metavar="RUN", help="continue a run (its directory or last.pt)")
    p.add_argument("--list-configs", action="store_true", help="print the shipped configs and exit")
    p.add_argument("--keep-only-best", action="store_true",
                   help="when the run finishes, keep only best/ (remove last.pt and its optimiser state); the same "
                        "as --set run.keep=best")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved config (YAML, every key with its description) and exit")
    p.add_argument("--dry-run", action="store_true",
                   help="build model and data, time two training iterations and one evaluation batch, report "
                        "peak memory and time per step, and exit without leaving a run directory")
    p.set_defaults(func=run)


SET_SYNTAX = """\
--set KEY=VALUE: KEY is section.key (dkclip train CONFIG --print-config lists every key with its meaning);
VALUE is read as YAML: 2e-6, 8, true, null, a string. A list is written [1,0.875,0.75] (quote it if it holds
spaces), or comma-separated 1,0.875,0.75, or as one item:
  --set augment.crop_scales=1,0.875,0.75   --set data.rewrites=/old/DFEW=/data/DFEW   --set loss.active_epochs=0,14
"""


def run(args: argparse.Namespace) -> int:
    from ..engine.run_config import list_configs, load_config
    from ..engine.trainer import resolve_resume, train
    from ..errors import UsageError

    if args.list_configs:
        print("\n".join(list_configs()))
        return 0
    if args.keep_only_best:
        args.overrides = [*args.overrides, "run.keep=best"]
    if args.resume:
        if args.config is not None:
            raise UsageError("--resume continues a run with its own saved config; drop CONFIG (run-control "
                             "settings such as run.max_steps or data.workers can still be changed with --set)")
        if args.protocol is not None:
            raise UsageError("--resume keeps the run's own protocol (eval.protocol in its config.yaml); drop "
                             "--protocol")
        run_dir, _ = resolve_resume(args.resume)
        cfg = load_config(run_dir / "config.yaml", args.overrides)
        name = run_dir.name
    else:
        if args.config is None:
            raise UsageError("give a config name or path (or --resume RUN); --list-configs shows the shipped ones")
        cfg = load_config(args.config, args.overrides, protocol=args.protocol)
        name = str(args.config).rsplit("/", 1)[-1].removesuffix(".yaml")
    if args.print_config:
        from ..engine.run_config import format_config
        from ..engine.rundir import with_absolute_paths

        source = f"--resume {args.resume}" if args.resume else str(args.config)
        print(format_config(with_absolute_paths(cfg), f"dkclip train {source}: the resolved config (paths made "
                                                      "absolute, as the run saves it)"), end="")
        return 0
    if args.dry_run:
        from ..engine.dryrun import dry_run

        print(dry_run(cfg).summary())
        return 0
    train(cfg, config_name=name, resume=args.resume)
    return 0
