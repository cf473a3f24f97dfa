"""The ``dkclip`` command line. Each sub-command lives in ``dkclip/commands/<name>.py`` and exposes
``add_parser(subparsers)``, which registers its parser and sets ``func(args) -> int``.

This is the one error boundary of the program: an expected mistake (:class:`dkclip.errors.DKClipError`, or an
``OSError`` such as a missing file or a full disk) prints one line, ``dkclip <command>: error: <what>`` (plus a
``hint:`` line when there is something to do), and exits non-zero: 2 for usage and configuration mistakes, 1 for
the rest. ``--debug`` shows the traceback as well. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback

# Sub-command modules, in the order ``dkclip --help`` lists them.
COMMAND_MODULES: tuple[str, ...] = ("demo", "predict", "app", "train", "evaluate", "compare", "cv", "ablate",
                                   "export", "prepare", "synth", "pretrain")
# The one-line help of each command as its module registers it (a test keeps the two equal). ``dkclip --help``
# prints these without importing any command module, so it answers at once: only the command being run (or
# asked for ``--help``) is imported, and command modules import torch only inside their run functions.
COMMAND_HELP: dict[str, str] = {
    "demo": "synthesise data, train dkclip-tiny on the CPU and evaluate (the main job)",
    "predict": "predict expressions over time in videos (faces detected and tracked)",
    "app": "the browser interface: upload a video, see who shows which expression when",
    "train": "train a DK-CLIP model (also under torchrun)",
    "evaluate": "evaluate a trained model on a list file",
    "compare": "compare two runs' predictions on the same clips (paired tests)",
    "cv": "train and evaluate every fold; write the mean ± std table",
    "ablate": "the ablation study in miniature on the synthetic dataset (resumable)",
    "export": "export a trained model as model.safetensors + config.json",
    "prepare": "make and check data list files",
    "synth": "generate the synthetic FACS face-video dataset",
    "pretrain": "pretrain a CLIP on synthetic AU-captioned faces",
}


def _command_in(argv: list[str]) -> str | None:
    """The sub-command named in ``argv`` (the first word that is not an option), if it is one of ours."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in COMMAND_MODULES else None


def build_parser(command: str | None = None, *, all_commands: bool = False) -> argparse.ArgumentParser:
    """The ``dkclip`` parser. Every command is listed; only ``command``'s module (every module with
    ``all_commands``) is imported to register its full parser, the others are listed by their one-line help."""
    parser = argparse.ArgumentParser(prog="dkclip", description="DK-CLIP for dynamic facial expression recognition")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        if all_commands or name == command:
            importlib.import_module(f"dkclip.commands.{name}").add_parser(sub)
        else:
            sub.add_parser(name, help=COMMAND_HELP[name])
    return parser


def _report(command: str, exc: BaseException, debug: bool) -> None:
    from .errors import DKClipError

    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    message = str(exc).strip() or type(exc).__name__
    if isinstance(exc, OSError) and not isinstance(exc, DKClipError) and exc.filename is not None:
        from .fileio import plain_reason

        message = f"{exc.filename}: {plain_reason(exc)}"  # the file and the reason, without "[Errno 2]"
    # A requested stop (SIGTERM: training saved a resumable checkpoint) is not a failure of the command.
    label = "stopped" if getattr(exc, "exit_code", 1) in (130, 143) else "error"
    print(f"dkclip {command}: {label}: {message}", file=sys.stderr)
    hint = getattr(exc, "hint", "")
    if hint:
        print(f"  hint: {hint}", file=sys.stderr)
    details = getattr(exc, "details", None)
    if details and debug:
        for line in details:
            print(f"  {line}", file=sys.stderr)
    elif details:
        print("  (--debug lists every detail)", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    from .errors import DKClipError

    words = sys.argv[1:] if argv is None else argv
    args = build_parser(_command_in(words)).parse_args(words)
    level = logging.DEBUG if args.verbose or args.debug else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    from .signals import sigterm_interrupts

    try:
        with sigterm_interrupts():  # SIGTERM cleans up as Ctrl-C does (exit 143): nothing half-written is left
            return int(args.func(args) or 0)
    except DKClipError as exc:
        _report(args.command, exc, args.debug)
        return exc.exit_code
    except OSError as exc:
        _report(args.command, exc, args.debug)
        return 1
    except KeyboardInterrupt as exc:
        from .signals import interrupt_exit_code, signal_name

        print(f"dkclip {args.command}: stopped by {signal_name(exc)}", file=sys.stderr)
        return interrupt_exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
