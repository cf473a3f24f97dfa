"""What a run records about itself, so it can be reproduced and explained: the command line, the code (git commit
and whether the tree was dirty), the software and hardware, the world size, and the SHA-256 of every input file
(the CLIP weights, each list). Written as ``provenance.json`` in the run directory at the start, and again with
the end time when the run finishes or stops.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ..fileio import atomic_write_json
from ..pretrained import file_sha256

PROVENANCE_NAME = "provenance.json"


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def code_version() -> dict[str, Any]:
    """The git commit of the dkclip source tree and whether it had uncommitted changes (None outside git)."""
    source = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": commit, "git_dirty": bool(status.strip())}


def environment(world_size: int) -> dict[str, Any]:
    cuda = torch.cuda.is_available()
    return {
        "python": platform.python_version(), "platform": platform.platform(), "host": socket.gethostname(),
        "dkclip": _version("dkclip"), "torch": torch.__version__, "torchvision": _version("torchvision"),
        "open_clip": _version("open_clip_torch"), "numpy": _version("numpy"), "av": _version("av"),
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        "world_size": world_size,
    }


def input_digests(paths: dict[str, str | None]) -> dict[str, dict[str, Any] | None]:
    """``{name: {"path", "sha256", "bytes"}}`` for each existing input file (None where unset)."""
    out: dict[str, dict[str, Any] | None] = {}
    for name, path in paths.items():
        if not path or not Path(path).is_file():
            out[name] = None if not path else {"path": str(path), "sha256": None, "bytes": None}
            continue
        out[name] = {"path": str(Path(path).resolve()), "sha256": file_sha256(path), "bytes": os.path.getsize(path)}
    return out


def run_record(inputs: dict[str, str | None], world_size: int) -> dict[str, Any]:
    return {
        "command": [sys.executable, *sys.argv], "cwd": os.getcwd(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "ended": None, "outcome": "running",
        "code": code_version(), "environment": environment(world_size), "inputs": input_digests(inputs),
    }


def write_record(run_dir: Path, record: dict[str, Any]) -> None:
    atomic_write_json(run_dir / PROVENANCE_NAME, record)


def finish_record(run_dir: Path, record: dict[str, Any], outcome: str) -> None:
    record = {**record, "ended": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "outcome": outcome}
    write_record(run_dir, record)
