"""Build the open_clip CLIP model behind a DK-CLIP config and load CLIP weights from a local file.

Accepted files: OpenAI's TorchScript archives (``ViT-B-16.pt`` ...; read as data, without executing their code),
and OpenAI/open_clip-format state dicts in ``.pt``/``.pth``/``.bin`` (read with ``torch.load(weights_only=True)``,
never unpickling arbitrary objects) or ``.safetensors``. Nothing is ever downloaded.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import open_clip
import torch
from open_clip.model import CLIP

from .errors import CheckpointError, CheckpointMismatchError
from .torchscript_archive import is_torchscript_archive, load_trusted_torchscript, read_torchscript_weights

logger = logging.getLogger(__name__)

STATE_DICT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")
# Entries of OpenAI's JIT archives (and of scripted open_clip models) that are not weights: metadata and the
# causal text mask, which the model rebuilds itself.
_NON_WEIGHT_KEYS = ("input_resolution", "context_length", "vocab_size", "attn_mask")
_MAX_LISTED = 8


def build_clip(arch: dict[str, Any]) -> CLIP:
    """A randomly initialised open_clip CLIP with the given architecture (fp32, no download)."""
    cfg = dict(arch)
    return CLIP(
        embed_dim=cfg["embed_dim"],
        vision_cfg=cfg["vision_cfg"],
        text_cfg=cfg["text_cfg"],
        quick_gelu=cfg.get("quick_gelu", False),
    )


def get_tokenizer(arch: dict[str, Any]) -> open_clip.tokenizer.SimpleTokenizer:
    """CLIP's BPE tokenizer (shipped inside open_clip) with the architecture's context length."""
    return open_clip.tokenizer.SimpleTokenizer(context_length=arch["text_cfg"].get("context_length", 77))


def read_state_dict(path: str | Path, trust_torchscript: bool = False) -> dict[str, torch.Tensor]:
    """Read a CLIP state dict from a local file, unwrapping the common containers.

    TorchScript archives (OpenAI's files) are read without executing anything
    (:mod:`dkclip.torchscript_archive`); ``trust_torchscript=True`` uses ``torch.jit.load`` instead, which runs
    the archive's code: only for files whose origin you trust.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"CLIP weights file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in STATE_DICT_SUFFIXES:
        raise CheckpointError(
            f"unsupported CLIP weights file type {suffix!r} for {path}; expected one of {STATE_DICT_SUFFIXES}"
        )
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: empty file (0 bytes)")
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            raw: Any = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    elif is_torchscript_archive(path):
        # OpenAI's distributed checkpoints are TorchScript archives; their pickled module tree holds the weights.
        if trust_torchscript:
            logger.warning("executing the TorchScript archive %s (trust_torchscript=True)", path)
            raw = load_trusted_torchscript(path)
        else:
            raw, _ = read_torchscript_weights(path)
    else:
        from .checkpoints import describe_format

        try:
            raw = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # pickle errors come in many types
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise CheckpointError(f"{path}: cannot read it as a weights-only state dict ({first[:200]})") from exc
        if isinstance(raw, dict) and isinstance(raw.get("format"), str) and raw["format"].startswith("dkclip-"):
            raise CheckpointError(f"{path} is {describe_format(raw['format'])}, not CLIP weights")
    return _unwrap_state_dict(raw, path)


def _unwrap_state_dict(raw: Any, path: Path) -> dict[str, torch.Tensor]:
    for key in ("state_dict", "model", "module"):
        if isinstance(raw, dict) and key in raw and isinstance(raw[key], dict):
            raw = raw[key]
    if not isinstance(raw, dict) or not raw:
        raise CheckpointError(f"{path} does not contain a state dict")
    state = {}
    for key, value in raw.items():
        if key.rsplit(".", 1)[-1] in _NON_WEIGHT_KEYS or not isinstance(value, torch.Tensor):
            continue
        for prefix in ("module.", "clip."):
            if key.startswith(prefix):
                key = key[len(prefix):]
        state[key] = value
    return state


def describe_vit(state: dict[str, torch.Tensor]) -> str:
    """A short architecture description of a CLIP state dict, for error messages."""
    conv = state.get("visual.conv1.weight")
    if conv is None:
        return "not a CLIP ViT checkpoint (no visual.conv1.weight)"
    layers = len({k.split(".")[3] for k in state if k.startswith("visual.transformer.resblocks.")})
    pos = state.get("visual.positional_embedding")
    grid = round((pos.shape[0] - 1) ** 0.5) if pos is not None else 0
    patch = conv.shape[-1]
    return f"ViT width {conv.shape[0]}, {layers} layers, patch {patch}, {grid * patch} px"


def load_clip_weights(model: CLIP, path: str | Path, trust_torchscript: bool = False) -> None:
    """Load a local CLIP checkpoint into ``model``; a file that does not fit fails with every mismatch listed."""
    from .pretrained import fitting_model, identify_clip_file

    path = Path(path)
    state = read_state_dict(path, trust_torchscript)
    identify_clip_file(path)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(state) & set(expected))
        if state[k].shape != expected[k].shape
    ]
    # A checkpoint without logit_scale (some exports drop it) is still usable: the value is unused by default.
    missing = [k for k in missing if k != "logit_scale"]
    if missing or unexpected or wrong_shape:
        details = []
        for title, items in (("shape mismatches", wrong_shape), ("missing keys", missing),
                             ("unexpected keys", unexpected)):
            if items:
                shown = ", ".join(items[:_MAX_LISTED])
                more = f" (+{len(items) - _MAX_LISTED} more)" if len(items) > _MAX_LISTED else ""
                details.append(f"{len(items)} {title}: {shown}{more}")
        fits = fitting_model(path)
        hint = f"this file is for {fits}" if fits else "pass the CLIP checkpoint of this model's architecture"
        raise CheckpointMismatchError(
            f"CLIP weights {path} do not match the requested architecture (model: {describe_vit(expected)}; "
            f"checkpoint: {describe_vit(state)}; {'; '.join(d.split(':')[0] for d in details)})",
            details=details, hint=hint)
    with torch.no_grad():
        for key, value in state.items():
            expected[key].copy_(value.to(expected[key].dtype))  # JIT archives are fp16; we keep fp32
    logger.info("loaded CLIP weights from %s (%s)", path, describe_vit(state))


def create_clip(arch: dict[str, Any], weights: str | Path | None, trust_torchscript: bool = False) -> CLIP:
    model = build_clip(arch)
    if weights is None:
        logger.warning("no CLIP weights given: the CLIP towers are randomly initialised")
    else:
        load_clip_weights(model, weights, trust_torchscript)
    return model
