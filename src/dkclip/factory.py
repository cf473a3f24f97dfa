"""Creating DK-CLIP models, with the preprocessing their weights expect, and saving and loading them.

- :func:`create_model`: a registered variant (``dkclip.list_models()``), CLIP weights from a named pretrained
  tag (``dkclip.list_pretrained()``) or a local file, or random init.
- :func:`create_model_and_transforms`: the same (or any saved model) plus the train and eval video transforms
  built from the model's own config, so preprocessing always travels with the weights.
- :func:`save_model` / :func:`load_model`: weights-only ``model.safetensors`` + ``config.json``; ``load_model``
  is the one loader for everything the project writes (an export, a run directory, ``best/``, ``last.pt``, and
  with ``onnx=True`` the ``model.onnx`` of ``dkclip export --onnx``, for prediction).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

import torch

from .checkpoints import PRETRAIN_STATE_FORMAT, TRAIN_STATE_FORMAT, describe_format, peek_format, read_state
from .clip_loading import build_clip, create_clip, get_tokenizer
from .config import DKClipConfig
from .errors import CheckpointError, CheckpointMismatchError, ConfigError, UsageError
from .fileio import atomic_write_set
from .model.dkclip import DKClip
from .pretrained import default_tag, get_pretrained_cfg, verified_path
from .prompts import class_names_for, resolve_prompts
from .registry import get_model_config, list_models

if TYPE_CHECKING:
    from .model.onnx import OnnxModel

logger = logging.getLogger(__name__)

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
# Switches that used to be config fields; create_model still takes them as keywords and applies them at runtime.
_RUNTIME_SWITCHES = ("grad_checkpointing", "freeze_patch_embed")


def create_model_from_config(config: DKClipConfig, clip_weights: str | os.PathLike | None = None,
                             trust_torchscript: bool = False) -> DKClip:
    """Build a DK-CLIP model from a full config; CLIP weights come from a local file (or random init)."""
    clip = create_clip(config.clip, Path(clip_weights) if clip_weights is not None else None, trust_torchscript)
    return DKClip(config, clip, get_tokenizer(config.clip))


def create_model(
    name: str,
    *,
    pretrained: str | None = None,
    clip_weights: str | os.PathLike | None = None,
    prompts: str | Sequence[str] | os.PathLike = "dfew",
    trust_torchscript: bool = False,
    **overrides: Any,
) -> DKClip:
    """Create a registered DK-CLIP variant.

    Args:
        name: one of :func:`dkclip.list_models`.
        pretrained: a registered weights tag of ``name`` (:func:`dkclip.list_pretrained`), e.g. ``"synthclip"``
            for ``dkclip-tiny``; the file ships with the package and is verified against its SHA-256. Its
            normalisation becomes the model's unless ``image_mean``/``image_std`` are given.
        clip_weights: a local CLIP checkpoint (OpenAI TorchScript archive, or an OpenAI/open_clip state dict in
            .pt, .bin or .safetensors). ``"default"`` is a deprecated alias of the model's default ``pretrained``
            tag. With neither, CLIP is randomly initialised (a warning is logged).
        prompts: a named prompt set (``dfew``, ``mafw``, ``dfew_classnames``, ...), a path to an ``id,name``
            CSV, or a list of strings.
        trust_torchscript: read a TorchScript ``clip_weights`` archive with ``torch.jit.load``, which executes
            its code. By default archives are read as data only (no code runs).
        **overrides: any :class:`DKClipConfig` field, e.g. ``temporal="avgpool"`` or ``nrm_theta=0.2``; also
            ``grad_checkpointing=True`` / ``freeze_patch_embed=True``, applied to the built model.
    """
    config = get_model_config(name)
    if isinstance(clip_weights, str) and clip_weights == "default":
        tag = default_tag(name)
        warnings.warn(f'clip_weights="default" is deprecated; use pretrained="{tag}"', DeprecationWarning,
                      stacklevel=2)
        logger.warning('clip_weights "default" is deprecated: it stands for pretrained "%s" of %s', tag, name)
        clip_weights, pretrained = None, tag
    if pretrained is not None and clip_weights is not None:
        raise UsageError(f"give pretrained ({pretrained!r}) or clip_weights ({clip_weights!s}), not both")
    if "use_consistency" in overrides:
        raise ConfigError("use_consistency is a training setting now: DKClipLoss(use_consistency=...) or the "
                          "run-config key loss.use_consistency")
    switches = {k: bool(overrides.pop(k)) for k in _RUNTIME_SWITCHES if k in overrides}
    data = config.to_dict()
    if pretrained is not None:
        cfg = get_pretrained_cfg(name, pretrained)
        clip_weights = verified_path(cfg)
        data.update(image_mean=cfg.image_mean, image_std=cfg.image_std)
    resolved = resolve_prompts(Path(prompts) if isinstance(prompts, os.PathLike) else prompts)
    names = class_names_for(prompts) if isinstance(prompts, str) else None
    data.update(prompts=resolved, class_names=list(names) if names else [])
    data.update(overrides)
    model = create_model_from_config(DKClipConfig.from_dict(data), clip_weights, trust_torchscript)
    if switches.get("grad_checkpointing"):
        model.set_grad_checkpointing(True)
    if switches.get("freeze_patch_embed"):
        model.freeze_patch_embed(True)
    return model


def create_model_and_transforms(
    name_or_path: str | os.PathLike,
    *,
    pretrained: str | None = None,
    clip_weights: str | os.PathLike | None = None,
    prompts: str | Sequence[str] | os.PathLike = "dfew",
    train_options: dict[str, Any] | None = None,
    **overrides: Any,
) -> tuple[DKClip, Any, Any]:
    """``(model, train_transform, eval_transform)`` (as open_clip's function of the same name).

    ``name_or_path``: a registered model name (created as :func:`create_model` does) or anything
    :func:`load_model` reads. The transforms come from the model's config (input size, mean/std, T, N): each takes
    decoded frames (uint8, ``(n, H, W, 3)`` or ``(n, 3, H, W)``, any size) to the model's input ``(T, 3, S, S)``,
    sampling T of the n frames as training and evaluation do. ``train_options`` override the training
    augmentation (:class:`dkclip.data.transforms.TrainTransform` fields).
    """
    from .data.pipeline import model_transforms

    if str(name_or_path) in list_models():
        model = create_model(str(name_or_path), pretrained=pretrained, clip_weights=clip_weights, prompts=prompts,
                             **overrides)
    else:
        if pretrained is not None or clip_weights is not None or overrides:
            raise UsageError(f"{name_or_path} is a saved model: pretrained, clip_weights and config overrides "
                             "apply to registered model names only")
        model = load_model(name_or_path)
    train, evaluate = model_transforms(model.config, **(train_options or {}))
    return model, train, evaluate


def save_model(model: DKClip, directory: str | os.PathLike, dtype: torch.dtype | None = None) -> Path:
    """Write ``model.safetensors`` and ``config.json`` into ``directory``, as one set (both replaced together:
    :func:`dkclip.fileio.atomic_write_set`).

    ``dtype`` (e.g. ``torch.float16``) casts floating-point weights for a smaller file; loading casts back to fp32.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    config = model.config.to_json()

    def write_config(tmp: str) -> None:
        Path(tmp).write_text(config, encoding="utf-8")

    # One set: weights and config are never from two different saves, even when a save is interrupted.
    atomic_write_set(directory, {WEIGHTS_NAME: lambda tmp: save_file(state, tmp, metadata={"format": "pt"}),
                                 CONFIG_NAME: write_config})
    return directory


def model_skeleton(config: DKClipConfig) -> DKClip:
    """A DK-CLIP of ``config`` whose weights (CLIP's included) are about to be loaded from a saved state:
    CLIP is built without weights and without the random-init warning."""
    return DKClip(config, build_clip(config.clip), get_tokenizer(config.clip))


@dataclass(frozen=True)
class ModelSource:
    """Where a saved model's weights are: ``kind`` is ``"export"`` (safetensors + config.json) or
    ``"train-state"`` (a ``last.pt``); ``run_dir`` is the training run it belongs to, when there is one."""

    kind: str
    path: Path
    run_dir: Path | None


def _is_export(path: Path) -> bool:
    return path.is_dir() and (path / WEIGHTS_NAME).is_file() and (path / CONFIG_NAME).is_file()


def locate_model(path: str | os.PathLike) -> ModelSource:
    """Resolve what :func:`load_model` accepts: an export or ``best/`` folder, a run directory (its ``best/``,
    else ``last.pt``), or a ``last.pt`` file. Anything else is a :class:`CheckpointError` saying what it is."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"model not found: {path}")
    if _is_export(path):
        run_dir = path.parent if (path.parent / "config.yaml").is_file() else None
        return ModelSource("export", path, run_dir)
    if path.is_dir():
        if _is_export(path / "best"):
            return ModelSource("export", path / "best", path)
        if (path / "last.pt").is_file():
            return ModelSource("train-state", path / "last.pt", path)
        if (path / "state.pt").is_file():
            raise CheckpointError(f"{path} is a CLIP-pretraining folder (dkclip pretrain), not a DK-CLIP model; use "
                                  f"its clip.safetensors as CLIP weights (--clip-weights / clip_weights=)")
        if (path / WEIGHTS_NAME).is_file() or (path / CONFIG_NAME).is_file():
            missing = CONFIG_NAME if (path / WEIGHTS_NAME).is_file() else WEIGHTS_NAME
            raise CheckpointError(f"{path} holds no complete model: {missing} is missing")
        raise CheckpointError(f"{path} holds no model (expected {WEIGHTS_NAME} + {CONFIG_NAME}, best/, or last.pt)")
    if path.suffix in (".pt", ".pth"):
        tag = peek_format(path)
        if tag == TRAIN_STATE_FORMAT:
            return ModelSource("train-state", path, path.parent if (path.parent / "config.yaml").is_file() else None)
        if tag == PRETRAIN_STATE_FORMAT:
            read_state(path, TRAIN_STATE_FORMAT)  # raises, naming what the file is and what to do
        raise CheckpointError(f"{path} is {describe_format(tag)}: a CLIP checkpoint is loaded with "
                              "clip_weights= / --clip-weights, a trained DK-CLIP with its run directory or export")
    if path.suffix == ".safetensors" and _is_export(path.parent):
        return locate_model(path.parent)
    if is_onnx_file(path):
        raise CheckpointError(f"{path} is an ONNX video model (dkclip export --onnx): it runs in prediction "
                              "(dkclip predict --model FILE.onnx, Predictor(path), load_model(path, onnx=True)); "
                              "training and evaluation need the PyTorch export beside it")
    raise CheckpointError(f"cannot load a model from {path}: expected a run directory, an exported model folder "
                          f"({WEIGHTS_NAME} + {CONFIG_NAME}) or a last.pt checkpoint")


def is_onnx_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names the ``.onnx`` video model of ``dkclip export --onnx`` (a file; an export folder the
    user named ``something.onnx`` is a PyTorch export like any other)."""
    return Path(path).suffix == ".onnx" and not Path(path).is_dir()


def _read_config(path: Path) -> DKClipConfig:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not a valid JSON model config ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: not a model config (expected a JSON object)")
    try:
        return DKClipConfig.from_dict(data)
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"{path}: {exc}") from None


def _load_weights(model: DKClip, state: dict[str, torch.Tensor], what: Path) -> None:
    expected = model.state_dict()
    wrong = [f"{k}: file {tuple(v.shape)} vs model {tuple(expected[k].shape)}" for k, v in state.items()
             if k in expected and v.shape != expected[k].shape]
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if wrong or missing or unexpected:
        details = [*(f"shape {w}" for w in wrong), *(f"missing {k}" for k in missing),
                   *(f"unexpected {k}" for k in unexpected)]
        raise CheckpointMismatchError(f"{what}: weights do not match the model's config ({len(wrong)} shape "
                                      f"mismatches, {len(missing)} missing, {len(unexpected)} unexpected keys; "
                                      f"first: {details[0]})", details=details)
    with torch.no_grad():
        model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})


@overload
def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu", *,
               onnx: Literal[False] = False) -> DKClip: ...


@overload
def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu", *,
               onnx: bool) -> DKClip | OnnxModel: ...


def load_model(path: str | os.PathLike, map_location: str | torch.device = "cpu", *,
               onnx: bool = False) -> DKClip | OnnxModel:
    """Load a trained DK-CLIP from anything the project writes: an export (``dkclip export``), a ``best/``
    folder, a run directory, or a ``last.pt``. Nothing is unpickled beyond tensors and plain containers; no CLIP
    weights file is needed. The model comes back in eval mode, with its preprocessing in ``model.config``.

    ``onnx=True`` also accepts the ``.onnx`` video model of ``dkclip export --onnx``: an
    :class:`~dkclip.model.onnx.OnnxModel` (ONNX Runtime on the CPU), which predicts but does not train."""
    if onnx and is_onnx_file(path):
        from .model.onnx import OnnxModel

        if torch.device(map_location).type != "cpu":
            raise UsageError(f"{path}: ONNX models run on the CPU here")
        return OnnxModel(path)
    source = locate_model(path)
    if source.kind == "export":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        config = _read_config(source.path / CONFIG_NAME)
        weights = source.path / WEIGHTS_NAME
        if weights.stat().st_size == 0:
            raise CheckpointError(f"{weights}: empty file (0 bytes)")
        try:
            state = load_file(str(weights), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"{weights}: not a readable safetensors file ({exc})") from None
    else:
        ckpt = read_state(source.path, TRAIN_STATE_FORMAT)
        config = DKClipConfig.from_json(ckpt["model_config"])
        state = ckpt["model"]
        weights = source.path
    model = model_skeleton(config)
    _load_weights(model, state, weights)
    return model.to(map_location).eval()
