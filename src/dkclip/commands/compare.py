"""``dkclip compare A B``: UAR/WAR of two runs on the same clips, a paired bootstrap interval of the difference
and McNemar's test."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare two runs' predictions on the same clips (paired tests)")
    p.add_argument("a", help="run directory, evaluation folder or predictions.csv (A)")
    p.add_argument("b", help="the same for B")
    p.add_argument("--head", default="global", choices=("global", "local", "fused"))
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="also write the result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..tasks.compare import compare, format_comparison

    print(format_comparison(compare(args.a, args.b, args.head, args.resamples, args.seed, args.out)))
    return 0
