"""The ``dkclip`` command line. Each sub-command lives in ``dkclip/commands/<name>.py`` and exposes
``add_parser(subparsers)``, which registers its parser and sets ``func(args) -> int``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Sub-command modules, in the order ``dkclip --help`` lists them.
COMMAND_MODULES: tuple[str, ...] = ("demo", "train", "evaluate", "cv", "ablate", "export", "prepare", "synth",
                                   "pretrain")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dkclip", description="DK-CLIP for dynamic facial expression recognition")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"dkclip.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
