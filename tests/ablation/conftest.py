"""Fixtures of the ablation tests: a small synthetic dataset, a base recipe without files, test sets, and the fake
train / evaluate functions of ablation_helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ablation_helpers import FakeEvaluate, FakeTrainer, write_list

from dkclip.ablation.grid import AblationSetting, build_base_config
from dkclip.ablation.heldout import TestSet
from dkclip.engine.run_config import TrainConfig
from dkclip.synth import generate_dataset


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """As tests/engine's: 7 classes x 6 clips of 8-12 frames, two folds."""
    root = tmp_path_factory.mktemp("synth")
    generate_dataset(root, num_classes=7, clips_per_class=6, seed=3, frames=(8, 12), folds=2, overwrite=True)
    return root


@pytest.fixture(scope="session")
def heldout_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small held-out set of other identities: 7 classes x 3 clips, one fold."""
    root = tmp_path_factory.mktemp("heldout")
    generate_dataset(root, num_classes=7, clips_per_class=3, seed=7000, frames=(8, 12), folds=1, overwrite=True)
    return root


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """A dataset folder with a meta.json and a fold-1 test list: enough to plan, key and report a study."""
    root = tmp_path / "synth"
    root.mkdir()
    meta = {"num_classes": 7, "seed": 0, "preset": "aligned", "frames_per_clip": [16, 48],
            "counts": {"clips": 140, "noisy_clips": 84, "clips_with_quarter_noisy": 84, "noisy_frames": 1075,
                       "frames": 4569}}
    (root / "meta.json").write_text(json.dumps(meta))
    write_list(root / "set_1_test.txt", 4)
    return root


@pytest.fixture
def base(data_root: Path) -> TrainConfig:
    return build_base_config(data_root, 1, quick=True, overrides=[])


@pytest.fixture
def setting(data_root: Path) -> AblationSetting:
    return AblationSetting(mode="quick", base_config="synthetic_tiny", data_root=str(data_root), fold=1, seeds=[0],
                           extra_overrides=[])


@pytest.fixture
def test_sets(base: TrainConfig, tmp_path: Path) -> list[TestSet]:
    held = tmp_path / "held"
    write_list(held / "set_1_test.txt", 20)
    assert base.data.root is not None and base.data.test_list is not None
    return [TestSet("heldout", str(held), str(held / "set_1_test.txt")),
            TestSet("fold", base.data.root, base.data.test_list)]


@pytest.fixture
def fake_train() -> FakeTrainer:
    return FakeTrainer()


@pytest.fixture
def fake_evaluate() -> FakeEvaluate:
    return FakeEvaluate()
