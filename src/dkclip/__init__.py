"""dkclip: the reference implementation of DK-CLIP (Li et al., ACM MM 2024) for dynamic facial expression
recognition, built on open_clip.

The public API: create a model (:func:`create_model`, :func:`create_model_and_transforms`), load a trained one
(:func:`load_model`), list what exists (:func:`list_models`, :func:`list_pretrained`, :func:`list_prompt_sets`).
"""

from . import losses
from .config import DKClipConfig
from .errors import DKClipError
from .factory import create_model, create_model_and_transforms, create_model_from_config, load_model, save_model
from .model.dkclip import DKClip, DKClipOutput
from .pretrained import list_pretrained
from .prompts import list_prompt_sets, resolve_prompts
from .registry import get_model_config, list_models

__all__ = [
    "DKClip",
    "DKClipConfig",
    "DKClipError",
    "DKClipOutput",
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
