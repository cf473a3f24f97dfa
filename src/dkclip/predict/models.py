"""The models ``dkclip predict`` can run: a trained model, zero-shot CLIP with AU prompts, or the shipped tiny
model (synthetic faces only, for trying the pipeline out)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CheckpointError, UsageError

if TYPE_CHECKING:
    from ..model.au_evidence import AUEvidence
    from ..model.dkclip import DKClip

DEFAULT_MODEL = "dkclip-tiny"
DEFAULT_PRETRAINED = "synthclip"
DEFAULT_MODEL_NOTE = (
    "using dkclip-tiny with the shipped synthclip weights: a CLIP pretrained on synthetic cartoon faces only and "
    "never trained on real ones, with DK-CLIP's own modules (MSIM, CMAM) untrained; its predictions on real faces "
    "are not meaningful")
DEFAULT_MODEL_WARNING = (
    f"no --model given: {DEFAULT_MODEL_NOTE}. Pass --model (a trained model: export, run directory, best/ or "
    "last.pt) or --zero-shot --clip-weights FILE.")
DEFAULT_MODEL_API_WARNING = (
    f"no model given: {DEFAULT_MODEL_NOTE}. Pass a trained model (a path, or dkclip.load_model(...)) or "
    "dkclip.predict.models.zero_shot_model(clip_weights).")


# The shipped weights are dkclip-tiny's CLIP only: the modules DK-CLIP adds (message tokens, MSIM, CMAM) start
# from their initialisation, which is drawn with this seed so that the default model is the same in every run.
DEFAULT_INIT_SEED = 0


def default_model() -> DKClip:
    """dkclip-tiny with the shipped synthclip CLIP (see :data:`DEFAULT_MODEL_WARNING`); its new modules are
    initialised from :data:`DEFAULT_INIT_SEED` (the global random state is left as it was), so every run of
    the default model gives the same predictions."""
    import torch

    from ..factory import create_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(DEFAULT_INIT_SEED)
        return create_model(DEFAULT_MODEL, pretrained=DEFAULT_PRETRAINED).eval()


# The default model's AU evidence calibration on rendered synthetic faces (dkclip.ablation.au_study
# .synthetic_calibration of default_model(); tests/predict/test_au_columns.py checks it is still what that gives).
DEFAULT_AU_CALIBRATION = Path(__file__).resolve().parents[1] / "weights" / "dkclip-tiny-synthclip.au_calibration.json"


def default_au_evidence(model: DKClip) -> AUEvidence:
    """AU evidence of :func:`default_model` with its shipped calibration (0 = absent on synthetic faces)."""
    import json

    from ..model.au_evidence import AUEvidence

    evidence = AUEvidence.from_model(model)
    return evidence.load_calibration(json.loads(DEFAULT_AU_CALIBRATION.read_text()))


def load_trained(path: str | os.PathLike[str]) -> DKClip:
    """A trained model (:func:`dkclip.load_model`). A CLIP weights file given instead (the easy mistake with
    ``--model``) is named as such, with the way to run it zero-shot."""
    from ..factory import load_model

    try:
        return load_model(path)
    except CheckpointError as exc:
        if _looks_like_clip_weights(Path(path)):
            raise CheckpointError(f"{path} holds CLIP weights, not a trained DK-CLIP model: run CLIP zero-shot with "
                                  f"--zero-shot --clip-weights {path}") from None
        raise exc from None


def _looks_like_clip_weights(path: Path) -> bool:
    """A .safetensors file whose tensors are a CLIP's (visual tower and text transformer), read by name only."""
    if path.suffix != ".safetensors" or not path.is_file():
        return False
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            keys = list(fh.keys())
    except Exception:  # not a readable safetensors file: the loader's own message stands
        return False
    stripped = [k.removeprefix("module.") for k in keys]
    return any(k.startswith("visual.") for k in stripped) and any(k.startswith("transformer.") for k in stripped)


def guess_arch(clip_weights: str | os.PathLike[str]) -> str:
    """The registered model whose CLIP architecture a CLIP weights file has (ViT width, depth, patch, input
    size and embedding width), for ``--zero-shot`` without ``--arch``."""
    from ..clip_loading import describe_vit, read_state_dict
    from ..pretrained import fitting_model
    from ..registry import get_model_config, list_models

    fits = fitting_model(clip_weights)
    if fits:
        return fits
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
        vision = get_model_config(name).clip["vision_cfg"]
        size = vision["image_size"]
        grid = (size // vision["patch_size"]) ** 2 + 1
        embed = get_model_config(name).embed_dim
        if (vision["width"], vision["layers"], vision["patch_size"], grid, embed) == found:
            return name
    raise CheckpointError(f"{clip_weights}: no registered model has this CLIP architecture ({describe_vit(state)})",
                          hint="pass --arch with the model it belongs to")


def _prompt_class_names(prompts: list[str]) -> list[str]:
    """Class names of user prompts: the words before " with " ("happiness with cheek raiser..." -> happiness)
    when they are distinct, else ``class0, class1, ...``."""
    names = [p.split(" with ", 1)[0].strip() for p in prompts]
    return names if len(set(names)) == len(names) and all(names) else [f"class{i}" for i in range(len(prompts))]


def zero_shot_model(clip_weights: str | os.PathLike[str], prompts: str = "dfew", arch: str | None = None) -> DKClip:
    """CLIP as a zero-shot classifier: frame features averaged over the clip (no MSIM, CMAM or NRM) against
    the AU-enriched prompts. Normalisation is CLIP's own, unless the file is a registered dkclip pretrained
    file (the shipped synthclip), which keeps the statistics it was trained with."""
    from ..constants import CLIP_MEAN, CLIP_STD
    from ..factory import create_model
    from ..pretrained import file_sha256, get_pretrained_cfg, list_pretrained
    from ..prompts import class_names_for, resolve_prompts

    path = Path(clip_weights)
    if not path.is_file():
        raise CheckpointError(f"CLIP weights file not found: {path}")
    name = arch or guess_arch(path)
    digest = file_sha256(path)
    mean, std = CLIP_MEAN, CLIP_STD
    for registered, tag in list_pretrained():
        cfg = get_pretrained_cfg(registered, tag)
        if cfg.sha256 == digest:
            mean, std = cfg.image_mean, cfg.image_std
    try:
        resolved = resolve_prompts(prompts)
    except (ValueError, FileNotFoundError) as exc:
        raise UsageError(f"--prompts: {exc}") from None
    names = class_names_for(prompts)
    class_names = list(names) if names else _prompt_class_names(resolved)
    model = create_model(name, clip_weights=path, prompts=resolved, temporal="avgpool", use_cmam=False,
                         use_nrm=False, image_mean=mean, image_std=std, class_names=class_names)
    return model.eval()
