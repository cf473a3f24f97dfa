"""A small synthetic dataset shared by the engine tests, and a helper to write run configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from dkclip.synth import generate_dataset


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    generate_dataset(root, num_classes=7, clips_per_class=6, seed=3, frames=(8, 12), folds=2, overwrite=True)
    return root
