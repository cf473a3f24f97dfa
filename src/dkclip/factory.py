"""Model creation from the registry and from saved configs, and weights-only save/load of DK-CLIP models."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .clip_loading import build_clip, create_clip, get_tokenizer
from .config import DKClipConfig
from .fileio import atomic_write, atomic_write_text
from .model.dkclip import DKClip
from .prompts import class_names_for, resolve_prompts
from .registry import default_clip_weights, get_model_config

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


def create_model_from_config(config: DKClipConfig, clip_weights: str | os.PathLike | None = None) -> DKClip:
    """Build a DK-CLIP model from a full config; CLIP weights come from a local file (or random init)."""
    clip = create_clip(config.clip, clip_weights)
    return DKClip(config, clip, get_tokenizer(config.clip))


def create_model(
    name: str,
    *,
    clip_weights: str | os.PathLike | None = None,
    prompts: str | Sequence[str] | os.PathLike = "dfew",
    **overrides: Any,
) -> DKClip:
    """Create a registered DK-CLIP variant.

    Args:
        name: one of :func:`dkclip.list_models`.
        clip_weights: a local CLIP checkpoint (OpenAI JIT archive, or an OpenAI/open_clip state dict in .pt, .bin
            or .safetensors); ``"default"`` for the weights shipped with the model (``dkclip-tiny``'s CLIP
            pretrained on synthetic faces). ``None`` leaves CLIP randomly initialised (a warning is logged).
        prompts: a named prompt set (``dfew``, ``mafw``, ``dfew_classnames``, ...), a path to an ``id,name``
            CSV, or a list of strings.
        **overrides: any :class:`DKClipConfig` field, e.g. ``temporal="avgpool"`` or ``nrm_theta=0.2``.
    """
    config = get_model_config(name)
    if isinstance(clip_weights, str) and clip_weights == "default":
        clip_weights = default_clip_weights(name)
    resolved = resolve_prompts(Path(prompts) if isinstance(prompts, os.PathLike) else prompts)
    names = class_names_for(prompts) if isinstance(prompts, str) else None
    data = config.to_dict()
    data.update(prompts=resolved, class_names=list(names) if names else [])
    data.update(overrides)
    return create_model_from_config(DKClipConfig.from_dict(data), clip_weights)


def save_model(model: DKClip, directory: str | os.PathLike) -> Path:
    """Write ``model.safetensors`` and ``config.json`` (atomically) into ``directory``."""
    from safetensors.torch import save_file

    directory = Path(directory)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write(directory / WEIGHTS_NAME, lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))
    atomic_write_text(directory / CONFIG_NAME, model.config.to_json())
    return directory


def model_skeleton(config: DKClipConfig) -> DKClip:
    """A DK-CLIP of ``config`` whose weights (CLIP's included) are about to be loaded from a saved state:
    CLIP is built without weights and without the random-init warning."""
    return DKClip(config, build_clip(config.clip), get_tokenizer(config.clip))


def load_model(directory: str | os.PathLike, map_location: str | torch.device = "cpu") -> DKClip:
    """Load a model written by :func:`save_model` (no CLIP weights file needed, nothing unpickled)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    config_path, weights_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    for path in (config_path, weights_path):
        if not path.is_file():
            raise FileNotFoundError(f"missing {path}")
    config = DKClipConfig.from_dict(json.loads(config_path.read_text()))
    model = model_skeleton(config)
    state = load_file(str(weights_path), device=str(map_location))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{weights_path} does not match {config_path}: missing {missing[:8]}, "
                         f"unexpected {unexpected[:8]}")
    return model.to(map_location)
