"""Shared fixtures: tiny randomly initialised CLIP checkpoints saved by the tests themselves."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from dkclip.clip_loading import build_clip
from dkclip.registry import get_model_config


@pytest.fixture(autouse=True)
def _quiet_and_seeded() -> None:
    logging.getLogger("dkclip").setLevel(logging.ERROR)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def tiny_arch() -> dict:
    return get_model_config("dkclip-tiny").clip


@pytest.fixture(scope="session")
def tiny_clip_file(tmp_path_factory: pytest.TempPathFactory, tiny_arch: dict) -> Path:
    """An open_clip-format state dict of a randomly initialised tiny CLIP, saved as .pt."""
    torch.manual_seed(1234)
    clip = build_clip(tiny_arch)
    path = tmp_path_factory.mktemp("clip") / "tiny_clip.pt"
    torch.save(clip.state_dict(), path)
    return path
