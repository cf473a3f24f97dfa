"""dkclip: the reference implementation of DK-CLIP (Li et al., ACM MM 2024) for dynamic facial expression
recognition, built on open_clip.

The public API: create a model (:func:`create_model`, :func:`create_model_and_transforms`), load a trained one
(:func:`load_model`), list what exists (:func:`list_models`, :func:`list_pretrained`, :func:`list_prompt_sets`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_exports

if TYPE_CHECKING:
    from . import losses
    from .config import DKClipConfig
    from .errors import DKClipError
    from .factory import create_model, create_model_and_transforms, create_model_from_config, load_model, save_model
    from .model.au_evidence import AUEvidence, AUScores, au_scores
    from .model.dkclip import DKClip, DKClipOutput
    from .pretrained import list_pretrained
    from .prompts import list_prompt_sets, resolve_prompts
    from .registry import get_model_config, list_models

# The public names and the module each comes from. They are imported on first use (PEP 562), so that importing
# ``dkclip`` (and so ``dkclip --help``) does not load torch.
_LAZY: dict[str, str] = {
    "losses": ".losses",
    **dict.fromkeys(("AUEvidence", "AUScores", "au_scores"), ".model.au_evidence"),
    "DKClipConfig": ".config",
    "DKClipError": ".errors",
    **dict.fromkeys(("create_model", "create_model_and_transforms", "create_model_from_config", "load_model",
                     "save_model"), ".factory"),
    **dict.fromkeys(("DKClip", "DKClipOutput"), ".model.dkclip"),
    "list_pretrained": ".pretrained",
    **dict.fromkeys(("list_prompt_sets", "resolve_prompts"), ".prompts"),
    **dict.fromkeys(("get_model_config", "list_models"), ".registry"),
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())

__all__ = [
    "AUEvidence",
    "AUScores",
    "DKClip",
    "DKClipConfig",
    "DKClipError",
    "DKClipOutput",
    "au_scores",
    "create_model",
    "create_model_and_transforms",
    "create_model_from_config",
    "get_model_config",
    "list_models",
    "list_pretrained",
    "list_prompt_sets",
    "load_model",
    "losses",
    "resolve_prompts",
    "save_model",
]
__version__ = "0.1.0"
