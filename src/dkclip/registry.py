"""Registry of named DK-CLIP models and their default configurations (timm-style)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .config import DKClipConfig
from .errors import ConfigError


def _openai_vit(width: int, layers: int, patch: int, embed: int, text_width: int, text_heads: int) -> dict[str, Any]:
    # The OpenAI CLIP ViTs use QuickGELU; open_clip's plain "ViT-B-16" config would use GELU.
    return {
        "embed_dim": embed,
        "quick_gelu": True,
        "vision_cfg": {"image_size": 224, "layers": layers, "width": width, "patch_size": patch},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": text_width, "heads": text_heads,
                     "layers": 12},
    }


# A small CLIP for tests and the CPU demo: 112 px, 16 px patches (7x7 grid), 6 layers of width 192.
_TINY_CLIP: dict[str, Any] = {
    "embed_dim": 128,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 112, "layers": 6, "width": 192, "patch_size": 16, "head_width": 64},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 128, "heads": 2, "layers": 4},
}

_REGISTRY: dict[str, Callable[[], DKClipConfig]] = {}


def register_model(name: str, clip_arch: dict[str, Any], description: str, **defaults: Any) -> None:
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is already registered")

    def factory() -> DKClipConfig:
        return DKClipConfig(name=name, clip=copy.deepcopy(clip_arch), **defaults)

    factory.__doc__ = description
    _REGISTRY[name] = factory


register_model("dkclip-vit-b-16", _openai_vit(768, 12, 16, 512, 512, 8),
               "DK-CLIP on OpenAI CLIP ViT-B/16 (the paper's main model).")
register_model("dkclip-vit-b-32", _openai_vit(768, 12, 32, 512, 512, 8),
               "DK-CLIP on OpenAI CLIP ViT-B/32 (paper Tables 2-3, the DFER-CLIP backbone).")
register_model("dkclip-vit-l-14", _openai_vit(1024, 24, 14, 768, 768, 12),
               "DK-CLIP on OpenAI CLIP ViT-L/14.")
register_model("dkclip-tiny", _TINY_CLIP, "A small CLIP (112 px) for tests and the CPU demo.")


def list_models() -> list[str]:
    """Names accepted by :func:`dkclip.create_model`."""
    return sorted(_REGISTRY)


def get_model_config(name: str) -> DKClipConfig:
    """The default configuration of a registered model (a fresh copy)."""
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; available: {list_models()}") from None
