"""CLIP as a zero-shot classifier of face videos: the one builder (``dkclip evaluate --zero-shot``, ``dkclip
predict --zero-shot``, the app and the Python API all call :func:`create_zero_shot_model`).

A zero-shot model is a registered variant with ``temporal="avgpool"`` and no CMAM or NRM, which is exactly CLIP:
per-frame image features averaged over the clip, against the text features of the class prompts (the AU-enriched
ones by default).

Its normalisation is the one the weights were trained with (:func:`zero_shot_normalization`): a registered
pretrained tag's recorded statistics, also when that tag's file is passed by path; CLIP's own statistics for any
other CLIP file (OpenAI's, open_clip's) and for random weights.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .constants import CLIP_MEAN, CLIP_STD, NORMALIZATIONS
from .errors import CheckpointError, UsageError

if TYPE_CHECKING:
    from .model.dkclip import DKClip

Stats = tuple[tuple[float, float, float], tuple[float, float, float]]

__all__ = ["create_zero_shot_model", "guess_arch", "prompt_class_names", "zero_shot_normalization"]


def zero_shot_normalization(model: str, *, pretrained: str | None = None,
                            clip_weights: str | os.PathLike[str] | None = None) -> Stats:
    """(mean, std) the weights expect: a pretrained tag's recorded statistics (given by tag or by its file),
    else CLIP's."""
    from .pretrained import get_pretrained_cfg, registered_cfg_of_file

    cfg = get_pretrained_cfg(model, pretrained) if pretrained is not None else None
    if cfg is None and clip_weights is not None:
        cfg = registered_cfg_of_file(clip_weights)
    return (cfg.image_mean, cfg.image_std) if cfg is not None else (CLIP_MEAN, CLIP_STD)


def prompt_class_names(prompt_set: str | Sequence[str], prompts: Sequence[str]) -> list[str]:
    """Class names of a prompt set: a named set's own; for user prompts the words before " with " ("happiness
    with cheek raiser..." -> happiness) when they are distinct, else ``class0, class1, ...``."""
    from .prompts import class_names_for

    named = class_names_for(prompt_set) if isinstance(prompt_set, str) else None
    if named:
        return list(named)
    names = [p.split(" with ", 1)[0].strip() for p in prompts]
    return names if len(set(names)) == len(names) and all(names) else [f"class{i}" for i in range(len(prompts))]


def guess_arch(clip_weights: str | os.PathLike[str]) -> str:
    """The registered model whose CLIP architecture a CLIP weights file has (ViT width, depth, patch, input
    size and embedding width), for zero-shot without an explicit model name."""
    from .clip_loading import describe_vit, read_state_dict
    from .pretrained import fitting_model, registered_cfg_of_file
    from .registry import get_model_config, list_models

    fits = fitting_model(clip_weights)
    if fits:
        return fits
    registered = registered_cfg_of_file(clip_weights)
    if registered is not None:
        return registered.model
    state = read_state_dict(Path(clip_weights))
    conv = state.get("visual.conv1.weight")
    pos = state.get("visual.positional_embedding")
    proj = state.get("visual.proj")
    if conv is None or pos is None:
        raise CheckpointError(f"{clip_weights}: {describe_vit(state)}")
    layers = len({k.split(".")[3] for k in state if k.startswith("visual.transformer.resblocks.")})
    found = (int(conv.shape[0]), layers, int(conv.shape[-1]), int(pos.shape[0]),
             int(proj.shape[1]) if proj is not None else None)
    for name in list_models():
        config = get_model_config(name)
        vision = config.clip["vision_cfg"]
        grid = (vision["image_size"] // vision["patch_size"]) ** 2 + 1
        if (vision["width"], vision["layers"], vision["patch_size"], grid, config.embed_dim) == found:
            return name
    raise CheckpointError(f"{clip_weights}: no registered model has this CLIP architecture ({describe_vit(state)})",
                          hint="pass --arch with the model it belongs to")


def create_zero_shot_model(clip_weights: str | os.PathLike[str] | None = None, prompts: str | Sequence[str] = "dfew",
                           arch: str | None = None, *, pretrained: str | None = None, num_frames: int | None = None,
                           normalize: str | None = None, trust_torchscript: bool = False) -> DKClip:
    """CLIP zero-shot over frame-averaged features (no MSIM, CMAM or NRM), in eval mode.

    Args:
        clip_weights: a local CLIP file; ``"default"`` (deprecated) is ``arch``'s shipped tag. With neither it nor
            ``pretrained``, CLIP is randomly initialised (tests).
        prompts: a named prompt set, an ``id,name`` CSV path, or the prompt strings.
        arch: the registered model the weights belong to; default: recognised from the file.
        pretrained: a registered pretrained tag of ``arch`` instead of a file.
        num_frames: frames per clip (default: the model's).
        normalize: ``"clip"`` or ``"imagenet"`` to override the weights' own statistics.
    """
    from .factory import create_model
    from .pretrained import default_tag
    from .prompts import resolve_prompts

    if clip_weights is not None and str(clip_weights) != "default" and not Path(clip_weights).is_file():
        raise CheckpointError(f"CLIP weights file not found: {clip_weights}")
    name = arch or (guess_arch(clip_weights) if clip_weights is not None and str(clip_weights) != "default"
                    else None)
    if name is None:
        raise UsageError("zero-shot without a CLIP weights file needs the model name (arch)")
    tag = default_tag(name) if str(clip_weights) == "default" else pretrained
    if normalize is not None:
        if normalize not in NORMALIZATIONS:
            raise UsageError(f"normalize must be one of {sorted(NORMALIZATIONS)}, got {normalize!r}")
        mean, std = NORMALIZATIONS[normalize]
    else:
        mean, std = zero_shot_normalization(name, pretrained=tag, clip_weights=None if tag else clip_weights)
    try:
        resolved = resolve_prompts(Path(prompts) if isinstance(prompts, os.PathLike) else prompts)
    except (ValueError, FileNotFoundError) as exc:
        raise UsageError(f"prompts: {exc}") from None
    overrides = {"num_frames": num_frames} if num_frames is not None else {}
    model = create_model(name, pretrained=pretrained, clip_weights=clip_weights, prompts=resolved,
                         trust_torchscript=trust_torchscript, temporal="avgpool", use_cmam=False, use_nrm=False,
                         image_mean=mean, image_std=std, class_names=prompt_class_names(prompts, resolved),
                         **overrides)
    return model.eval()
