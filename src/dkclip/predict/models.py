"""The models ``dkclip predict`` (and the app) can run: a trained model, zero-shot CLIP with AU prompts
(:func:`dkclip.zero_shot.create_zero_shot_model`), or the shipped tiny model (synthetic faces only, for trying the
pipeline out). :class:`ModelChoice` is the one place the user's choice becomes a model."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CheckpointError, UsageError
from ..zero_shot import create_zero_shot_model, guess_arch

if TYPE_CHECKING:
    from ..model.dkclip import DKClip

# The zero-shot builder under the name this module has always exported (one builder: dkclip.zero_shot).
zero_shot_model = create_zero_shot_model
__all__ = ["DEFAULT_MODEL_WARNING", "ModelChoice", "default_model", "guess_arch", "load_trained", "zero_shot_model"]

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
    from .au_calibration import mark_shipped_default

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(DEFAULT_INIT_SEED)
        return mark_shipped_default(create_model(DEFAULT_MODEL, pretrained=DEFAULT_PRETRAINED).eval())


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


@dataclass(frozen=True)
class ModelChoice:
    """What the user asked to run: a trained ``model`` (path), CLIP ``zero_shot`` with ``clip_weights`` (and a
    prompt set, an architecture when the file is not recognised), or neither: the shipped default model."""

    model: str | None = None
    zero_shot: bool = False
    clip_weights: str | None = None
    prompts: str = "dfew"
    arch: str | None = None

    def check(self) -> None:
        """Refuse contradictory choices (:class:`~dkclip.errors.UsageError`, in the command line's words)."""
        if self.zero_shot:
            if self.model:
                raise UsageError("--zero-shot runs CLIP itself: give --clip-weights, not --model")
            if not self.clip_weights:
                raise UsageError("--zero-shot needs --clip-weights FILE (a CLIP checkpoint)")
        elif self.clip_weights:
            raise UsageError("--clip-weights is for --zero-shot; a trained model is given with --model")

    @property
    def is_default(self) -> bool:
        """True when the shipped default model runs (its warning should be shown: :data:`DEFAULT_MODEL_WARNING`)."""
        return not self.model and not self.zero_shot

    def build(self) -> DKClip:
        self.check()
        if self.zero_shot:
            assert self.clip_weights is not None  # check() refused the rest
            return create_zero_shot_model(self.clip_weights, self.prompts, self.arch)
        if self.model:
            return load_trained(self.model)
        return default_model()
