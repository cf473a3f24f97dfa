"""Training checkpoints: the full state for an exact ``--resume``, written atomically, read without unpickling
arbitrary objects (``torch.load(weights_only=True)``: tensors, numbers, strings, lists and dicts only).

A run directory holds ``last.pt`` (full training state, every epoch and on interruption), ``best/`` (the
selected model as ``model.safetensors`` + ``config.json`` + ``metrics.json``) and the logs.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from ..checkpoints import STATE_VERSION, TRAIN_STATE_FORMAT, read_state
from ..fileio import atomic_write

FORMAT = TRAIN_STATE_FORMAT
VERSION = STATE_VERSION


def atomic_save(obj: Any, path: str | Path) -> None:
    """torch.save through a temporary file and a rename: a crash never leaves half a checkpoint, and a full disk
    is a :class:`dkclip.fileio.DiskFullError` (saved through a Python file object, torch reports the errno
    instead of an opaque writer assertion)."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)

    atomic_write(path, write)


def rng_state() -> dict[str, Any]:
    # legacy=True (the default): numpy's global MT19937 state as (name, keys, pos, has_gauss, cached_gaussian)
    np_state = cast("tuple[str, np.ndarray, int, int, float]", np.random.get_state())
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]), int(np_state[3]),
                  float(np_state[4])],
        "python": _to_lists(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _to_lists(value: Any) -> Any:
    return [_to_lists(v) for v in value] if isinstance(value, tuple | list) else value


def _to_tuples(value: Any) -> Any:
    return tuple(_to_tuples(v) for v in value) if isinstance(value, list) else value


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(_to_tuples(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_training_state(path: str | Path) -> dict[str, Any]:
    """Read ``last.pt``; a pretraining state or any other file is refused with what it is."""
    return read_state(path, TRAIN_STATE_FORMAT)
