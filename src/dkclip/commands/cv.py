"""``dkclip cv CONFIG --folds 1-5``: k-fold training and the paper-style mean ± std table."""

from __future__ import annotations

import argparse

from ..engine.protocols import PROTOCOLS


def parse_folds(text: str) -> list[int]:
    """'1-5' -> [1..5]; '1,3' -> [1, 3]."""
    from ..errors import UsageError

    folds: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part:
                lo, hi = part.split("-", 1)
                folds.extend(range(int(lo), int(hi) + 1))
            else:
                folds.append(int(part))
    except ValueError:
        raise UsageError(f"--folds {text!r}: expected e.g. 1-5 or 1,3") from None
    if not folds:
        raise UsageError(f"--folds {text!r}: no folds")
    return folds


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cv", help="train and evaluate every fold; write the mean ± std table")
    p.add_argument("config", help="config name or YAML path; list paths use the placeholder {fold}")
    p.add_argument("--folds", default="1-5", help="e.g. 1-5 or 1,3 (default 1-5)")
    p.add_argument("--name", default=None, help="base run name (default: the config name)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--protocol", choices=sorted(PROTOCOLS), default=None,
                   help="evaluation preset for every fold, as for dkclip train (recorded as eval.protocol)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..engine.run_config import load_config
    from ..tasks.cross_validation import run_cv

    cfg = load_config(args.config, args.overrides, protocol=args.protocol)
    name = args.name or str(args.config).rsplit("/", 1)[-1].removesuffix(".yaml")
    run_cv(cfg, parse_folds(args.folds), name)
    return 0
