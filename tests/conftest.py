"""Shared fixtures: tiny randomly initialised CLIP checkpoints saved by the tests themselves."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import torch

from dkclip.clip_loading import build_clip
from dkclip.registry import get_model_config


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``make test`` runs ``-n auto``) each worker gets its share of the cores, and so do the
    processes its tests start (OMP_NUM_THREADS is inherited): two workers of two threads each on two cores would
    oversubscribe them, and torch's spinning threads make that slower than one thread each."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        per_worker = str(max(1, len(os.sched_getaffinity(0)) // int(workers)))
        torch.set_num_threads(int(per_worker))
        os.environ["OMP_NUM_THREADS"] = per_worker


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
