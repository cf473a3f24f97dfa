"""The files dkclip writes, by kind, and safe reading of its ``.pt`` checkpoints.

Two kinds of ``.pt`` state exist and carry different ``format`` tags, so each loader can say what it was handed:

- ``dkclip-train-state``: ``dkclip train``'s ``last.pt`` (a DK-CLIP model, optimiser, schedule, RNG, history);
- ``dkclip-pretrain-state``: ``dkclip pretrain``'s ``state.pt`` (a bare CLIP being pretrained).

Both are read with ``torch.load(weights_only=True)``: tensors, numbers, strings, lists and dicts only, never
arbitrary pickled objects. Exported models are ``model.safetensors`` + ``config.json`` (no pickle at all).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError

TRAIN_STATE_FORMAT = "dkclip-train-state"
PRETRAIN_STATE_FORMAT = "dkclip-pretrain-state"
STATE_VERSION = 1

_WHAT = {
    TRAIN_STATE_FORMAT: "a dkclip training checkpoint (dkclip train's last.pt)",
    PRETRAIN_STATE_FORMAT: "a dkclip CLIP-pretraining checkpoint (dkclip pretrain's state.pt)",
}
_USE_INSTEAD: dict[str | None, str] = {
    TRAIN_STATE_FORMAT: "load it with dkclip.load_model / --model, or continue it with dkclip train --resume",
    PRETRAIN_STATE_FORMAT: "continue it with dkclip pretrain --out-dir (its folder), or use the finished "
                           "clip.safetensors as CLIP weights (--clip-weights / clip_weights=)",
}


def describe_format(tag: Any) -> str:
    return _WHAT.get(tag, f"a file of unknown format {tag!r}" if tag is not None else "not a dkclip checkpoint")


def read_state(path: str | Path, expected: str) -> dict[str, Any]:
    """Read a dkclip ``.pt`` state of the ``expected`` format; any other file is a :class:`CheckpointError` that
    says what it is instead."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes); an interrupted copy?")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle and zip errors come in many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({first[:200]})") from exc
    tag = state.get("format") if isinstance(state, dict) else None
    if tag != expected:
        raise CheckpointError(f"{path} is {describe_format(tag)}, not {_WHAT[expected]}",
                              hint=_USE_INSTEAD.get(tag, ""))
    if state.get("version") != STATE_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {state.get('version')} is not supported "
                              f"(expected {STATE_VERSION})")
    return state


def peek_format(path: str | Path) -> str | None:
    """The ``format`` tag of a dkclip ``.pt`` file, or None when it is something else."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return None
    return state.get("format") if isinstance(state, dict) else None
