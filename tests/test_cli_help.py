"""`dkclip --help` answers without importing torch: importing `dkclip` is lazy, the CLI lists the commands by
their one-line help and imports only the command being run, and command modules import heavy libraries inside
their run functions. Checked in a fresh interpreter (what is imported, not how long it takes)."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys

import pytest

from dkclip.cli import COMMAND_HELP, COMMAND_MODULES

HEAVY = ("torch", "torchvision", "open_clip", "numpy", "PIL", "av", "gradio")
_PROBE = f"HEAVY = {HEAVY!r}" + """
import contextlib, io, json, sys
from dkclip.cli import build_parser, main
build_parser()
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
print(json.dumps({"loaded": sorted(m for m in HEAVY if m in sys.modules), "help": out.getvalue()}))
"""


def _probe(*argv: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_top_level_help_imports_no_heavy_library() -> None:
    result = _probe("--help")
    assert result["loaded"] == []
    assert "usage: dkclip" in result["help"] and all(name in result["help"] for name in COMMAND_MODULES)


# ablate's --help loads the ablation grid (its options list the experiments). Every other command's loads nothing
# heavy: predict and pretrain take their defaults from torch-free modules (predict.defaults, pretrain.pretrain_config);
# app's --help imports neither torch nor Gradio (app.server imports Gradio only when serving).
@pytest.mark.parametrize("argv", [("train", "--help"), ("prepare", "lists", "--help"), ("prepare", "check", "--help"),
                                  ("cv", "--help"), ("evaluate", "--help"), ("export", "--help"),
                                  ("compare", "--help"), ("demo", "--help"), ("synth", "--help"),
                                  ("predict", "--help"), ("pretrain", "--help"), ("app", "--help")])
def test_command_help_imports_no_heavy_library(argv: tuple[str, ...]) -> None:
    result = _probe(*argv)
    assert result["loaded"] == [] and "usage: dkclip" in result["help"]


def test_import_dkclip_is_lazy_and_the_api_still_resolves() -> None:
    code = ("import sys, dkclip; a = 'torch' in sys.modules; from dkclip import create_model, losses; "
            "print(a, 'torch' in sys.modules, callable(create_model), hasattr(losses, 'DKClipLoss'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True", "True", "True"]


def test_listed_help_is_each_commands_own() -> None:
    for name in COMMAND_MODULES:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        importlib.import_module(f"dkclip.commands.{name}").add_parser(sub)
        (action,) = sub._choices_actions
        assert action.help == COMMAND_HELP[name], f"update COMMAND_HELP[{name!r}] in dkclip/cli.py"


def test_the_data_package_is_lazy_too() -> None:
    """Predict's decoding and media readers load without the dataset and transforms (torchvision); the
    package's public names still resolve."""
    code = ("import sys, dkclip.data.decoding, dkclip.data.media; a = 'torchvision' in sys.modules; "
            "from dkclip.data import build_loader, natural_key, __all__ as names; import dkclip.data as d; "
            "print(a, callable(build_loader), all(hasattr(d, n) for n in names))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True", "True"]
