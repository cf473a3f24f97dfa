"""DK-CLIP's modules: CFAM video encoder, MSIM, frozen text encoder, CMAM and NRM."""

from .dkclip import DKClip, DKClipOutput

__all__ = ["DKClip", "DKClipOutput"]
