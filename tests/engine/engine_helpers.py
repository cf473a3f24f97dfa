"""Run-config helpers for the engine tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def tiny_config(root: Path, out: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "model": {"name": "dkclip-tiny", "prompts": "dfew"},
        "data": {"root": str(root), "train_list": str(root / "set_1_train.txt"), "workers": 0,
                 "num_frames": 4, "eval_num_frames": 8, "eval_batch_size": 8},
        "optim": {"lr": 1e-4},
        "schedule": {"epochs": 2, "warmup_epochs": 1, "batch_size": 4, "effective_batch": 8},
        "eval": {"select": "last"},
        "run": {"output_dir": str(out), "seed": 7, "amp": "fp32", "progress": False, "tensorboard": False,
                "log_every": 1},
    }
    for section, values in sections.items():
        cfg.setdefault(section, {}).update(values)
    return cfg


def write_config(path: Path, cfg: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path
