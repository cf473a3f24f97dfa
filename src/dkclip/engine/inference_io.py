"""Loading trained models for evaluation and export: from ``best/`` (safetensors + config.json), a run
directory, or a ``last.pt`` training checkpoint. Nothing is unpickled beyond tensors and plain containers."""

from __future__ import annotations

from pathlib import Path

from ..config import DKClipConfig
from ..factory import CONFIG_NAME, WEIGHTS_NAME, load_model, model_skeleton
from ..model.dkclip import DKClip
from .checkpoint import load_training_state


def load_trained_model(path: str | Path) -> tuple[DKClip, Path | None]:
    """(model, run directory or None). ``path``: a run dir (uses best/, else last.pt), a best/ dir or last.pt."""
    path = Path(path)
    if path.is_dir() and (path / WEIGHTS_NAME).is_file() and (path / CONFIG_NAME).is_file():
        run_dir = path.parent if (path.parent / "config.yaml").is_file() else None
        return load_model(path), run_dir
    if path.is_dir():
        if (path / "best" / WEIGHTS_NAME).is_file():
            return load_model(path / "best"), path
        if (path / "last.pt").is_file():
            return model_from_training_state(path / "last.pt"), path
        raise FileNotFoundError(f"{path} holds no model (expected best/{WEIGHTS_NAME} or last.pt)")
    if path.suffix == ".pt":
        return model_from_training_state(path), path.parent
    raise FileNotFoundError(f"cannot load a model from {path}: expected a run directory, a best/ directory "
                            "with model.safetensors + config.json, or a last.pt checkpoint")


def model_from_training_state(path: str | Path) -> DKClip:
    state = load_training_state(path)
    config = DKClipConfig.from_json(state["model_config"])
    model = model_skeleton(config)
    model.load_state_dict(state["model"])
    return model
