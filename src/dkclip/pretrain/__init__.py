"""Contrastive image-text pretraining of a CLIP configuration on synthetic AU-captioned faces (issue 5)."""

from .captions import EMOTION_WORDS, CaptionComposer

__all__ = ["EMOTION_WORDS", "CaptionComposer"]
