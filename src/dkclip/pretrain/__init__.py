"""Contrastive image-text pretraining of a CLIP configuration on synthetic AU-captioned faces (issue 5)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .captions import EMOTION_WORDS, CaptionComposer

__all__ = ["EMOTION_WORDS", "CaptionComposer"]


def __getattr__(name: str) -> Any:
    # Lazy, so that pretrain.pretrain_config (the flags of ``dkclip pretrain --help``) loads without numpy or torch.
    if name in __all__:
        from . import captions

        return getattr(captions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
